"""Staff tools: the audit log (filters, CSV export, chain status) and the billing clock (run it
now; move a demo merchant's test clock forward)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import reflex as rx

from portal_app.clock import SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.services import audit, audit_log, merchant_home, refusals
from portal_app.services.errors import PortalError
from portal_app.state.guard import PrivateState, current, guarded

CLOCK = SystemClock()


FULL_CHECK_STEP = 20_000  # events per step of the audit page's full check (about 1-2 s)


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
    verifying: bool = False
    full_check: str = ""
    # refused requests of the last 24 h, counted per rule, key and minute (services/refusals.py)
    refused: list[dict[str, str]] = []
    _full_seq: int = 0  # the full check's progress: last event verified, its hash, its start
    _full_hash: str = ""
    _full_started: str = ""

    def _show(self) -> None:
        who = current()
        filters = _filters(self.form)
        with read_scope() as session:
            events, total = audit_log.page(session, who.merchant_id, filters, self.page)
            report = audit.verify_recent(session, CLOCK, who.merchant_id, save=False)
            tallies = refusals.recent(session, CLOCK, who.merchant_id, limit=50)
        if report.ok and report.checked:
            with session_scope() as session:
                audit.save_checkpoint(session, CLOCK, who.merchant_id, report)
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
        self.chain = merchant_home.chain_status(report)
        self.refused = [
            {
                "minute": t.minute.strftime("%Y-%m-%d %H:%M"),
                "action": t.action,
                "rule": t.rule,
                "key": t.key_hint,
                "count": str(t.count),
            }
            for t in tallies
        ]
        self.loaded = True

    @rx.event
    @guarded("staff", staff_role="admin")
    def start_full_check(self):
        """Walk every event (what `portal audit-verify` does) in steps of FULL_CHECK_STEP
        events, one event each, so the tab shows progress and its state lock is let go between
        steps; an intact chain moves the checkpoint to its head."""
        self.verifying, self.full_check = True, "Checking…"
        self._full_seq, self._full_hash, self._full_started = 0, "", CLOCK.now().isoformat()
        return MerchantAuditState.full_check_step()

    @rx.event
    @guarded("staff", staff_role="admin")
    def full_check_step(self):
        if not self.verifying:
            return None
        who = current()
        try:
            with read_scope() as session:
                report = audit.verify_segment(
                    session, who.merchant_id, self._full_seq, self._full_hash, FULL_CHECK_STEP
                )
        except Exception:
            self.verifying = False
            raise
        if report.ok and not report.complete:
            self._full_seq, self._full_hash = report.last_seq, report.last_hash
            self.full_check = f"Checked {report.last_seq} of {report.total} events…"
            return MerchantAuditState.full_check_step()
        self.verifying = False
        if report.ok:
            with session_scope() as session:
                audit.save_checkpoint(session, CLOCK, who.merchant_id, report)
        seconds = (CLOCK.now() - datetime.fromisoformat(self._full_started)).total_seconds()
        self.full_check = (
            f"Full check: all {report.last_seq} events intact ({seconds:.1f} s)."
            if report.ok
            else f"Full check: BROKEN at event {report.first_bad_seq}: {report.problem}"
        )
        self.chain = merchant_home.chain_status(report)
        return None

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.form, self.page, self.error = {}, 1, ""
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
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
    @guarded("staff", staff_role="viewer")
    def go_to_page(self, page: int):
        self.page = max(1, min(int(page), self.pages))
        self._show()

    @rx.event
    @guarded("staff", staff_role="admin")
    def export(self):
        who = current()
        filters = _filters(self.form)
        with read_scope() as session:
            text = audit_log.export_csv(session, who.merchant_id, filters)
        return rx.download(data=text, filename="audit-log.csv", mime_type="text/csv")
