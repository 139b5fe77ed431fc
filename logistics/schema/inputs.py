"""GraphQL input types, built from the request shapes; ``to_pydantic()`` validates them with
the same rules as REST."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import strawberry
from pydantic import BaseModel
from strawberry.experimental.pydantic import input as from_shape

from logistics.shapes import common, drivers, jobs, messaging, money, orders, quotes


@from_shape(model=common.Point, all_fields=True, name="PointInput")
class PointInput:
    pass


@from_shape(model=common.LocationReport, all_fields=True, name="LocationReportInput")
class LocationReportInput:
    pass


@from_shape(model=common.Address, all_fields=True, name="AddressInput")
class AddressInput:
    pass


@from_shape(model=common.Contact, all_fields=True, name="ContactInput")
class ContactInput:
    pass


@from_shape(model=common.Stop, all_fields=True, name="StopInput")
class StopInput:
    pass


@from_shape(model=common.Item, all_fields=True, name="ItemInput")
class ItemInput:
    pass


@from_shape(model=common.Vehicle, all_fields=True, name="VehicleInput")
class VehicleInput:
    pass


@from_shape(model=drivers.Licence, all_fields=True, name="LicenceInput")
class LicenceInput:
    pass


@from_shape(model=drivers.Insurance, all_fields=True, name="InsuranceInput")
class InsuranceInput:
    pass


@from_shape(model=drivers.RegisterIn, all_fields=True, name="RegisterDriverInput")
class RegisterDriverInput:
    pass


@from_shape(model=quotes.QuoteIn, all_fields=True, name="QuoteInput")
class QuoteInput:
    pass


@from_shape(model=orders.StopUpdate, name="StopUpdateInput")
class StopUpdateInput:
    contact: strawberry.auto
    instructions: strawberry.auto


@from_shape(model=orders.OrderIn, all_fields=True, name="OrderInput")
class OrderInput:
    pass


@from_shape(model=orders.OrderUpdateIn, all_fields=True, name="OrderUpdateInput")
class OrderUpdateInput:
    pass


@from_shape(model=jobs.CreateJobIn, all_fields=True, name="CreateJobInput")
class CreateJobInput:
    pass


@from_shape(model=jobs.TransitionIn, all_fields=True, name="TransitionInput")
class TransitionInput:
    pass


@from_shape(model=messaging.IssueIn, all_fields=True, name="IssueInput")
class IssueInput:
    pass


@from_shape(model=common.Money, all_fields=True, name="MoneyInput")
class MoneyInput:
    pass


@from_shape(model=money.RateIn, all_fields=True, name="RateInput")
class RateInput:
    pass


@from_shape(model=money.PayoutDetails, name="PayoutDetailsInput")
class PayoutDetailsInput:
    iban: strawberry.auto
    account_number: strawberry.auto
    routing_number: strawberry.auto
    token: strawberry.auto
    last4: strawberry.auto
    email: strawberry.auto
    stripe_account: strawberry.auto


@from_shape(model=money.PayoutMethodIn, all_fields=True, name="PayoutMethodInput")
class PayoutMethodInput:
    pass


@from_shape(model=money.PayoutRequestIn, all_fields=True, name="PayoutRequestInput")
class PayoutRequestInput:
    pass


# Keep this block last: it covers every input defined above.
#
# Strawberry's default ``to_pydantic`` validates nested inputs one by one, bottom up, so an
# error would name ``lat`` instead of ``pickup.point.lat`` and stop at the first bad nested
# object. Each input is validated as a whole instead, like a REST body, so that
# ``details.fields`` names every bad field by its full path.


def _plain(value: Any) -> Any:
    """An input as the plain data its shape validates: nested inputs become dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _validated_as_a_whole(model: type[BaseModel]) -> Callable[..., BaseModel]:
    def to_pydantic(self: Any, **overrides: Any) -> BaseModel:
        return model.model_validate({**_plain(self), **overrides})

    return to_pydantic


for _input in [v for v in list(globals().values()) if isinstance(v, type) and hasattr(v, "_pydantic_type")]:
    _input.to_pydantic = _validated_as_a_whole(_input._pydantic_type)  # type: ignore[attr-defined]
