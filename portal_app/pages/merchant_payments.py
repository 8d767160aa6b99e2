"""Merchant dashboard → Payments: succeeded, failed or all, newest first."""

from __future__ import annotations

import reflex as rx

from portal_app.components.billing_lists import (
    billing_page,
    customer_cell,
    filters,
    nowrap_cell,
    status_badge,
)
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
        data_testid="payment-row",
    )


def payments_list_page() -> rx.Component:
    return billing_page(
        "Payments",
        Payments,
        filter_bar=filters(Payments, PAYMENT_FILTER_LABELS, "Payment status"),
        noun="payment",
        count_testid="payment-count",
        headers=["When (UTC)", "Customer", "Amount", "Status", "Card", "Invoice"],
        render=_payment_row,
        empty="No payments match this filter.",
        testid="payments-table",
    )
