"""Merchant dashboard → Invoices: what is open and overdue per currency, and the list by status
sorted by due date."""

from __future__ import annotations

import reflex as rx

from portal_app.components.billing_lists import (
    billing_page,
    counted,
    customer_cell,
    filters,
    nowrap_cell,
    status_badge,
)
from portal_app.state.merchant_invoices import INVOICE_FILTER_LABELS
from portal_app.state.merchant_invoices import MerchantInvoicesState as Invoices


def _total_card(title: str, count: rx.Var, sums: rx.Var, testid: str, color: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(title, size="2", color_scheme="gray"),
            rx.heading(counted(count, "invoice"), size="5", as_="p"),
            rx.text(rx.cond(sums != "", sums, "Nothing due"), weight="medium", color_scheme=color),
            spacing="1",
        ),
        data_testid=testid,
        min_width="12rem",
        flex="1",
    )


def _invoice_row(r) -> rx.Component:
    return rx.table.row(
        nowrap_cell(r["number"], weight="medium"),
        customer_cell(r),
        nowrap_cell(r["amount"]),
        rx.table.cell(status_badge(r["status"])),
        nowrap_cell(r["due_date"]),
        rx.table.cell(
            rx.cond(
                r["days_overdue"] != "",
                rx.text(r["days_overdue"], color_scheme="red", weight="medium"),
                rx.text("—", color_scheme="gray"),
            )
        ),
        data_testid="invoice-row",
    )


def _due_header() -> rx.Component:
    return rx.table.column_header_cell(
        rx.button(
            "Due date",
            rx.cond(
                Invoices.sort == "due_asc",
                rx.icon("arrow-up", size=14),
                rx.icon("arrow-down", size=14),
            ),
            variant="ghost",
            size="1",
            on_click=Invoices.toggle_sort,
            aria_label=rx.cond(
                Invoices.sort == "due_asc",
                "Due date, oldest first: sort newest first",
                "Due date, newest first: sort oldest first",
            ),
            data_testid="sort-due",
        ),
        aria_sort=rx.cond(Invoices.sort == "due_asc", "ascending", "descending"),
    )


def invoices_list_page() -> rx.Component:
    return billing_page(
        "Invoices",
        Invoices,
        before=(
            rx.flex(
                _total_card("Open", Invoices.open_count, Invoices.open_sums, "total-open", "amber"),
                _total_card(
                    "Overdue",
                    Invoices.overdue_count,
                    Invoices.overdue_sums,
                    "total-overdue",
                    "red",
                ),
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            rx.text(
                "Overdue: open and past the due date, as of ",
                Invoices.as_of,
                ". Amounts are summed per currency.",
                size="1",
                color_scheme="gray",
            ),
        ),
        filter_bar=filters(Invoices, INVOICE_FILTER_LABELS, "Invoice status"),
        noun="invoice",
        headers=["Number", "Customer", "Amount", "Status", _due_header(), "Days overdue"],
        render=_invoice_row,
    )
