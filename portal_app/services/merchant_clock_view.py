"""The merchant's own clock, for the staff screens: a demo merchant's test clock may run ahead
of the wall clock (services/billing_clock.py), and "overdue", analytics months and the billing
page's "merchant time" all follow it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.models import Merchant
from portal_app.services import billing_clock


def merchant_clock_of(session: Session, merchant_id: int) -> Clock:
    return billing_clock.merchant_clock(session.get(Merchant, merchant_id))


def merchant_clock(session: Session, clock: Clock, *, merchant_id: int) -> Clock:
    """`merchant_clock_of`, shaped for `guard.read` (the base clock is the merchant's own)."""
    return merchant_clock_of(session, merchant_id)


@dataclass(frozen=True)
class ClockView:
    is_demo: bool
    now: datetime  # the merchant's time


def clock_view(session: Session, clock: Clock, *, merchant_id: int) -> ClockView:
    """The billing page: whether the merchant has a test clock, and its time now."""
    merchant = session.get(Merchant, merchant_id)
    return ClockView(is_demo=merchant.is_demo, now=billing_clock.merchant_clock(merchant).now())
