"""Reading PayPal's JSON: orders, captures, webhook resources and headers, where any field may
be missing or of another type. Each reader answers an empty value rather than raising, so the
gateway decides what a missing field means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from logistics.payments.currency import from_paypal_value


def header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def as_dict(value: object) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return cast(list[Any], value) if isinstance(value, list) else []


def link(resource: Mapping[str, Any], *rels: str) -> str | None:
    for link in as_list(resource.get("links")):
        entry = as_dict(link)
        if entry.get("rel") in rels and isinstance(entry.get("href"), str):
            return cast(str, entry["href"])
    return None


def captures(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    units = as_list(order.get("purchase_units"))
    unit = as_dict(units[0]) if units else {}
    return [as_dict(c) for c in as_list(as_dict(unit.get("payments")).get("captures"))]


def related_order_id(resource: Mapping[str, Any]) -> str | None:
    related = as_dict(as_dict(resource.get("supplementary_data")).get("related_ids"))
    order_id = related.get("order_id")
    return order_id if isinstance(order_id, str) and order_id else None


def money(value: object) -> tuple[int, str] | None:
    money = as_dict(value)
    currency, amount = money.get("currency_code"), money.get("value")
    if not isinstance(currency, str) or not isinstance(amount, str):
        return None
    return from_paypal_value(amount, currency), currency.upper()
