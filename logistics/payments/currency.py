"""Amounts in a currency's minor units, and PayPal's decimal strings for them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from logistics.payments.gateway import ProviderError

# ISO 4217 exponents that are not 2. PayPal also refuses decimals for HUF and TWD although
# their ISO exponent is 2: there the platform's minor units must be whole units.
_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
_THREE_DECIMAL = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])
_PAYPAL_WHOLE_UNITS = frozenset({"HUF", "TWD"})


def currency_exponent(currency: str) -> int:
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def to_paypal_value(amount: int, currency: str) -> str:
    """Minor units as PayPal's decimal string: 1999 EUR -> "19.99", 500 JPY -> "500"."""
    code = currency.upper()
    exponent = currency_exponent(code)
    if code in _PAYPAL_WHOLE_UNITS:
        if amount % 10**exponent:
            raise ProviderError(f"paypal: {code} amounts must be whole units")
        return str(amount // 10**exponent)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def from_paypal_value(value: str, currency: str) -> int:
    """PayPal's decimal string back in minor units."""
    try:
        minor = Decimal(value).scaleb(currency_exponent(currency))
    except InvalidOperation as exc:
        raise ProviderError("paypal: the provider answered an unreadable amount") from exc
    if minor != minor.to_integral_value():
        raise ProviderError("paypal: the provider answered an amount finer than the currency")
    return int(minor)
