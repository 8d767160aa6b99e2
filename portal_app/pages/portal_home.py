"""The signed-in pages: the customer's overview and the merchant's dashboard home."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.portal_layout import stacked_page
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


def _figure(label: str, value: rx.Var, none: str) -> rx.Component:
    """A card with one figure of the account, or `none` while it has none."""
    return rx.card(
        rx.text(label, size="2", color_scheme="gray"),
        rx.text(rx.cond(value != "", value, none), weight="bold"),
    )


def _listed(title: str, items: rx.Var, render, *after: rx.Component, empty: str) -> rx.Component:
    """A section listing `items` (then `after`), or the `empty` line while there are none."""
    return ui.section_card(
        title,
        rx.foreach(items, render),
        *after,
        empty_when=items.length() == 0,
        empty_text=empty,
    )


def portal_home() -> rx.Component:
    return stacked_page(
        "Overview",
        None,
        PortalState.loaded,
        rx.text("Hello, ", PortalState.customer_name, size="4", data_testid="greeting"),
        ui.message_callout(
            PortalState.expiring, icon="credit-card", color="amber", testid="expiring-card"
        ),
        rx.grid(
            _figure("Next invoice", PortalState.next_invoice, "Nothing scheduled"),
            _figure("Default card", PortalState.default_card, "No card on file"),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="3",
            width="100%",
        ),
        _listed(
            "Open invoices",
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
            empty="Nothing to pay. You are all set.",
        ),
        _listed(
            "Subscriptions",
            PortalState.subscriptions,
            lambda s: _row(
                rx.text(s.plan, weight="medium"),
                rx.badge(s.status),
                rx.text("Period ends ", s.renews, size="2", color_scheme="gray"),
            ),
            rx.link("Manage subscriptions", href=routes.SUBSCRIPTIONS, size="2"),
            empty="You have no subscriptions.",
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
        fallback=ui.loading(label=None, padding="4rem"),
    )
