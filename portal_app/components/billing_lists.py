"""Merchant dashboard pages for money and mail: invoices (with what is outstanding and overdue),
payments and the mailbox (the outbox with delivery status)."""

from __future__ import annotations

import reflex as rx

STATUS_COLORS = {
    "open": "amber",
    "paid": "green",
    "void": "gray",
    "uncollectible": "red",
    "succeeded": "green",
    "failed": "red",
    "queued": "blue",
    "sent": "green",
}


def status_badge(status: rx.Var) -> rx.Component:
    return rx.match(
        status,
        *[(name, rx.badge(name, color_scheme=color)) for name, color in STATUS_COLORS.items()],
        rx.badge(status),
    )


def section_links() -> rx.Component:
    return rx.flex(
        rx.link("Invoices", href="/merchant/invoices"),
        rx.link("Payments", href="/merchant/payments"),
        rx.link("Mailbox", href="/merchant/mailbox"),
        rx.link("Billing clock", href="/merchant/billing"),
        spacing="4",
        wrap="wrap",
        aria_label="Billing sections",
    )


def filters(state, labels: dict[str, str], label: str, counts=None) -> rx.Component:
    def button(key: str, text: str) -> rx.Component:
        caption = (
            text if counts is None or key == "all" else rx.fragment(text, " (", counts[key], ")")
        )
        return rx.button(
            caption,
            size="2",
            variant=rx.cond(state.status == key, "solid", "soft"),
            aria_pressed=rx.cond(state.status == key, "true", "false"),
            on_click=state.show(key),
            data_testid=f"filter-{key}",
        )

    return rx.flex(
        *[button(key, text) for key, text in labels.items()],
        spacing="2",
        wrap="wrap",
        role="group",
        aria_label=label,
    )


def counted(count: rx.Var, noun: str) -> rx.Component:
    """ "1 invoice", "3 invoices"."""
    return rx.cond(count == 1, rx.fragment("1 ", noun), rx.fragment(count, f" {noun}s"))


def loading() -> rx.Component:
    return rx.center(rx.spinner(size="3"), padding="3rem", aria_label="Loading")


def table(headers: list, rows, render, empty: str, testid: str) -> rx.Component:
    return rx.cond(
        rows.length() > 0,
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            h if isinstance(h, rx.Component) else rx.table.column_header_cell(h)
                            for h in headers
                        ]
                    )
                ),
                rx.table.body(rx.foreach(rows, render)),
                size="1",
                width="100%",
            ),
            overflow_x="auto",
            width="100%",
            data_testid=testid,
        ),
        rx.callout(empty, icon="inbox", color_scheme="gray", width="100%"),
    )


def customer_cell(row) -> rx.Component:
    return rx.table.cell(
        rx.vstack(
            rx.link(row["customer"], href=f"/merchant/customers/{row['customer_id']}"),
            rx.text(row["email"], size="1", color_scheme="gray"),
            spacing="0",
        )
    )
