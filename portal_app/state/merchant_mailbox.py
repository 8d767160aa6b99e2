"""Staff views of money and mail: invoices (open, overdue, paid, void, all) with what is
outstanding, payments, the outbox with delivery status, and "preview as customer". Thin: every
handler is staff-only, validates what the browser sent and calls the services; rows are copied
into plain strings."""

from __future__ import annotations

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.services import outbox_admin
from portal_app.state.guard import CLOCK, PrivateState, current, guarded
from portal_app.state.merchant_invoices import _choice, _minute

OUTBOX_FILTER_LABELS = {"all": "All", "queued": "Queued", "sent": "Sent", "failed": "Failed"}


class MerchantOutboxState(PrivateState):
    rows: list[dict[str, str]] = []
    status: str = "all"
    page: int = 1
    pages: int = 1
    total: int = 0
    counts: dict[str, int] = {}
    retryable: int = 0
    opened: dict[str, str] = {}  # the message shown in the dialog; body "sealed" for links
    loaded: bool = False

    def _show(self) -> None:
        who = current()
        with read_scope() as session:
            found = outbox_admin.list_outbox(
                session, who.merchant_id, status=self.status, page=self.page
            )
            self.counts = outbox_admin.status_counts(session, who.merchant_id)
            self.retryable = outbox_admin.retryable_count(session, who.merchant_id)
        self.rows = [
            {
                "id": str(r.id),
                "to": r.to_address,
                "kind": r.kind.replace("_", " "),
                "subject": r.subject,
                "status": r.status,
                "attempts": str(r.attempts),
                "error": r.last_error,
                "created": _minute(r.created_at),
                "sent": _minute(r.sent_at),
                "sealed": "yes" if r.sealed else "",
            }
            for r in found.rows
        ]
        self.total, self.page, self.pages = found.total, found.page, found.pages
        self.loaded = True

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.status, self.page, self.opened = "all", 1, {}
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def show(self, status: str):
        self.status = _choice(status, outbox_admin.OUTBOX_FILTERS)
        self.page = 1
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def go_to_page(self, page: int):
        self.page = max(1, min(int(page), self.pages))
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def open_message(self, email_id: int):
        who = current()
        with read_scope() as session:
            row, body = outbox_admin.message(session, who.merchant_id, int(email_id))
        self.opened = {
            "id": str(row.id),
            "to": row.to_address,
            "subject": row.subject,
            "kind": row.kind.replace("_", " "),
            "status": row.status,
            "sealed": "yes" if row.sealed else "",
            "body": body,
        }

    @rx.event
    @guarded("staff", staff_role="viewer")
    def close_message(self, is_open: bool = False):
        """Close button, Escape or a click outside (the dialog passes whether it is open)."""
        if not is_open:
            self.opened = {}

    @rx.event
    @guarded("staff", staff_role="admin")
    def retry_failed(self):
        who = current()
        with session_scope() as session:
            count = outbox_admin.retry_failed(
                session, CLOCK, merchant_id=who.merchant_id, actor=who.actor
            )
        self._show()
        plural = "message is" if count == 1 else "messages are"
        return rx.toast.success(f"{count} {plural} queued again.")
