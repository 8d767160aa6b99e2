"""Staff → Billing clock: the merchant's time, running the billing clock now, and moving a demo
merchant's test clock forward."""

from __future__ import annotations

from datetime import timedelta

import reflex as rx

from portal_app import formatting
from portal_app.db import get_engine
from portal_app.services import billing_clock, merchant_clock_view
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import PrivateState, current, guarded, read


class MerchantBillingState(PrivateState):
    is_demo: bool = False
    merchant_now: str = ""
    working: bool = False
    last_report: str = ""
    error: str = ""

    def _refresh(self) -> None:
        shown = read(merchant_clock_view.clock_view)
        self.is_demo, self.merchant_now = shown.is_demo, formatting.datetime_(shown.now)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.error, self.working = "", False
        self._refresh()

    @rx.event
    @guarded("staff", staff_role="admin")
    def start_advance(self, days: int):
        """Shows the progress state at once, then the chained event does the work."""
        self.working, self.error, self.last_report = True, "", ""
        return MerchantBillingState.advance(int(days))

    @rx.event
    @guarded("staff", staff_role="admin", error="error")
    def advance(self, days: int):
        # The clock commits batch by batch on its own connections (not one unit of work), so
        # it takes the engine rather than `write`'s session.
        try:
            report = billing_clock.advance_test_clock(
                get_engine(),
                configured_gateway(),
                merchant_id=current().merchant_id,
                delta=timedelta(days=int(days)),
                actor=current().actor,
            )
        finally:
            self.working = False
        self.last_report = (
            f"{report.renewed} renewals ({report.charged} paid, {report.payment_failed} failed), "
            f"{report.resumed} resumed, {report.ended} ended, {report.changes_applied} scheduled "
            f"changes applied, {report.retried} retries ({report.recovered} recovered), "
            f"{report.trials_converted} trials converted, {report.trials_ended} trials ended, "
            f"{report.checkouts_expired} checkouts expired."
        )
        self._refresh()

    @rx.event
    @guarded("staff", staff_role="admin")
    def run_now(self):
        report = billing_clock.advance(
            get_engine(),
            read(merchant_clock_view.merchant_clock),
            configured_gateway(),
            merchant_id=current().merchant_id,
        )
        self.last_report = (
            f"Billing clock ran: {report.renewed} renewals, {report.retried} retries."
        )
