"""Customer page: Orders, the history of one-time purchases (items, total, status, tracking,
the invoice and receipt PDFs, a link to Downloads for what an order granted). One card per
order, so the page reads on a phone without scrolling sideways."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.pager import pager
from portal_app.components.portal_layout import stacked_page
from portal_app.state.invoices import InvoicesState
from portal_app.state.nav import NavState
from portal_app.state.orders import OrdersState

STATUS_COLORS = {"paid": "blue", "fulfilled": "green", "refunded": "gray"}


def _actions(row: rx.Var) -> rx.Component:
    return rx.flex(
        rx.cond(
            (row.invoice_id != "") & NavState.enabled["invoices.view"],
            rx.link(
                rx.button("Invoice ", row.invoice_number, size="1", variant="soft"),
                href=row.invoice_href,
                data_testid="order-invoice",
            ),
        ),
        rx.cond(
            (row.invoice_id != "") & NavState.enabled["invoices.download_pdf"],
            rx.button(
                rx.icon("file-down", size=14),
                "Invoice PDF",
                size="1",
                variant="soft",
                on_click=InvoicesState.download_pdf(row.invoice_id),
                aria_label="Download the invoice PDF of " + row.number,
                data_testid="order-invoice-pdf",
            ),
        ),
        rx.cond(
            (row.receipt_id != "") & NavState.enabled["invoices.receipts"],
            rx.button(
                rx.icon("file-down", size=14),
                "Receipt PDF",
                size="1",
                variant="soft",
                on_click=InvoicesState.download_receipt(row.receipt_id),
                aria_label="Download the receipt PDF of " + row.number,
                data_testid="order-receipt-pdf",
            ),
        ),
        rx.cond(
            row.downloads == "yes",
            rx.link(
                rx.button(rx.icon("download", size=14), "Downloads", size="1", variant="soft"),
                href=routes.DOWNLOADS,
                data_testid="order-downloads",
            ),
        ),
        spacing="2",
        wrap="wrap",
    )


def _order_card(row: rx.Var) -> rx.Component:
    return ui.card_stack(
        rx.flex(
            rx.heading(row.number, size="4", as_="h2", data_testid="order-number"),
            rx.badge(
                row.status_label,
                color_scheme=rx.match(row.status, *STATUS_COLORS.items(), "gray"),
                data_testid="order-status",
            ),
            justify="between",
            align="center",
            width="100%",
            wrap="wrap",
            spacing="2",
        ),
        rx.text(row.date, " · ", rx.text.strong(row.total), size="2"),
        rx.vstack(
            rx.foreach(
                row.lines,
                lambda item: rx.text(item, size="2", style={"overflow_wrap": "anywhere"}),
            ),
            spacing="0",
            data_testid="order-items",
        ),
        rx.cond(
            row.discount != "",
            rx.text("Discount ", row.discount, size="1", color_scheme="gray"),
        ),
        rx.cond(
            row.tracking != "",
            rx.text(
                "Tracking: ",
                row.tracking,
                size="2",
                style={"overflow_wrap": "anywhere"},
                data_testid="order-tracking",
            ),
        ),
        _actions(row),
        spacing="2",
        testid="order-row",
    )


def orders_page() -> rx.Component:
    return stacked_page(
        "Orders",
        "orders.view",
        OrdersState.loaded,
        rx.cond(
            OrdersState.total > 0,
            rx.vstack(
                rx.foreach(OrdersState.rows, _order_card),
                pager(OrdersState),
                spacing="3",
                width="100%",
            ),
            ui.empty_state("No orders yet.", testid="orders-empty"),
        ),
    )
