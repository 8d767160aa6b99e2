"""Merchant dashboard → Payments: succeeded, failed or all, newest first."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.billing_lists import (
    billing_page,
    customer_cell,
    filters,
    nowrap_cell,
    status_badge,
)
from portal_app.components.merchant_header import staff_can
from portal_app.components.portal_form import field_label
from portal_app.services.refunds import REASONS
from portal_app.state.merchant_payments import PAYMENT_FILTER_LABELS
from portal_app.state.merchant_payments import MerchantPaymentsState as Payments


def _payment_row(r) -> rx.Component:
    return rx.table.row(
        nowrap_cell(r["when"]),
        customer_cell(r),
        nowrap_cell(r["amount"]),
        rx.table.cell(
            rx.hstack(
                status_badge(r["status"]),
                rx.cond(r["code"] != "", rx.text(r["code"], size="1", color_scheme="gray")),
                align="center",
                wrap="wrap",
            )
        ),
        nowrap_cell(r["card"]),
        nowrap_cell(r["invoice"]),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    r["refunded"] != "",
                    rx.text("Refunded ", r["refunded"], size="1", color_scheme="gray"),
                ),
                rx.cond(
                    (r["left"] != "") & staff_can("admin"),
                    rx.button(
                        "Refund",
                        size="1",
                        variant="soft",
                        on_click=Payments.open_refund(r["id"]),
                        data_testid="refund",
                    ),
                ),
                align="center",
                wrap="wrap",
            )
        ),
        data_testid="payment-row",
    )


def _refund_dialog() -> rx.Component:
    row = Payments.refund_row
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Refund ", row["amount"], " from ", row["customer"]),
            rx.dialog.description(
                "The money goes back to the card; the customer gets a credit note by mail. "
                "At most ",
                row["left"],
                " is left to refund.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    field_label("Amount", "refund-amount"),
                    rx.input(
                        id="refund-amount",
                        name="amount",
                        default_value=row["left"],
                        input_mode="decimal",
                        required=True,
                        width="100%",
                    ),
                    field_label("Reason", "refund-reason"),
                    rx.el.select(
                        *[rx.el.option(label, value=key) for key, label in REASONS.items()],
                        id="refund-reason",
                        name="reason",
                        style={"padding": "8px", "border_radius": "6px", "width": "100%"},
                    ),
                    field_label("Note for your records (optional)", "refund-memo"),
                    rx.text_area(id="refund-memo", name="memo", max_length=500, width="100%"),
                    ui.error_callout(Payments.refund_error, testid="refund-error"),
                    ui.dialog_actions(
                        ui.secondary_button("Keep the payment", on_click=Payments.close_refund),
                        rx.button(
                            "Refund",
                            type="submit",
                            color_scheme="red",
                            data_testid="confirm-refund",
                        ),
                        spacing="2",
                    ),
                    spacing="2",
                    width="100%",
                ),
                on_submit=Payments.refund,
            ),
        ),
        open=row.contains("id"),
        on_open_change=lambda _open: Payments.close_refund(),
    )


def payments_list_page() -> rx.Component:
    return billing_page(
        "Payments",
        Payments,
        filter_bar=filters(Payments, PAYMENT_FILTER_LABELS, "Payment status"),
        noun="payment",
        headers=["When (UTC)", "Customer", "Amount", "Status", "Card", "Invoice", "Refunds"],
        render=_payment_row,
        after=(_refund_dialog(),),
    )
