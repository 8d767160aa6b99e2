"""Merchant dashboard pages for money and mail: invoices (with what is outstanding and overdue),
payments and the mailbox (the outbox with delivery status)."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.pager import pager

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
    return ui.status_badge(status, STATUS_COLORS)


def section_links() -> rx.Component:
    return rx.flex(
        rx.link("Invoices", href=routes.MERCHANT_INVOICES),
        rx.link("Payments", href=routes.MERCHANT_PAYMENTS),
        rx.link("Mailbox", href=routes.MERCHANT_MAILBOX),
        rx.link("Billing clock", href=routes.MERCHANT_BILLING),
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


def billing_list(
    state,
    *,
    filter_bar: rx.Component,
    count: rx.Component,
    headers: list,
    render,
    empty: str,
    testid: str,
    before: tuple[rx.Component, ...] = (),
    after: tuple[rx.Component, ...] = (),
) -> rx.Component:
    """The body of a money or mail list page: once loaded, what comes `before`, the filter bar,
    the count, the table (or `empty`), the pager and what comes `after`; a spinner until then."""
    return rx.cond(
        state.loaded,
        rx.vstack(
            *before,
            filter_bar,
            count,
            ui.data_table(
                headers,
                rows=state.rows,
                render=render,
                testid=testid,
                empty=ui.empty_state(empty, icon="inbox"),
            ),
            pager(state),
            *after,
            spacing="3",
            width="100%",
        ),
        ui.loading(),
    )


def customer_cell(row) -> rx.Component:
    return rx.table.cell(
        rx.vstack(
            rx.link(row["customer"], href=f"{routes.MERCHANT_CUSTOMERS}/{row['customer_id']}"),
            rx.text(row["email"], size="1", color_scheme="gray"),
            spacing="0",
        )
    )
