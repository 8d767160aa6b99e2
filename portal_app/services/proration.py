"""Proration like Stripe's: credit the unused time of the old price, charge the same time on the
new price, to the second. Each line is rounded half-even on its own, so lines always sum to the
total and an upgrade followed by the reverse change in the same second nets to exactly zero."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from portal_app.money import round_half_even


@dataclass(frozen=True)
class ProrationLine:
    kind: str  # proration | subscription
    description: str
    amount: int  # signed minor units
    period_start: datetime
    period_end: datetime


def unused_fraction(period_start: datetime, period_end: datetime, at: datetime) -> Fraction:
    """Share of the period still ahead at `at`, in whole seconds, clamped to [0, 1]."""
    total = int((period_end - period_start).total_seconds())
    if total <= 0:
        return Fraction(0)
    remaining = int((period_end - at).total_seconds())
    remaining = max(0, min(total, remaining))
    return Fraction(remaining, total)


def prorate(amount: int, fraction: Fraction) -> int:
    if type(amount) is not int:
        raise TypeError("amount must be int minor units")
    return round_half_even(amount * fraction)


def same_period_change(
    *,
    old_amount: int,
    new_amount: int,
    old_name: str,
    new_name: str,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
) -> list[ProrationLine]:
    """Plan change within the same billing period (same interval)."""
    fraction = unused_fraction(period_start, period_end, at)
    return [
        _unused_time(old_name, old_amount, fraction, at, period_end),
        ProrationLine(
            "proration",
            f"Remaining time on {new_name}",
            prorate(new_amount, fraction),
            at,
            period_end,
        ),
    ]


def _unused_time(
    name: str, amount: int, fraction: Fraction, at: datetime, period_end: datetime
) -> ProrationLine:
    """The credit for the rest of the period on the plan being left."""
    return ProrationLine(
        "proration", f"Unused time on {name}", -prorate(amount, fraction), at, period_end
    )


def interval_reset_change(
    *,
    old_amount: int,
    new_amount: int,
    old_name: str,
    new_name: str,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    new_period_end: datetime,
) -> list[ProrationLine]:
    """Billing-cycle change taking effect now: the anchor resets, so the customer gets credit for
    the unused old period and pays a full new period starting now."""
    fraction = unused_fraction(period_start, period_end, at)
    return [
        _unused_time(old_name, old_amount, fraction, at, period_end),
        ProrationLine("subscription", new_name, new_amount, at, new_period_end),
    ]
