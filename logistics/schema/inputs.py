"""GraphQL input types, built from the request shapes; ``to_pydantic()`` validates them with
the same rules as REST."""

from __future__ import annotations

import strawberry
from strawberry.experimental.pydantic import input as from_shape

from logistics.shapes import common, drivers, jobs, messaging, orders, quotes


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
