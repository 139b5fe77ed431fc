"""Where drivers are paid (payout methods) and the payouts themselves.

A payout debits the driver's balance when requested, in one transaction that holds the
driver's row lock while it reads the balance from the ledger: concurrent requests queue, and
none can take the balance below zero. (Commission on a cash job can: then nothing is paid out
until later earnings have paid it.) A failed payout credits the money back through a
reversing entry.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from logistics import ledger
from logistics.banking import (
    iban_is_valid,
    looks_like_card_number,
    mask_email,
    normalise_iban,
    routing_number_is_valid,
)
from logistics.errors import DomainError, ErrorCode, validation_failed
from logistics.job.access import existing, for_drivers, for_ops, owned
from logistics.models import Driver, Payout, PayoutMethod
from logistics.payments.gateway import ProviderError
from logistics.platform import Ctx
from logistics.resolvers import idempotency
from logistics.resolvers.pagination import keyset_page
from logistics.resolvers.views import driver_region, money
from logistics.secrets_box import keyed_digest, seal, unseal
from logistics.shapes.money import (
    PayoutDetails,
    PayoutMethodIn,
    PayoutMethodPage,
    PayoutMethodType,
    PayoutMethodUpdate,
    PayoutMethodView,
    PayoutPage,
    PayoutRequestIn,
    PayoutView,
)


def payout_view(payout: Payout) -> PayoutView:
    return PayoutView.of(payout, amount=money(payout.amount, payout.currency))


def _checked_details(
    kind: PayoutMethodType, details: PayoutDetails
) -> tuple[dict[str, str], str | None, str]:
    """(what is stored, last4, default label) for valid details; VALIDATION_FAILED otherwise."""
    if details.number is not None or (details.token and looks_like_card_number(details.token)):
        raise validation_failed(
            "card numbers are never accepted: send the payment provider's card token",
            **{"details.token": "a provider token"},
        )
    if kind is PayoutMethodType.BANK_ACCOUNT:
        if details.iban:
            iban = normalise_iban(details.iban)
            if not iban_is_valid(iban):
                raise validation_failed("the IBAN is not valid", **{"details.iban": "checksum or format"})
            return {"iban": iban}, iban[-4:], f"Bank account {iban[:2]} ****{iban[-4:]}"
        if details.account_number and details.routing_number:
            if not routing_number_is_valid(details.routing_number):
                raise validation_failed(
                    "the routing number is not valid", **{"details.routing_number": "checksum"}
                )
            if not details.account_number.isdigit() or not 4 <= len(details.account_number) <= 17:
                raise validation_failed(
                    "the account number is not valid", **{"details.account_number": "4 to 17 digits"}
                )
            number = details.account_number
            return (
                {"account_number": number, "routing_number": details.routing_number},
                number[-4:],
                f"Bank account ****{number[-4:]}",
            )
        raise validation_failed(
            "a bank account needs an IBAN, or an account and routing number", **{"details.iban": "required"}
        )
    if kind is PayoutMethodType.DEBIT_CARD:
        if not details.token:
            raise validation_failed(
                "a debit card needs the provider's card token", **{"details.token": "required"}
            )
        stored = {"token": details.token}
        if details.stripe_account:
            stored["stripe_account"] = details.stripe_account
        last4 = details.last4
        return stored, last4, f"Debit card ****{last4}" if last4 else "Debit card"
    if not details.email or "@" not in details.email:
        raise validation_failed("a PayPal payout needs an email address", **{"details.email": "required"})
    return {"email": details.email}, None, f"PayPal {mask_email(details.email)}"


async def _methods(ctx: Ctx, driver: Driver) -> list[PayoutMethod]:
    query = select(PayoutMethod).where(
        col(PayoutMethod.driver_id) == driver.id, col(PayoutMethod.deleted_at).is_(None)
    )
    return list((await ctx.session.execute(query.order_by(col(PayoutMethod.id)))).scalars())


async def _own_method(ctx: Ctx, driver: Driver, method_id: str, *, lock: bool = False) -> PayoutMethod:
    return await owned(
        ctx,
        PayoutMethod,
        method_id,
        owner="driver_id",
        by=driver.id,
        what="payout method",
        lock=lock,
        include=lambda method: method.deleted_at is None,
    )


@for_drivers()
async def list_payout_methods(
    ctx: Ctx, driver: Driver, *, limit: int = 20, cursor: str | None = None
) -> PayoutMethodPage:
    query = select(PayoutMethod).where(
        col(PayoutMethod.driver_id) == driver.id, col(PayoutMethod.deleted_at).is_(None)
    )
    methods, next_cursor = await keyset_page(
        ctx.session, query, col(PayoutMethod.id), limit=limit, cursor=cursor, newest_first=False
    )
    return PayoutMethodPage(items=[PayoutMethodView.of(m) for m in methods], next_cursor=next_cursor)


@for_drivers(lock=True)
async def add_payout_method(
    ctx: Ctx, driver: Driver, data: PayoutMethodIn, *, idempotency_key: str | None = None
) -> PayoutMethodView:
    stored, last4, label = _checked_details(data.type, data.details)

    async def create() -> tuple[str, PayoutMethodView]:
        first = not await _methods(ctx, driver)
        method = PayoutMethod(
            driver_id=driver.id,
            type=data.type.value,
            label=data.label or label,
            last4=last4,
            currency=driver_region(ctx.settings, driver).currency,
            is_default=first,
            details_encrypted=seal(ctx.settings, {"type": data.type.value, **stored}),
            created_at=ctx.now(),
        )
        ctx.session.add(method)
        await ctx.session.flush()
        return method.id, PayoutMethodView.of(method)

    async def replay(method_id: str) -> PayoutMethodView:
        return PayoutMethodView.of(await _own_method(ctx, driver, method_id))

    # The stored fingerprint is a plain hash of the payload: key the details first, so that an
    # account number cannot be recovered from it by trying candidates.
    payload = {"type": data.type.value, "label": data.label, "details": keyed_digest(ctx.settings, stored)}
    return await idempotency.once(
        ctx, scope="payout_methods.create", key=idempotency_key, payload=payload, create=create, replay=replay
    )


@for_drivers()
async def update_payout_method(
    ctx: Ctx, driver: Driver, method_id: str, data: PayoutMethodUpdate
) -> PayoutMethodView:
    method = await _own_method(ctx, driver, method_id, lock=True)
    # A row the session loaded: the change is written with the commit.
    method.label = data.label
    return PayoutMethodView.of(method)


@for_drivers(lock=True)
async def set_default_payout_method(ctx: Ctx, driver: Driver, method_id: str) -> PayoutMethodView:
    chosen = await _own_method(ctx, driver, method_id)
    for method in await _methods(ctx, driver):
        method.is_default = method.id == chosen.id
    return PayoutMethodView.of(chosen)


@for_drivers(lock=True)
async def delete_payout_method(ctx: Ctx, driver: Driver, method_id: str) -> None:
    method = await _own_method(ctx, driver, method_id)
    pending = select(col(Payout.id)).where(
        col(Payout.method_id) == method.id, col(Payout.status) == "pending"
    )
    if (await ctx.session.execute(pending.limit(1))).first() is not None:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            "a payout to this method is pending; delete it once the payout is settled",
            {"status": "pending_payout", "allowed": []},
        )
    method.deleted_at = ctx.now()
    was_default, method.is_default = method.is_default, False
    ctx.session.add(method)
    await ctx.session.flush()
    if was_default:
        remaining = await _methods(ctx, driver)
        if remaining:
            remaining[-1].is_default = True
            ctx.session.add(remaining[-1])
            await ctx.session.flush()


async def driver_balance(ctx: Ctx, driver: Driver, currency: str) -> int:
    return await ledger.balance(ctx.session, ledger.DRIVER_EARNINGS, driver.id, currency)


@for_drivers(lock=True)
async def request_payout(
    ctx: Ctx, driver: Driver, data: PayoutRequestIn, *, idempotency_key: str | None = None
) -> PayoutView:
    # The driver's row lock serialises this driver's payouts (SQLite serialises all writers).
    if data.method_id is not None:
        method = await _own_method(ctx, driver, data.method_id)
    else:
        default = next((m for m in await _methods(ctx, driver) if m.is_default), None)
        if default is None:
            raise validation_failed("add a payout method first", method_id="no default payout method")
        method = default

    async def create() -> tuple[str, PayoutView]:
        currency = method.currency
        balance = await driver_balance(ctx, driver, currency)
        if data.amount is not None and data.amount.currency != currency:
            raise validation_failed(
                f"payouts to this method are in {currency}", **{"amount.currency": currency}
            )
        amount = data.amount.amount if data.amount is not None else balance
        if amount <= 0 or amount > balance:
            raise DomainError(
                ErrorCode.INSUFFICIENT_BALANCE,
                "the balance does not cover this payout",
                {"balance": {"amount": balance, "currency": currency}},
            )
        payout = Payout(
            driver_id=driver.id,
            method_id=method.id,
            amount=amount,
            currency=currency,
            provider=ctx.platform.payouts.name,
            requested_at=ctx.now(),
        )
        ctx.session.add(payout)
        await ctx.session.flush()
        await ledger.post_payout(ctx.session, payout, at=ctx.now())
        await _send(ctx, payout, method)
        return payout.id, payout_view(payout)

    async def replay(payout_id: str) -> PayoutView:
        return payout_view(await _own_payout(ctx, driver, payout_id))

    payload = {"amount": data.amount.model_dump() if data.amount else None, "method_id": method.id}
    return await idempotency.once(
        ctx, scope="payouts.create", key=idempotency_key, payload=payload, create=create, replay=replay
    )


async def _send(ctx: Ctx, payout: Payout, method: PayoutMethod) -> None:
    destination = unseal(ctx.settings, method.details_encrypted)
    try:
        result = await ctx.platform.payouts.send(
            payout_id=payout.id, amount=payout.amount, currency=payout.currency, destination=destination
        )
    except ProviderError as exc:
        await settle_payout(ctx, payout, paid=False, reason=str(exc))
        return
    payout.provider_ref = result.ref
    if result.status != "pending":
        await settle_payout(ctx, payout, paid=result.status == "paid", reason=result.failure_reason)


async def settle_payout(ctx: Ctx, payout: Payout, *, paid: bool, reason: str | None = None) -> None:
    """A pending payout is paid (it leaves the platform) or failed (back to the balance)."""
    if payout.status != "pending":
        return
    payout.status = "paid" if paid else "failed"
    payout.paid_at = ctx.now() if paid else None
    payout.failure_reason = None if paid else (reason or "the payout failed")
    ctx.session.add(payout)
    await ledger.post_payout_settled(ctx.session, payout, paid=paid, at=ctx.now())


async def _own_payout(ctx: Ctx, driver: Driver, payout_id: str) -> Payout:
    return await owned(ctx, Payout, payout_id, owner="driver_id", by=driver.id, what="payout")


@for_drivers()
async def list_payouts(ctx: Ctx, driver: Driver, *, limit: int = 20, cursor: str | None = None) -> PayoutPage:
    query = select(Payout).where(col(Payout.driver_id) == driver.id)
    payouts, next_cursor = await keyset_page(ctx.session, query, col(Payout.id), limit=limit, cursor=cursor)
    return PayoutPage(items=[payout_view(p) for p in payouts], next_cursor=next_cursor)


@for_ops
async def mark_payout(ctx: Ctx, payout_id: str, *, paid: bool, reason: str | None = None) -> PayoutView:
    """Ops settle a manual payout by hand."""
    payout = await existing(ctx, Payout, payout_id, what="payout", lock=True)
    if payout.status != "pending":
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"the payout is already {payout.status}",
            {"status": payout.status, "allowed": []},
        )
    await settle_payout(ctx, payout, paid=paid, reason=reason)
    return payout_view(payout)
