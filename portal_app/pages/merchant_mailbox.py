"""Merchant dashboard → Mailbox: the outbox with delivery status, a message in a dialog (sealed
sign-in mail never), and queueing failed messages again (admins)."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.billing_lists import billing_page, filters, nowrap_cell, status_badge
from portal_app.components.merchant_header import staff_can
from portal_app.components.page_parts import trigger_dialog
from portal_app.components.ui import secondary_button
from portal_app.state.merchant_mailbox import OUTBOX_FILTER_LABELS
from portal_app.state.merchant_mailbox import MerchantOutboxState as Outbox


def _delivery(r) -> rx.Component:
    return rx.vstack(
        status_badge(r["status"]),
        rx.cond(
            r["attempts"] != "0",
            rx.text(r["attempts"], " attempts", size="1", color_scheme="gray"),
        ),
        ui.optional_text(r["error"], size="1", color_scheme="red"),
        spacing="1",
    )


def _mail_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["to"], style={"overflow_wrap": "anywhere"})),
        nowrap_cell(r["kind"]),
        rx.table.cell(rx.text(r["subject"])),
        rx.table.cell(_delivery(r)),
        nowrap_cell(r["created"]),
        nowrap_cell(r["sent"]),
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
            rx.dialog.title(opened.subject),
            rx.dialog.description(
                "To ",
                opened["to"],
                " · ",
                opened.kind,
                " · ",
                opened.status,
                size="2",
            ),
            rx.cond(
                opened.sealed == "yes",
                rx.callout(
                    "sealed: this message carries a sign-in link, which is a secret.",
                    icon="lock",
                    color_scheme="gray",
                ),
                rx.box(
                    rx.text(
                        opened.body,
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
            ui.dialog_actions(
                rx.dialog.close(secondary_button("Close", on_click=Outbox.close_message(False)))
            ),
        ),
        open=opened.contains("id"),
        on_open_change=Outbox.close_message,
    )


def _retry_dialog() -> rx.Component:
    return trigger_dialog(
        rx.button(
            "Retry failed (",
            Outbox.retryable,
            ")",
            variant="soft",
            color_scheme="amber",
            disabled=Outbox.retryable == 0,
            data_testid="retry-failed",
        ),
        "Queue the failed messages again?",
        "They get a fresh set of delivery attempts on the next mail run. Sign-in links "
        "are not retried: they have expired, and the customer can ask for a new one.",
        keep="Keep them",
        action=rx.button("Retry", on_click=Outbox.retry_failed, data_testid="confirm-retry"),
    )


def mailbox_page() -> rx.Component:
    return billing_page(
        "Mailbox",
        Outbox,
        intro=(
            rx.text(
                "Every message the portal queued for your customers, with its delivery status. "
                "Without a mail server messages stay queued here. Sign-in and email-change "
                "messages are sealed: their links are secrets and are never shown.",
                size="2",
                color_scheme="gray",
            ),
        ),
        filter_bar=rx.flex(
            filters(Outbox, OUTBOX_FILTER_LABELS, "Delivery status", Outbox.counts),
            rx.cond(staff_can("admin"), _retry_dialog()),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        noun="message",
        count_testid="mail-count",
        headers=["To", "Kind", "Subject", "Delivery", "Created (UTC)", "Sent", ""],
        render=_mail_row,
        testid="mail-table",
        after=(_message_dialog(),),
    )
