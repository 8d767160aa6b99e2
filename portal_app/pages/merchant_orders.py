"""Merchant dashboard → Orders: one-time purchases by status, newest first; an order opens in a
dialog with its items, customer, shipping address and status, and the next step: "Mark
fulfilled" with an optional tracking reference (support and up) or "Refund" after a
confirmation (admin and up). Controls a member's role can't use are hidden (`staff_can`); every
handler checks the role on the server."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.billing_lists import customer_cell, filtered_list, filters, nowrap_cell
from portal_app.components.form_fields import WIDE_INPUT
from portal_app.components.merchant_header import staff_can
from portal_app.components.page_parts import trigger_dialog
from portal_app.services.orders import TRACKING_MAX
from portal_app.state.merchant_orders import ORDER_FILTER_LABELS
from portal_app.state.merchant_orders import MerchantOrdersState as Orders

STATUS_COLORS = {"paid": "blue", "fulfilled": "green", "refunded": "gray"}


def status_badge(status: rx.Var) -> rx.Component:
    return ui.status_badge(status, STATUS_COLORS)


def _order_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.button(
                r["number"],
                size="1",
                variant="ghost",
                on_click=Orders.open_order(r["id"]),
                aria_label="Open order " + r["number"],
                data_testid="open-order",
            )
        ),
        nowrap_cell(r["when"]),
        customer_cell(r),
        rx.table.cell(rx.text(r["items"], size="2")),
        nowrap_cell(r["total"]),
        rx.table.cell(status_badge(r["status"])),
        rx.table.cell(rx.text(r["tracking"], size="1", style={"overflow_wrap": "anywhere"})),
        data_testid="order-row",
    )


def _facts(opened) -> rx.Component:
    def fact(label: str, value: rx.Var) -> rx.Component:
        return rx.cond(
            value != "",
            rx.text(rx.text.strong(label, " "), value, size="2"),
        )

    return rx.vstack(
        fact("Placed", opened["created"]),
        fact("Fulfilled", opened["fulfilled"]),
        fact("Refunded", opened["refunded"]),
        fact("Invoice", opened["invoice"]),
        fact("Tracking", opened["tracking"]),
        spacing="1",
    )


def _items(opened) -> rx.Component:
    return rx.vstack(
        ui.data_table(
            columns=[
                ("Item", "description"),
                ("Qty", "quantity"),
                ("Unit", "unit"),
                ("Amount", "amount"),
            ],
            rows=opened["items"].to(list[dict[str, str]]),
            testid="order-items",
        ),
        rx.text("Subtotal ", opened["subtotal"], size="2"),
        rx.cond(opened["discount"] != "", rx.text("Discount ", opened["discount"], size="2")),
        rx.text(rx.text.strong("Total ", opened["total"]), size="2"),
        spacing="1",
        width="100%",
    )


def _shipping(opened) -> rx.Component:
    lines = opened["shipping"].to(list[str])
    return rx.cond(
        lines.length() > 0,
        rx.vstack(
            rx.text("Ship to", size="1", weight="bold", color_scheme="gray"),
            rx.foreach(lines, lambda line: rx.text(line, size="2")),
            spacing="0",
            data_testid="order-ship-to",
        ),
    )


def _fulfil_form() -> rx.Component:
    return rx.cond(
        staff_can("support") & (Orders.opened["can_fulfil"] == "yes"),
        rx.form(
            rx.vstack(
                rx.el.label(
                    "Tracking reference (optional)",
                    html_for="order-tracking",
                    style={"font_weight": "500"},
                ),
                rx.el.input(
                    id="order-tracking",
                    name="tracking",
                    max_length=TRACKING_MAX,
                    style=WIDE_INPUT,
                    data_testid="tracking-input",
                ),
                ui.error_text(Orders.fulfil_error, testid="fulfil-error"),
                rx.button("Mark fulfilled", type="submit", data_testid="mark-fulfilled"),
                spacing="2",
                width="100%",
            ),
            on_submit=Orders.fulfil,
            reset_on_submit=True,
            width="100%",
        ),
    )


def _refund() -> rx.Component:
    return rx.cond(
        staff_can("admin") & (Orders.opened["can_refund"] == "yes"),
        trigger_dialog(
            rx.button("Refund", color_scheme="red", variant="soft", data_testid="refund-order"),
            "Refund this order?",
            "The customer's payment goes back to their card, the order is marked refunded "
            "and what it granted under Downloads is taken back. This cannot be undone.",
            keep="Keep the order",
            action=rx.button(
                "Refund ",
                Orders.opened["total"],
                color_scheme="red",
                on_click=Orders.refund,
                data_testid="confirm-refund",
            ),
        ),
    )


def _order_dialog() -> rx.Component:
    opened = Orders.opened
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(
                rx.flex(
                    rx.text(opened["number"]),
                    status_badge(opened["status"]),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                )
            ),
            rx.dialog.description(
                rx.link(
                    opened["customer"],
                    href=routes.MERCHANT_CUSTOMERS + "/" + opened["customer_id"].to(str),
                ),
                " · ",
                opened["email"],
                size="2",
            ),
            rx.vstack(
                _facts(opened),
                _items(opened),
                _shipping(opened),
                _fulfil_form(),
                spacing="3",
                width="100%",
                margin_top="0.75rem",
            ),
            ui.dialog_actions(
                _refund(),
                rx.dialog.close(ui.secondary_button("Close", on_click=Orders.close_order(False))),
                spacing="2",
                wrap="wrap",
            ),
            max_width="40rem",
            data_testid="order-dialog",
        ),
        open=opened.contains("id"),
        on_open_change=Orders.close_order,
    )


def orders_list_page() -> rx.Component:
    return ui.merchant_page(
        "Orders",
        rx.text(
            "One-time purchases from checkout. Mark an order fulfilled when it ships (with a "
            "tracking reference the customer sees), or refund it to the customer's card.",
            size="2",
            color_scheme="gray",
        ),
        filtered_list(
            Orders,
            filter_bar=filters(Orders, ORDER_FILTER_LABELS, "Order status"),
            noun="order",
            headers=["Order", "Placed (UTC)", "Customer", "Items", "Total", "Status", "Tracking"],
            render=_order_row,
            after=(_order_dialog(),),
        ),
    )
