"""Staff tools: the audit log (filters, CSV export, chain status) and the billing clock (run it
now; move a demo merchant's test clock forward)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import reflex as rx

from portal_app.db import get_engine, read_scope
from portal_app.models import Merchant
from portal_app.services import audit, audit_log, billing_clock
from portal_app.services.errors import PortalError
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import PrivateState, current, guarded


def _day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC) if text else None
    except ValueError as exc:
        raise PortalError("Dates are YYYY-MM-DD.") from exc


def _filters(form: dict[str, str]) -> audit_log.AuditFilter:
    customer = form.get("customer", "").strip()
    if customer and not customer.isdigit():
        raise PortalError("Customer is a customer id (a number).")
    until = _day(form.get("until", ""))
    return audit_log.AuditFilter(
        actor=form.get("actor", "").strip(),
        action=form.get("action", "").strip(),
        customer_id=int(customer) if customer else None,
        since=_day(form.get("since", "")),
        until=until + timedelta(days=1) if until else None,
    )


class MerchantAuditState(PrivateState):
    rows: list[dict[str, str]] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    form: dict[str, str] = {}
    error: str = ""
    chain: str = ""
    loaded: bool = False

    def _show(self) -> None:
        who = current()
        filters = _filters(self.form)
        with read_scope() as session:
            events, total = audit_log.page(session, who.merchant_id, filters, self.page)
            report = audit.verify_chain(session, who.merchant_id)
        self.rows = [
            {
                "seq": str(e.seq),
                "when": e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                "actor": f"{e.actor_type}:{e.actor_id}" if e.actor_id else e.actor_type,
                "action": e.action,
                "target": f"{e.target_type} {e.target_id}".strip(),
                "result": e.result,
                "ip": e.ip,
            }
            for e in events
        ]
        self.total, self.pages = total, max(1, -(-total // 50))
        self.chain = (
            f"Chain intact: {report.checked} events verified."
            if report.ok
            else f"Chain BROKEN at event {report.first_bad_seq}: {report.problem}"
        )
        self.loaded = True

    @rx.event
    @guarded("staff")
    def load(self):
        self.form, self.page, self.error = {}, 1, ""
        self._show()

    @rx.event
    @guarded("staff")
    def search(self, form_data: dict):
        self.error = ""
        form = {
            k: str(form_data.get(k, ""))[:100]
            for k in ("actor", "action", "customer", "since", "until")
        }
        try:
            _filters(form)
        except PortalError as exc:
            self.error = str(exc)
            return
        self.form, self.page = form, 1
        self._show()

    @rx.event
    @guarded("staff")
    def go_to_page(self, page: int):
        self.page = max(1, min(int(page), self.pages))
        self._show()

    @rx.event
    @guarded("staff")
    def export(self):
        who = current()
        filters = _filters(self.form)
        with read_scope() as session:
            text = audit_log.export_csv(session, who.merchant_id, filters)
        return rx.download(data=text, filename="audit-log.csv", mime_type="text/csv")


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
    @guarded("staff")
    def load(self):
        self.error, self.working = "", False
        self._refresh()

    @rx.event
    @guarded("staff")
    def start_advance(self, days: int):
        """Shows the progress state at once, then the chained event does the work."""
        self.working, self.error, self.last_report = True, "", ""
        return MerchantBillingState.advance(int(days))

    @rx.event
    @guarded("staff")
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
    @guarded("staff")
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
