"""Staff → Payments: succeeded, failed or all, newest first, and refunds (admins: full or
partial, with a reason; services/refunds.py). Thin: every handler is staff-only, validates what
the browser sent and reads the screen from services/merchant_payments_view.py."""

from __future__ import annotations

import secrets

import reflex as rx

from portal_app.services import merchant_billing, merchant_payments_view, refunds
from portal_app.services.merchant_payments_view import PaymentListRow
from portal_app.state import paging
from portal_app.state.guard import PrivateState, guarded, read, write
from portal_app.state.paging import PagedList

PAYMENT_FILTER_LABELS = {"all": "All", "succeeded": "Succeeded", "failed": "Failed"}


class MerchantPaymentsState(PagedList, PrivateState):
    rows: list[PaymentListRow] = []
    status: str = "all"
    loaded: bool = False
    # The refund dialog: which payment (its row), what is left to refund, the form's error.
    refund_row: dict[str, str] = {}
    refund_error: str = ""
    # One key per opened dialog: a double click on Refund sends it twice and refunds once.
    _refund_key: str = ""

    def _load_page(self) -> None:
        found = read(merchant_payments_view.payments_page, status=self.status, page=self.page)
        self._show_rows(found)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.status = "all"
        self._first_page()

    show = paging.show_filter(merchant_billing.PAYMENT_FILTERS, "staff", staff_role="viewer")

    go_to_page = paging.go_to_page("staff", staff_role="viewer")

    @rx.event
    @guarded("staff", staff_role="admin")
    def open_refund(self, payment_id: str):
        """Opens the dialog for a payment on this page (only a row the server read)."""
        row = next((r for r in self.rows if r["id"] == str(payment_id) and r["left"]), None)
        self.refund_row = dict(row) if row else {}
        self.refund_error = ""
        self._refund_key = secrets.token_urlsafe(16)

    @rx.event
    @guarded("staff", staff_role="admin")
    def close_refund(self):
        self.refund_row, self.refund_error, self._refund_key = {}, "", ""

    @rx.event
    @guarded("staff", staff_role="admin", error="refund_error")
    def refund(self, form_data: dict):
        if not self.refund_row or not self._refund_key:
            return None
        note = write(
            refunds.refund_payment,
            payment_id=int(self.refund_row["id"]),
            amount=str(form_data.get("amount", ""))[:32],
            reason=str(form_data.get("reason", ""))[:32],
            memo=str(form_data.get("memo", ""))[: refunds.MEMO_MAX + 1],
            request_key=self._refund_key,
        )
        self.refund_row, self._refund_key = {}, ""
        self._load_page()
        return rx.toast.success(f"Refunded. Credit note {refunds.credit_note_number(note)}.")
