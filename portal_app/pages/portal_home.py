"""The signed-in pages: the customer's overview and the merchant's dashboard home."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.portal_layout import portal_layout
from portal_app.state import PortalState


def _row(*children) -> rx.Component:
    return rx.flex(
        *children,
        justify="between",
        align="center",
        spacing="3",
        wrap="wrap",
        width="100%",
        padding_y="0.25rem",
    )


def portal_home() -> rx.Component:
    return portal_layout(
        "Overview",
        None,
        rx.cond(
            PortalState.loaded,
            rx.vstack(
                rx.text("Hello, ", PortalState.customer_name, size="4", data_testid="greeting"),
                rx.cond(
                    PortalState.expiring != "",
                    rx.callout(
                        PortalState.expiring,
                        icon="credit-card",
                        color_scheme="amber",
                        data_testid="expiring-card",
                    ),
                ),
                rx.grid(
                    rx.card(
                        rx.text("Next invoice", size="2", color_scheme="gray"),
                        rx.text(
                            rx.cond(
                                PortalState.next_invoice != "",
                                PortalState.next_invoice,
                                "Nothing scheduled",
                            ),
                            weight="bold",
                        ),
                    ),
                    rx.card(
                        rx.text("Default card", size="2", color_scheme="gray"),
                        rx.text(
                            rx.cond(
                                PortalState.default_card != "",
                                PortalState.default_card,
                                "No card on file",
                            ),
                            weight="bold",
                        ),
                    ),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                ui.section_card(
                    "Open invoices",
                    rx.foreach(
                        PortalState.open_invoices,
                        lambda i: _row(
                            rx.link(
                                i.number,
                                href=routes.INVOICE.replace("[id]", f"{i.id}"),
                                weight="medium",
                            ),
                            rx.text(i.amount),
                            rx.button(
                                "Pay now",
                                on_click=PortalState.pay_invoice(i.id),
                                data_testid="pay-invoice",
                            ),
                        ),
                    ),
                    empty_when=PortalState.open_invoices.length() == 0,
                    empty_text="Nothing to pay. You are all set.",
                ),
                ui.section_card(
                    "Subscriptions",
                    rx.foreach(
                        PortalState.subscriptions,
                        lambda s: _row(
                            rx.text(s.plan, weight="medium"),
                            rx.badge(s.status),
                            rx.text("Period ends ", s.renews, size="2", color_scheme="gray"),
                        ),
                    ),
                    rx.link("Manage subscriptions", href=routes.SUBSCRIPTIONS, size="2"),
                    empty_when=PortalState.subscriptions.length() == 0,
                    empty_text="You have no subscriptions.",
                ),
                ui.section_card(
                    "Where you are signed in",
                    rx.foreach(
                        PortalState.sessions,
                        lambda s: _row(
                            rx.text(s.device, size="2"),
                            rx.text(s.ip, " · ", s.last_seen, size="1", color_scheme="gray"),
                            rx.cond(
                                s.current == "yes",
                                rx.badge("This device"),
                                rx.button(
                                    "Sign out",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=PortalState.end_session(s.id),
                                ),
                            ),
                        ),
                    ),
                    body_spacing="2",
                ),
                spacing="4",
                width="100%",
            ),
            ui.loading(label=None, padding="4rem"),
        ),
    )
