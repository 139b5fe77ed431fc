from datetime import datetime
from enum import auto

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from logistics.enums import ApiEnum
from logistics.shapes.common import InputShape, Money, Page, Shape


class PaymentPurpose(ApiEnum):
    DELIVERY = auto()
    TIP = auto()


class CardOrWallet(ApiEnum):
    STRIPE = auto()
    PAYPAL = auto()


class PaymentState(ApiEnum):
    PENDING, SUCCEEDED, FAILED, REFUNDED = auto(), auto(), auto(), auto()


class StripeConfig(Shape):
    publishable_key: str
    currency: str
    country: str


class IntentIn(InputShape):
    job_id: str = Field(min_length=1, max_length=64)
    purpose: PaymentPurpose = PaymentPurpose.DELIVERY
    amount: Money | None = Field(default=None, description="The tip; not sent for a delivery.")


class PaymentIdIn(InputShape):
    payment_id: str = Field(min_length=1, max_length=64)


class PaymentMethodIn(InputShape):
    method: CardOrWallet


class PaymentStart(Shape):
    """What the app needs to let the customer pay: Stripe's client secret or PayPal's
    approval link."""

    payment_id: str
    provider: CardOrWallet
    status: PaymentState
    amount: Money
    client_secret: str | None = None
    order_id: str | None = None
    approve_url: str | None = None


class PaymentView(Shape):
    id: str
    job_id: str
    purpose: PaymentPurpose
    provider: str
    provider_ref: str | None = None
    amount: Money
    status: PaymentState
    created_at: datetime


class SandboxCardIn(InputShape):
    card_number: str = Field(
        min_length=12,
        max_length=23,
        description=(
            "A test card: `4242 4242 4242 4242` succeeds, `4000 0000 0000 0002` is declined, "
            "`4000 0000 0000 9995` has insufficient funds. Any other number is refused."
        ),
    )


class SandboxCardView(Shape):
    brand: str
    last4: str


class SandboxChargeView(Shape):
    """The sandbox's record of the charge after the customer confirmed it. The order moves
    when the sandbox's webhook arrives (or the client verifies), not by this answer."""

    payment_id: str
    provider_ref: str
    status: PaymentState
    amount: Money
    card: SandboxCardView | None = None
    decline_code: str | None = Field(default=None, description="Why a declined card was declined.")
    message: str | None = None


class RateIn(InputShape):
    stars: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)


class RatingView(Shape):
    job_id: str
    stars: int
    comment: str | None = None
    created_at: datetime


class TipIn(InputShape):
    amount: Money
    method: CardOrWallet


class TipResult(Shape):
    tip: Money
    status: PaymentState


class PayoutMethodType(ApiEnum):
    BANK_ACCOUNT, DEBIT_CARD, PAYPAL = auto(), auto(), auto()


class PayoutDetails(InputShape):
    """By type: bank_account {iban} or {account_number, routing_number}; debit_card {token}
    (a payment provider's card token, never a card number); paypal {email}."""

    iban: str | None = Field(default=None, max_length=42)
    account_number: str | None = Field(default=None, max_length=34)
    routing_number: str | None = Field(default=None, max_length=20)
    token: str | None = Field(default=None, max_length=255)
    last4: str | None = Field(
        default=None, pattern=r"^[0-9]{4}$", description="The card's, from the provider."
    )
    email: str | None = Field(default=None, max_length=254)
    stripe_account: str | None = Field(default=None, max_length=255, description="A Stripe Connect account.")
    number: str | None = Field(
        default=None, exclude=True, description="Never accepted; present to refuse it."
    )


class PayoutMethodIn(InputShape):
    type: PayoutMethodType
    label: str | None = Field(default=None, max_length=100)
    details: PayoutDetails


class PayoutMethodUpdate(InputShape):
    label: str = Field(min_length=1, max_length=100)


class PayoutMethodView(Shape):
    id: str
    type: PayoutMethodType
    label: str
    last4: str | None = None
    currency: str
    is_default: bool
    created_at: datetime


class PayoutMethodPage(Page[PayoutMethodView]):
    pass


class PayoutState(ApiEnum):
    PENDING, PAID, FAILED = auto(), auto(), auto()


class PayoutRequestIn(InputShape):
    amount: Money | None = Field(default=None, description="Default: the whole available balance.")
    method_id: str | None = Field(default=None, max_length=64, description="Default: the default method.")

    @field_validator("amount")
    @classmethod
    def _positive(cls, amount: Money | None) -> Money | None:
        # A payout of nothing or less is a malformed request, whatever the balance.
        if amount is not None and amount.amount <= 0:
            raise PydanticCustomError("payout_amount", "a payout is a positive amount")
        return amount


class PayoutView(Shape):
    id: str
    amount: Money
    status: PayoutState
    method_id: str
    requested_at: datetime
    paid_at: datetime | None = None
    failure_reason: str | None = None


class PayoutPage(Page[PayoutView]):
    pass


class LineType(ApiEnum):
    EARNING, TIP, CANCELLATION_FEE, PAYOUT, ADJUSTMENT = auto(), auto(), auto(), auto(), auto()
    COMMISSION = auto()  # the platform's commission on a cash job, taken from the balance


class PaymentLine(Shape):
    job_id: str | None = None
    type: LineType
    amount: Money
    at: datetime
    paid_in_cash: bool = Field(
        default=False,
        description="The customer's cash, collected by the driver (a cash job's whole price): "
        "in the driver's hand, not in the balance.",
    )


class PaymentTotals(Shape):
    earned: Money = Field(description="Earnings and cancellation fees, net of commission on cash jobs.")
    tips: Money
    paid_out: Money = Field(description="Payouts paid.")
    balance: Money = Field(
        description="What the platform owes the driver, less payouts requested; below zero, what "
        "the driver owes (commission on cash jobs), which later earnings and tips pay first."
    )
    cash_collected: Money = Field(description="Cash collected from customers on cash jobs.")
    cash_commission: Money = Field(description="Commission on cash jobs, taken from the balance.")


class PaymentHistory(Shape):
    items: list[PaymentLine]
    totals: PaymentTotals
    next_cursor: str | None = None


class DriverBalance(Shape):
    """One driver's payable balance in one currency, for ops."""

    driver_id: str
    name: str
    balance: Money = Field(description="What the platform owes the driver; below zero, what it owes.")
    owed: Money = Field(description="What the driver owes the platform: minus the balance, or 0.")
    cash_commission: Money = Field(description="Commission on cash jobs, taken from the balance.")


class DriverBalancePage(Page[DriverBalance]):
    pass
