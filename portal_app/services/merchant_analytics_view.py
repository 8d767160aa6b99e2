"""Staff → Analytics, read for the screen: `analytics.overview` at the merchant's own time (a
demo merchant's test clock may run ahead of the wall clock)."""

from __future__ import annotations

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.services import analytics
from portal_app.services.merchant_clock_view import merchant_clock_of


def overview(session: Session, clock: Clock, *, merchant_id: int) -> analytics.Overview:
    return analytics.overview(session, merchant_id, merchant_clock_of(session, merchant_id))
