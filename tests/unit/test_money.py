"""Money: integer minor units, one rounding rule, exact formatting."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_app.money import (
    CurrencyMismatch,
    Money,
    format_money,
    parse_major_amount,
    round_half_even,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(5, 2), 2),
        (Fraction(7, 2), 4),
        (Fraction(-5, 2), -2),
        (Fraction(-7, 2), -4),
        (Fraction(1, 3), 0),
        (Fraction(2, 3), 1),
        (Fraction(-2, 3), -1),
        (Fraction(10), 10),
    ],
)
def test_round_half_even(value, expected):
    assert round_half_even(value) == expected


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**9))
def test_rounding_is_within_half_a_unit_and_symmetric(numerator, denominator):
    value = Fraction(numerator, denominator)
    rounded = round_half_even(value)
    assert type(rounded) is int
    assert abs(rounded - value) <= Fraction(1, 2)
    assert round_half_even(-value) == -rounded


def test_money_refuses_float_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(10.5, "USD")
    with pytest.raises(CurrencyMismatch):
        Money(1, "USD") + Money(1, "EUR")
    assert Money(150, "USD") - Money(50, "USD") == Money(100, "USD")


def test_formatting_respects_minor_units():
    assert format_money(1234, "USD") == "$12.34"
    assert format_money(1234, "EUR", "de_DE") == "12,34\xa0€"
    assert format_money(1234, "JPY") == "¥1,234"
    assert format_money(-500, "USD") == "-$5.00"


def test_parse_major_amount():
    assert parse_major_amount("12.34", "USD") == 1234
    assert parse_major_amount("1200", "JPY") == 1200
    with pytest.raises(ValueError):
        parse_major_amount("12.345", "USD")
    with pytest.raises(ValueError):
        parse_major_amount("abc", "USD")
    with pytest.raises(ValueError):
        parse_major_amount("NaN", "USD")
