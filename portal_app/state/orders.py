"""The customer's Orders page: a paged list of their orders (services/orders_view.py), behind
the `orders.view` toggle. The invoice and receipt PDFs are the Invoices page's own handlers
(`InvoicesState.download_pdf` / `download_receipt`), with their own toggles."""

from __future__ import annotations

import reflex as rx

from portal_app.services import orders_view
from portal_app.services.orders_view import OrderRow
from portal_app.state import paging
from portal_app.state.guard import PrivateState, guarded, read


class OrdersState(paging.PagedList, PrivateState):
    rows: list[OrderRow] = []
    loaded: bool = False

    @rx.event
    @guarded("customer", feature="orders.view")
    def load(self):
        """On page load; `?page=n` opens that page (brought into range)."""
        raw = self.router.url.query_parameters.get("page", "1")
        self.page = int(raw) if raw.isdigit() else 1
        self._load_page()

    def _load_page(self) -> None:
        self._show_rows(read(orders_view.orders_page, page=self.page))

    go_to_page = paging.go_to_page("customer", "orders.view")
