"""What the merchant dashboard's money and mail pages share (invoices with what is outstanding
and overdue, payments, orders, checkouts, the mailbox with delivery status): the filtered list
with its count, table and pager (on the billing pages under their section links), the status
badge, the customer cell and the cells that never wrap (amounts, dates)."""

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


def filtered_list(
    state,
    *,
    filter_bar: rx.Component,
    noun: str,
    headers: list,
    render,
    count_testid: str | None = None,
    testid: str | None = None,
    before: tuple[rx.Component, ...] = (),
    after: tuple[rx.Component, ...] = (),
) -> rx.Component:
    """Once `state` is loaded: what comes `before`, the filter bar, how many `noun`s match
    (`count_testid`, default "<noun>-count"), the table (`testid`, default "<noun>s-table";
    "No <noun>s match this filter." while empty), the pager and what comes `after`; a spinner
    until then."""
    return ui.when_loaded(
        state.loaded,
        *before,
        filter_bar,
        rx.text(counted(state.total, noun), size="2", data_testid=count_testid or f"{noun}-count"),
        ui.data_table(
            headers,
            rows=state.rows,
            render=render,
            testid=testid or f"{noun}s-table",
            empty=ui.empty_state(f"No {noun}s match this filter.", icon="inbox"),
        ),
        pager(state),
        *after,
        spacing="3",
    )


def billing_page(
    title: str, state, *, intro: tuple[rx.Component, ...] = (), **list_parts
) -> rx.Component:
    """A money or mail list page: the dashboard page `title` with the section links and the
    `intro`, then the `filtered_list` of `state` (`list_parts` as for it)."""
    return ui.merchant_page(title, section_links(), *intro, filtered_list(state, **list_parts))


def customer_cell(row) -> rx.Component:
    return rx.table.cell(
        rx.vstack(
            rx.link(row["customer"], href=f"{routes.MERCHANT_CUSTOMERS}/{row['customer_id']}"),
            rx.text(row["email"], size="1", color_scheme="gray"),
            spacing="0",
        )
    )


def nowrap_cell(value: rx.Var, **text_props) -> rx.Component:
    """A cell whose text stays on one line (an amount, a date, a number): the table scrolls
    sideways on a phone instead. `text_props` as for `rx.text` (`weight`)."""
    return rx.table.cell(rx.text(value, white_space="nowrap", **text_props))
