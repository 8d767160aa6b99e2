"""Staff → Payments: succeeded, failed or all, newest first. Thin: every handler is staff-only,
validates what the browser sent and reads the screen from services/merchant_payments_view.py."""

from __future__ import annotations

import reflex as rx

from portal_app.services import merchant_billing, merchant_payments_view
from portal_app.services.merchant_payments_view import PaymentListRow
from portal_app.state import paging
from portal_app.state.guard import PrivateState, guarded, read
from portal_app.state.merchant_invoices import filter_choice
from portal_app.state.paging import PagedList

PAYMENT_FILTER_LABELS = {"all": "All", "succeeded": "Succeeded", "failed": "Failed"}


class MerchantPaymentsState(PagedList, PrivateState):
    rows: list[PaymentListRow] = []
    status: str = "all"
    loaded: bool = False

    def _load_page(self) -> None:
        found = read(merchant_payments_view.payments_page, status=self.status, page=self.page)
        self._show_rows(found)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.status = "all"
        self._first_page()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def show(self, status: str):
        self.status = filter_choice(status, merchant_billing.PAYMENT_FILTERS)
        self._first_page()

    go_to_page = paging.go_to_page("staff", staff_role="viewer")
