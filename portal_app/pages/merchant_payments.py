"""Merchant dashboard pages for money and mail: invoices (with what is outstanding and overdue),
payments and the mailbox (the outbox with delivery status)."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell
from portal_app.components.billing_lists import (
    counted,
    customer_cell,
    filters,
    loading,
    section_links,
    status_badge,
    table,
)
from portal_app.components.merchant_header import merchant_header
from portal_app.components.pager import pager
from portal_app.state.merchant_payments import PAYMENT_FILTER_LABELS
from portal_app.state.merchant_payments import MerchantPaymentsState as Payments


def _payment_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["when"], white_space="nowrap")),
        customer_cell(r),
        rx.table.cell(rx.text(r["amount"], white_space="nowrap")),
        rx.table.cell(
            rx.hstack(
                status_badge(r["status"]),
                rx.cond(r["code"] != "", rx.text(r["code"], size="1", color_scheme="gray")),
                align="center",
                wrap="wrap",
            )
        ),
        rx.table.cell(rx.text(r["card"], white_space="nowrap")),
        rx.table.cell(rx.text(r["invoice"], white_space="nowrap")),
        data_testid="payment-row",
    )


def payments_list_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            merchant_header("Payments"),
            section_links(),
            rx.cond(
                Payments.loaded,
                rx.vstack(
                    filters(Payments, PAYMENT_FILTER_LABELS, "Payment status"),
                    rx.text(
                        counted(Payments.total, "payment"), size="2", data_testid="payment-count"
                    ),
                    table(
                        ["When (UTC)", "Customer", "Amount", "Status", "Card", "Invoice"],
                        Payments.rows,
                        _payment_row,
                        "No payments match this filter.",
                        "payments-table",
                    ),
                    pager(Payments),
                    spacing="3",
                    width="100%",
                ),
                loading(),
            ),
            spacing="4",
            width="100%",
        ),
        subtitle="Payments",
    )
