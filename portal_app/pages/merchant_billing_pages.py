"""Merchant dashboard pages for money and mail: invoices (with what is outstanding and overdue),
payments and the mailbox (the outbox with delivery status)."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell
from portal_app.components.pager import pager
from portal_app.pages.merchant_pages import _merchant_header, staff_can
from portal_app.state.merchant_billing_views import (
    INVOICE_FILTER_LABELS,
    OUTBOX_FILTER_LABELS,
    PAYMENT_FILTER_LABELS,
)
from portal_app.state.merchant_billing_views import MerchantInvoicesState as Invoices
from portal_app.state.merchant_billing_views import MerchantOutboxState as Outbox
from portal_app.state.merchant_billing_views import MerchantPaymentsState as Payments

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


def _status_badge(status: rx.Var) -> rx.Component:
    return rx.match(
        status,
        *[(name, rx.badge(name, color_scheme=color)) for name, color in STATUS_COLORS.items()],
        rx.badge(status),
    )


def _section_links() -> rx.Component:
    return rx.flex(
        rx.link("Invoices", href="/merchant/invoices"),
        rx.link("Payments", href="/merchant/payments"),
        rx.link("Mailbox", href="/merchant/mailbox"),
        rx.link("Billing clock", href="/merchant/billing"),
        spacing="4",
        wrap="wrap",
        aria_label="Billing sections",
    )


def _filters(state, labels: dict[str, str], label: str, counts=None) -> rx.Component:
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


def _counted(count: rx.Var, noun: str) -> rx.Component:
    """ "1 invoice", "3 invoices"."""
    return rx.cond(count == 1, rx.fragment("1 ", noun), rx.fragment(count, f" {noun}s"))


def _loading() -> rx.Component:
    return rx.center(rx.spinner(size="3"), padding="3rem", aria_label="Loading")


def _table(headers: list, rows, render, empty: str, testid: str) -> rx.Component:
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


def _customer_cell(row) -> rx.Component:
    return rx.table.cell(
        rx.vstack(
            rx.link(row["customer"], href=f"/merchant/customers/{row['customer_id']}"),
            rx.text(row["email"], size="1", color_scheme="gray"),
            spacing="0",
        )
    )


# --- invoices ------------------------------------------------------------------------------------


def _total_card(title: str, count: rx.Var, sums: rx.Var, testid: str, color: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(title, size="2", color_scheme="gray"),
            rx.heading(_counted(count, "invoice"), size="5", as_="p"),
            rx.text(rx.cond(sums != "", sums, "Nothing due"), weight="medium", color_scheme=color),
            spacing="1",
        ),
        data_testid=testid,
        min_width="12rem",
        flex="1",
    )


def _invoice_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["number"], weight="medium", white_space="nowrap")),
        _customer_cell(r),
        rx.table.cell(rx.text(r["amount"], white_space="nowrap")),
        rx.table.cell(_status_badge(r["status"])),
        rx.table.cell(rx.text(r["due_date"], white_space="nowrap")),
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
    return page_shell(
        rx.vstack(
            _merchant_header("Invoices"),
            _section_links(),
            rx.cond(
                Invoices.loaded,
                rx.vstack(
                    rx.flex(
                        _total_card(
                            "Open", Invoices.open_count, Invoices.open_sums, "total-open", "amber"
                        ),
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
                    _filters(Invoices, INVOICE_FILTER_LABELS, "Invoice status"),
                    rx.text(
                        _counted(Invoices.total, "invoice"), size="2", data_testid="invoice-count"
                    ),
                    _table(
                        ["Number", "Customer", "Amount", "Status", _due_header(), "Days overdue"],
                        Invoices.rows,
                        _invoice_row,
                        "No invoices match this filter.",
                        "invoices-table",
                    ),
                    pager(Invoices),
                    spacing="3",
                    width="100%",
                ),
                _loading(),
            ),
            spacing="4",
            width="100%",
        ),
        subtitle="Invoices",
    )


# --- payments ------------------------------------------------------------------------------------


def _payment_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["when"], white_space="nowrap")),
        _customer_cell(r),
        rx.table.cell(rx.text(r["amount"], white_space="nowrap")),
        rx.table.cell(
            rx.hstack(
                _status_badge(r["status"]),
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
            _merchant_header("Payments"),
            _section_links(),
            rx.cond(
                Payments.loaded,
                rx.vstack(
                    _filters(Payments, PAYMENT_FILTER_LABELS, "Payment status"),
                    rx.text(
                        _counted(Payments.total, "payment"), size="2", data_testid="payment-count"
                    ),
                    _table(
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
                _loading(),
            ),
            spacing="4",
            width="100%",
        ),
        subtitle="Payments",
    )


# --- mailbox -------------------------------------------------------------------------------------


def _delivery(r) -> rx.Component:
    return rx.vstack(
        _status_badge(r["status"]),
        rx.cond(
            r["attempts"] != "0",
            rx.text(r["attempts"], " attempts", size="1", color_scheme="gray"),
        ),
        rx.cond(r["error"] != "", rx.text(r["error"], size="1", color_scheme="red")),
        spacing="1",
    )


def _mail_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["to"], style={"overflow_wrap": "anywhere"})),
        rx.table.cell(rx.text(r["kind"], white_space="nowrap")),
        rx.table.cell(rx.text(r["subject"])),
        rx.table.cell(_delivery(r)),
        rx.table.cell(rx.text(r["created"], white_space="nowrap")),
        rx.table.cell(rx.text(r["sent"], white_space="nowrap")),
        rx.table.cell(
            rx.cond(
                r["sealed"] == "yes",
                rx.badge("sealed", color_scheme="gray", variant="outline", data_testid="sealed"),
                rx.button(
                    "View",
                    size="1",
                    variant="soft",
                    on_click=Outbox.open_message(r["id"]),
                    aria_label="View message " + r["subject"],
                ),
            )
        ),
        data_testid="mail-row",
    )


def _message_dialog() -> rx.Component:
    opened = Outbox.opened
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(opened["subject"].to(str)),
            rx.dialog.description(
                "To ",
                opened["to"].to(str),
                " · ",
                opened["kind"].to(str),
                " · ",
                opened["status"].to(str),
                size="2",
            ),
            rx.cond(
                opened["sealed"].to(str) == "yes",
                rx.callout(
                    "sealed: this message carries a sign-in link, which is a secret.",
                    icon="lock",
                    color_scheme="gray",
                ),
                rx.box(
                    rx.text(
                        opened["body"].to(str),
                        size="2",
                        style={"white_space": "pre-wrap", "overflow_wrap": "anywhere"},
                    ),
                    padding="0.75rem",
                    border="1px solid var(--gray-a5)",
                    border_radius="6px",
                    margin_top="0.75rem",
                    max_height="50vh",
                    overflow_y="auto",
                    data_testid="mail-body",
                ),
            ),
            rx.flex(
                rx.dialog.close(
                    rx.button(
                        "Close",
                        variant="soft",
                        color_scheme="gray",
                        on_click=Outbox.close_message(False),
                    )
                ),
                justify="end",
                margin_top="1rem",
            ),
        ),
        open=opened.contains("id"),
        on_open_change=Outbox.close_message,
    )


def _retry_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                "Retry failed (",
                Outbox.retryable,
                ")",
                variant="soft",
                color_scheme="amber",
                disabled=Outbox.retryable == 0,
                data_testid="retry-failed",
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Queue the failed messages again?"),
            rx.alert_dialog.description(
                "They get a fresh set of delivery attempts on the next mail run. Sign-in links "
                "are not retried: they have expired, and the customer can ask for a new one."
            ),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Keep them", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Retry",
                        on_click=Outbox.retry_failed,
                        data_testid="confirm-retry",
                    )
                ),
                spacing="2",
                justify="end",
                margin_top="1rem",
            ),
        ),
    )


def mailbox_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            _merchant_header("Mailbox"),
            _section_links(),
            rx.text(
                "Every message the portal queued for your customers, with its delivery status. "
                "Without a mail server messages stay queued here. Sign-in and email-change "
                "messages are sealed: their links are secrets and are never shown.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                Outbox.loaded,
                rx.vstack(
                    rx.flex(
                        _filters(Outbox, OUTBOX_FILTER_LABELS, "Delivery status", Outbox.counts),
                        rx.cond(staff_can("admin"), _retry_dialog()),
                        justify="between",
                        align="center",
                        spacing="3",
                        wrap="wrap",
                        width="100%",
                    ),
                    rx.text(_counted(Outbox.total, "message"), size="2", data_testid="mail-count"),
                    _table(
                        ["To", "Kind", "Subject", "Delivery", "Created (UTC)", "Sent", ""],
                        Outbox.rows,
                        _mail_row,
                        "No messages match this filter.",
                        "mail-table",
                    ),
                    pager(Outbox),
                    _message_dialog(),
                    spacing="3",
                    width="100%",
                ),
                _loading(),
            ),
            spacing="4",
            width="100%",
        ),
        subtitle="Mailbox",
    )
