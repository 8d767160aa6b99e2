"""Sign-in pages: the customer's magic-link form, the dev mailbox and the staff password form."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell, ui
from portal_app.state import MailboxState


def mailbox() -> rx.Component:
    return page_shell(
        rx.vstack(
            rx.heading("Dev mailbox", size="6", as_="h1"),
            rx.cond(
                MailboxState.enabled & MailboxState.local,
                rx.vstack(
                    rx.callout(
                        "Development only: the outbox as a mailbox, because no mail server is "
                        "configured. Never enable this in production.",
                        icon="flask-conical",
                        color_scheme="amber",
                    ),
                    rx.button("Refresh", on_click=MailboxState.load, variant="soft"),
                    ui.foreach_or_empty(
                        MailboxState.messages,
                        _message,
                        rx.text("No mail yet.", color_scheme="gray"),
                    ),
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    MailboxState.enabled,
                    rx.callout(
                        "The dev mailbox is only for local use: open it in a browser on the "
                        "machine that runs the server (http://localhost:<port>/dev/mailbox), not "
                        "from another computer or through a proxy.",
                        icon="lock",
                        color_scheme="red",
                        data_testid="mailbox-local-only",
                    ),
                    rx.callout(
                        "The dev mailbox is turned off on this server.",
                        icon="lock",
                        data_testid="mailbox-off",
                    ),
                ),
            ),
            spacing="4",
            width="100%",
        ),
        subtitle="Dev mailbox",
    )


def _message(message: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(message.subject, weight="bold"),
                rx.badge(message.kind),
                justify="between",
                width="100%",
                wrap="wrap",
            ),
            rx.text("To: ", message["to"], " · ", message.when, size="1", color_scheme="gray"),
            rx.text(
                message.body,
                white_space="pre-wrap",
                size="2",
                style={"overflow_wrap": "anywhere"},
                data_testid="mail-body",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="mail",
    )
