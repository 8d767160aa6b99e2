"""Staff views of money and mail: invoices (open, overdue, paid, void, all) with what is
outstanding, payments, the outbox with delivery status, and "preview as customer". Thin: every
handler is staff-only, validates what the browser sent and calls the services; rows are copied
into plain strings."""

from __future__ import annotations

from datetime import datetime

import reflex as rx

from portal_app.db import read_scope
from portal_app.models import Merchant
from portal_app.money import format_money
from portal_app.services import billing_clock, merchant_billing
from portal_app.services.errors import PortalError
from portal_app.state.guard import PrivateState, current, guarded

INVOICE_FILTER_LABELS = {
    "open": "Open",
    "overdue": "Overdue",
    "paid": "Paid",
    "void": "Void",
    "all": "All",
}


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
