"""Stripe's webhook events as the platform's :class:`WebhookEvent`, without Stripe's SDK: the
payments sandbox speaks the same events, and a process with no Stripe keys never loads the
SDK (about 24 MB per worker)."""

from __future__ import annotations

from typing import Any

from logistics.payments.gateway import WebhookEvent


def reduce_event(raw: dict[str, Any], obj: dict[str, Any]) -> WebhookEvent:
    event_id = str(raw.get("id", ""))
    event_type = str(raw.get("type", ""))
    currency = obj.get("currency")
    currency = currency.upper() if isinstance(currency, str) else None
    if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        succeeded = event_type == "payment_intent.succeeded"
        amount = obj.get("amount_received") if succeeded else obj.get("amount")
        return WebhookEvent(
            id=event_id,
            type=event_type,
            charge_ref=_str_or_none(obj.get("id")),
            status="succeeded" if succeeded else "failed",
            amount=_int_or_none(amount if amount else obj.get("amount")),
            currency=currency,
            raw=raw,
        )
    if event_type == "charge.refunded":
        return WebhookEvent(
            id=event_id,
            type=event_type,
            charge_ref=_str_or_none(obj.get("payment_intent")),
            status="refunded" if obj.get("refunded") else "succeeded",
            amount=_int_or_none(obj.get("amount_refunded")),
            currency=currency,
            raw=raw,
        )
    return WebhookEvent(id=event_id, type=event_type, charge_ref=None, status=None, raw=raw)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
