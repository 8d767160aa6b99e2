"""Staff → Orders: the list (a status or all, newest first, paged) and one order in a dialog,
with "Mark fulfilled" (support and up, an optional tracking reference) and "Refund" (admin and
up, after a confirmation). Thin: every handler is staff-only, validates what the browser sent
and calls services/merchant_orders_view.py (reads) or services/orders.py (the changes)."""

from __future__ import annotations

import reflex as rx

from portal_app.services import merchant_orders_view, orders
from portal_app.services.merchant_orders_view import OrderDetailView, OrderListRow
from portal_app.state import paging
from portal_app.state.guard import PrivateState, Refreshing, guarded, read, write
from portal_app.state.paging import PagedList

ORDER_FILTER_LABELS = {
    "all": "All",
    "paid": "Paid",
    "fulfilled": "Fulfilled",
    "refunded": "Refunded",
}


class MerchantOrdersState(Refreshing, PagedList, PrivateState):
    rows: list[OrderListRow] = []
    status: str = "all"
    opened: OrderDetailView = {}  # the order shown in the dialog
    fulfil_error: str = ""
    loaded: bool = False

    def _load_page(self) -> None:
        self._show_rows(read(merchant_orders_view.orders_page, status=self.status, page=self.page))

    def _refresh(self) -> None:
        self._load_page()
        if self.opened.get("id"):
            self._open(int(self.opened["id"]))

    def _open(self, order_id: int) -> None:
        self.opened = read(merchant_orders_view.order_detail, order_id=order_id)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        """On page load; `?order=<id>` opens that order (a link from elsewhere)."""
        self.status, self.opened, self.fulfil_error = "all", {}, ""
        self._first_page()
        wanted = str(self.router.url.query_parameters.get("order", ""))
        if wanted.isdigit():
            self._open(int(wanted))

    show = paging.show_filter(orders.FILTERS, "staff", staff_role="viewer")

    go_to_page = paging.go_to_page("staff", staff_role="viewer")

    @rx.event
    @guarded("staff", staff_role="viewer")
    def open_order(self, order_id: int):
        self.fulfil_error = ""
        self._open(int(order_id))

    @rx.event
    @guarded("staff", staff_role="viewer")
    def close_order(self, is_open: bool = False):
        """Close button, Escape or a click outside (the dialog passes whether it is open)."""
        if not is_open:
            self.opened, self.fulfil_error = {}, ""

    @rx.event
    @guarded("staff", staff_role="support", error="fulfil_error")
    def fulfil(self, form_data: dict):
        order = write(
            orders.mark_fulfilled,
            order_id=int(self.opened.get("id", 0) or 0),
            tracking_reference=str(form_data.get("tracking", "") or ""),
        )
        return self._changed(f"{orders.display_number(order)} is marked fulfilled.")

    @rx.event
    @guarded("staff", staff_role="admin")
    def refund(self):
        order = write(orders.mark_refunded, order_id=int(self.opened.get("id", 0) or 0))
        return self._changed(f"{orders.display_number(order)} is refunded.")
