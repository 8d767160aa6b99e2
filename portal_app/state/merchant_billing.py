"""Staff tools: the audit log (filters, CSV export, chain status) and the billing clock (run it
now; move a demo merchant's test clock forward)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import reflex as rx

from portal_app.db import get_engine, read_scope
from portal_app.models import Merchant
from portal_app.services import billing_clock
from portal_app.services.errors import PortalError
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import PrivateState, current, guarded


class MerchantBillingState(PrivateState):
    is_demo: bool = False
    merchant_now: str = ""
    working: bool = False
    last_report: str = ""
    error: str = ""

    def _refresh(self) -> None:
        with read_scope() as session:
            merchant = session.get(Merchant, current().merchant_id)
        self.is_demo = merchant.is_demo
        self.merchant_now = (
            billing_clock.merchant_clock(merchant).now().strftime("%d %b %Y %H:%M UTC")
        )

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
    @guarded("staff", staff_role="admin")
    async def advance(self, days: int):
        who = current()
        try:
            report = await asyncio.to_thread(
                billing_clock.advance_test_clock,
                get_engine(),
                configured_gateway(),
                merchant_id=who.merchant_id,
                delta=timedelta(days=int(days)),
                actor=who.actor,
            )
        except PortalError as exc:
            self.error, self.working = str(exc), False
            return
        self.working = False
        self.last_report = (
            f"{report.renewed} renewals ({report.charged} paid, {report.payment_failed} failed), "
            f"{report.resumed} resumed, {report.ended} ended, {report.changes_applied} scheduled "
            f"changes applied, {report.retried} retries ({report.recovered} recovered)."
        )
        self._refresh()

    @rx.event
    @guarded("staff", staff_role="admin")
    async def run_now(self):
        who = current()
        with read_scope() as session:
            merchant = session.get(Merchant, who.merchant_id)
        clock = billing_clock.merchant_clock(merchant)
        report = await asyncio.to_thread(
            billing_clock.advance,
            get_engine(),
            clock,
            configured_gateway(),
            merchant_id=who.merchant_id,
        )
        self.last_report = (
            f"Billing clock ran: {report.renewed} renewals, {report.retried} retries."
        )
