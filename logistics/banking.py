"""Checks on bank details: IBAN (ISO 13616 mod-97) and US routing numbers (ABA checksum)."""

from __future__ import annotations

import re

# Lengths per country for the IBANs we are likely to see; others are checked by checksum only.
IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27,
    "GB": 22, "IE": 22, "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "SE": 24,
}  # fmt: skip


def normalise_iban(iban: str) -> str:
    return re.sub(r"\s+", "", iban).upper()


def iban_is_valid(iban: str) -> bool:
    value = normalise_iban(iban)
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", value):
        return False
    expected = IBAN_LENGTHS.get(value[:2])
    if expected is not None and len(value) != expected:
        return False
    rearranged = value[4:] + value[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def routing_number_is_valid(routing: str) -> bool:
    if not re.fullmatch(r"[0-9]{9}", routing):
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def looks_like_card_number(value: str) -> bool:
    digits = re.sub(r"[\s-]", "", value)
    return bool(re.fullmatch(r"[0-9]{12,19}", digits))


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
