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


def _pdf_button(row: rx.Var, document: str, doc_id: rx.Var, feature: str, download):
    """The order's invoice or receipt PDF, while it has one and the merchant offers it."""
    return rx.cond(
        (doc_id != "") & NavState.enabled[f"invoices.{feature}"],
        ui.row_action(
            f"{document} PDF",
            download(doc_id),
            icon="file-down",
            aria_label=f"Download the {document.lower()} PDF of " + row.number,
            testid=f"order-{document.lower()}-pdf",
        ),
    )


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
        _pdf_button(row, "Invoice", row.invoice_id, "download_pdf", InvoicesState.download_pdf),
        _pdf_button(row, "Receipt", row.receipt_id, "receipts", InvoicesState.download_receipt),
        rx.cond(
            row.downloads == "yes",
            rx.link(
                ui.row_action("Downloads", icon="download"),
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
