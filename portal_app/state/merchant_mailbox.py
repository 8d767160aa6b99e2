"""Staff → Mailbox: the outbox with delivery status, one message at a time in a dialog (sealed
sign-in mail is never shown), and queueing failed messages again. Thin: every handler is
staff-only, validates what the browser sent and calls services/merchant_outbox_view.py (reads)
or services/outbox_admin.py (the retry)."""

from __future__ import annotations

import reflex as rx

from portal_app.services import merchant_outbox_view, outbox_admin
from portal_app.services.merchant_outbox_view import OpenedMessage, OutboxListRow
from portal_app.state import paging
from portal_app.state.guard import PrivateState, guarded, read, write
from portal_app.state.paging import PagedList

OUTBOX_FILTER_LABELS = {"all": "All", "queued": "Queued", "sent": "Sent", "failed": "Failed"}


class MerchantOutboxState(PagedList, PrivateState):
    rows: list[OutboxListRow] = []
    status: str = "all"
    counts: dict[str, int] = {}
    retryable: int = 0
    opened: OpenedMessage = {}  # the message shown in the dialog; body "sealed" for links
    loaded: bool = False

    def _load_page(self) -> None:
        shown = read(merchant_outbox_view.outbox_page, status=self.status, page=self.page)
        self.counts, self.retryable = shown.counts, shown.retryable
        self._show_rows(shown.found)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.status, self.opened = "all", {}
        self._first_page()

    show = paging.show_filter(outbox_admin.OUTBOX_FILTERS, "staff", staff_role="viewer")

    go_to_page = paging.go_to_page("staff", staff_role="viewer")

    @rx.event
    @guarded("staff", staff_role="viewer")
    def open_message(self, email_id: int):
        self.opened = read(merchant_outbox_view.opened_message, email_id=int(email_id))

    @rx.event
    @guarded("staff", staff_role="viewer")
    def close_message(self, is_open: bool = False):
        """Close button, Escape or a click outside (the dialog passes whether it is open)."""
        if not is_open:
            self.opened = {}

    @rx.event
    @guarded("staff", staff_role="admin")
    def retry_failed(self):
        count = write(outbox_admin.retry_failed)
        self._load_page()
        plural = "message is" if count == 1 else "messages are"
        return rx.toast.success(f"{count} {plural} queued again.")
