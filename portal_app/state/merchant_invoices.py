"""Staff → Invoices: open, overdue, paid, void or all, sorted by due date, with what is
outstanding. Thin: every handler is staff-only, validates what the browser sent and reads the
screen from services/merchant_invoices_view.py."""

from __future__ import annotations

import reflex as rx

from portal_app.services import merchant_billing, merchant_invoices_view
from portal_app.services.merchant_invoices_view import InvoiceListRow
from portal_app.state import paging
from portal_app.state.guard import PrivateState, guarded, read
from portal_app.state.paging import PagedList

INVOICE_FILTER_LABELS = {
    "open": "Open",
    "overdue": "Overdue",
    "paid": "Paid",
    "void": "Void",
    "all": "All",
}


class MerchantInvoicesState(PagedList, PrivateState):
    rows: list[InvoiceListRow] = []
    status: str = "open"
    sort: str = "due_asc"
    open_count: int = 0
    open_sums: str = ""
    overdue_count: int = 0
    overdue_sums: str = ""
    as_of: str = ""
    loaded: bool = False

    def _load_page(self) -> None:
        shown = read(
            merchant_invoices_view.invoices_page, status=self.status, sort=self.sort, page=self.page
        )
        self.open_count, self.open_sums = shown.open_count, shown.open_sums
        self.overdue_count, self.overdue_sums = shown.overdue_count, shown.overdue_sums
        self.as_of = shown.as_of
        self._show_rows(shown.found)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        """On page load; `?status=overdue` (from the dashboard's link) picks the filter."""
        wanted = str(self.router.page.params.get("status", "open"))
        self.status = wanted if wanted in merchant_billing.INVOICE_FILTERS else "open"
        self.sort = "due_asc"
        self._first_page()

    show = paging.show_filter(merchant_billing.INVOICE_FILTERS, "staff", staff_role="viewer")

    @rx.event
    @guarded("staff", staff_role="viewer")
    def toggle_sort(self):
        self.sort = "due_desc" if self.sort == "due_asc" else "due_asc"
        self._first_page()

    go_to_page = paging.go_to_page("staff", staff_role="viewer")
