"""Money is integer minor units plus an ISO currency code; exact fractions in between, no float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from babel.numbers import format_currency, get_currency_precision


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self):
        if type(self.amount) is not int:
            raise TypeError(
                f"Money amount must be int minor units, got {type(self.amount).__name__}"
            )
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"Bad currency code {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def format(self, locale: str = "en_US") -> str:
        return format_money(self.amount, self.currency, locale)


def round_half_even(value: Fraction) -> int:
    """The one rounding rule for money: half-even rounding of an exact fraction to minor units."""
    quotient, remainder = divmod(value.numerator, value.denominator)
    twice = 2 * remainder
    if twice > value.denominator or (twice == value.denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def minor_unit_exponent(currency: str) -> int:
    return get_currency_precision(currency)


def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    exponent = minor_unit_exponent(currency)
    major = (
        Decimal(amount).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent), ROUND_HALF_EVEN)
    )
    return format_currency(major, currency, locale=locale)


def major_text(amount: int, currency: str) -> str:
    """1250 USD as "12.50", the way `parse_major_amount` reads it back."""
    exponent = minor_unit_exponent(currency)
    return str(Decimal(amount).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def parse_major_amount(text: str, currency: str) -> int:
    """Turn '12.34' typed by a merchant into 1234 minor units; refuse sub-unit precision."""
    try:
        value = Decimal(text.strip())
    except Exception as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    scaled = value.scaleb(minor_unit_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{currency} amounts have at most {minor_unit_exponent(currency)} decimals"
        )
    return int(scaled)
