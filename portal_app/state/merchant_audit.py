"""Staff → Audit log: filters, pages, CSV export, the chain's status and its full check, and the
refused requests of the last day. Reads come from services/merchant_audit_view.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import reflex as rx

from portal_app.services import audit, audit_log, merchant_audit_view, merchant_home
from portal_app.services.errors import PortalError
from portal_app.services.merchant_audit_view import AuditRow, RefusedRow
from portal_app.state import paging
from portal_app.state.guard import CLOCK, PrivateState, guarded, read, write
from portal_app.state.paging import PagedList

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


class MerchantAuditState(PagedList, PrivateState):
    rows: list[AuditRow] = []
    form: dict[str, str] = {}
    error: str = ""
    chain: str = ""
    loaded: bool = False
    verifying: bool = False
    full_check: str = ""
    # refused requests of the last 24 h, counted per rule, key and minute (services/refusals.py)
    refused: list[RefusedRow] = []
    _full_seq: int = 0  # the full check's progress: last event verified, its hash, its start
    _full_hash: str = ""
    _full_started: str = ""

    def _load_page(self) -> None:
        shown = read(merchant_audit_view.audit_page, filters=_filters(self.form), page=self.page)
        if shown.chain.ok and shown.chain.checked:
            write(audit.save_checkpoint, report=shown.chain)
        self.chain = merchant_home.chain_status(shown.chain)
        self.refused = shown.refused
        self._show_rows(shown.found)

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
        try:
            report = read(
                merchant_audit_view.chain_step,
                after_seq=self._full_seq,
                prev_hash=self._full_hash,
                limit=FULL_CHECK_STEP,
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
            write(audit.save_checkpoint, report=report)
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
        self.form, self.error = {}, ""
        self._first_page()

    @rx.event
    @guarded("staff", staff_role="viewer", error="error")
    def search(self, form_data: dict):
        form = {
            k: str(form_data.get(k, ""))[:100]
            for k in ("actor", "action", "customer", "since", "until")
        }
        _filters(form)  # a bad date or customer id is the inline error; nothing else changes
        self.form = form
        self._first_page()

    go_to_page = paging.go_to_page("staff", staff_role="viewer")

    @rx.event
    @guarded("staff", staff_role="admin")
    def export(self):
        text = read(merchant_audit_view.export_csv, filters=_filters(self.form))
        return rx.download(data=text, filename="audit-log.csv", mime_type="text/csv")
