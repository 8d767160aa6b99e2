"""Staff views of money and mail: invoices (open, overdue, paid, void, all) with what is
outstanding, payments, the outbox with delivery status, and "preview as customer". Thin: every
handler is staff-only, validates what the browser sent and calls the services; rows are copied
into plain strings."""

from __future__ import annotations

import reflex as rx

from portal_app.db import read_scope
from portal_app.money import format_money
from portal_app.services import merchant_billing
from portal_app.services.payment_methods import card_label
from portal_app.state.guard import PrivateState, current, guarded
from portal_app.state.merchant_invoices import _choice, _minute

PAYMENT_FILTER_LABELS = {"all": "All", "succeeded": "Succeeded", "failed": "Failed"}


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
