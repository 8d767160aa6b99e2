"""Staff views of money and mail: invoices (open, overdue, paid, void, all) with what is
outstanding, payments, the outbox with delivery status, and "preview as customer". Thin: every
handler is staff-only, validates what the browser sent and calls the services; rows are copied
into plain strings."""

from __future__ import annotations

from datetime import datetime

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.models import Merchant
from portal_app.money import format_money
from portal_app.services import billing_clock, merchant_billing, outbox_admin, portal_preview
from portal_app.services.errors import PortalError
from portal_app.services.gateway import configured_gateway
from portal_app.services.payment_methods import card_label
from portal_app.state.guard import CLOCK, PrivateState, current, guarded

INVOICE_FILTER_LABELS = {
    "open": "Open",
    "overdue": "Overdue",
    "paid": "Paid",
    "void": "Void",
    "all": "All",
}
PAYMENT_FILTER_LABELS = {"all": "All", "succeeded": "Succeeded", "failed": "Failed"}
OUTBOX_FILTER_LABELS = {"all": "All", "queued": "Queued", "sent": "Sent", "failed": "Failed"}


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def _minute(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _days(days_overdue: int | None) -> str:
    """Whole days past due; "<1" on the due day itself, "" when not overdue."""
    if days_overdue is None:
        return ""
    return "<1" if days_overdue == 0 else str(days_overdue)


def _sums(sums: dict[str, int]) -> str:
    """Per-currency amounts side by side ("$1,200.00 · €80.00"); never added across currencies."""
    return " · ".join(format_money(amount, currency) for currency, amount in sorted(sums.items()))


def _choice(value, allowed) -> str:
    """A filter or sort key from the browser: one of ours, else a refusal."""
    text = str(value)
    if text not in allowed:
        raise PortalError("That filter is not available.")
    return text


def _merchant_clock(session, merchant_id: int):
    """The merchant's clock: a demo merchant's test clock moves 'overdue' along with it."""
    return billing_clock.merchant_clock(session.get(Merchant, merchant_id))


class MerchantInvoicesState(PrivateState):
    rows: list[dict[str, str]] = []
    status: str = "open"
    sort: str = "due_asc"
    page: int = 1
    pages: int = 1
    total: int = 0
    open_count: int = 0
    open_sums: str = ""
    overdue_count: int = 0
    overdue_sums: str = ""
    as_of: str = ""
    loaded: bool = False

    def _show(self) -> None:
        who = current()
        with read_scope() as session:
            clock = _merchant_clock(session, who.merchant_id)
            totals = merchant_billing.invoice_totals(session, clock, who.merchant_id)
            found = merchant_billing.list_invoices(
                session,
                clock,
                who.merchant_id,
                status=self.status,
                sort=self.sort,
                page=self.page,
            )
        self.rows = [
            {
                "id": str(r.id),
                "number": r.number,
                "customer_id": str(r.customer_id),
                "customer": r.customer_name or r.customer_email,
                "email": r.customer_email,
                "status": r.status,
                "amount": format_money(r.total, r.currency),
                "due_date": _day(r.due_at),
                "days_overdue": _days(r.days_overdue),
            }
            for r in found.rows
        ]
        self.total, self.page, self.pages = found.total, found.page, found.pages
        self.open_count, self.open_sums = totals.open.count, _sums(totals.open.sums)
        self.overdue_count, self.overdue_sums = totals.overdue.count, _sums(totals.overdue.sums)
        self.as_of = clock.now().strftime("%d %b %Y %H:%M UTC")
        self.loaded = True

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        """On page load; `?status=overdue` (from the dashboard's link) picks the filter."""
        wanted = str(self.router.page.params.get("status", "open"))
        self.status = wanted if wanted in merchant_billing.INVOICE_FILTERS else "open"
        self.sort, self.page = "due_asc", 1
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def show(self, status: str):
        self.status = _choice(status, merchant_billing.INVOICE_FILTERS)
        self.page = 1
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def toggle_sort(self):
        self.sort = "due_desc" if self.sort == "due_asc" else "due_asc"
        self.page = 1
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def go_to_page(self, page: int):
        self.page = max(1, min(int(page), self.pages))
        self._show()


class MerchantPaymentsState(PrivateState):
    rows: list[dict[str, str]] = []
    status: str = "all"
    page: int = 1
    pages: int = 1
    total: int = 0
    loaded: bool = False

    def _show(self) -> None:
        who = current()
        with read_scope() as session:
            found = merchant_billing.list_payments(
                session, who.merchant_id, status=self.status, page=self.page
            )
        self.rows = [
            {
                "id": str(r.id),
                "when": _minute(r.created_at),
                "status": r.status,
                "amount": format_money(r.amount, r.currency),
                "card": card_label(r.card_brand, r.card_last4) if r.card_last4 else "",
                "invoice": r.invoice_number,
                "customer_id": str(r.customer_id),
                "customer": r.customer_name or r.customer_email,
                "email": r.customer_email,
                "code": r.failure_code,
            }
            for r in found.rows
        ]
        self.total, self.page, self.pages = found.total, found.page, found.pages
        self.loaded = True

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.status, self.page = "all", 1
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def show(self, status: str):
        self.status = _choice(status, merchant_billing.PAYMENT_FILTERS)
        self.page = 1
        self._show()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def go_to_page(self, page: int):
        self.page = max(1, min(int(page), self.pages))
        self._show()


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


class PortalPreviewState(PrivateState):
    """Settings → Customer Portal's "Preview as customer". The one-time link goes straight to
    the browser in the event that opens the new tab; it is never kept in state."""

    opened: bool = False

    @rx.event
    @guarded("staff", staff_role="support")
    def open_preview(self):
        who = current()
        with session_scope() as session:
            link = portal_preview.issue_preview_link(
                session, CLOCK, configured_gateway(), merchant_id=who.merchant_id, actor=who.actor
            )
        self.opened = True
        opened = rx.redirect(link.url, is_external=True)
        return [opened, rx.toast.info(link.note)] if link.note else opened
