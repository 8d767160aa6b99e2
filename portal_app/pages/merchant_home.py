"""The signed-in pages: the customer's overview and the merchant's dashboard home."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell
from portal_app.components.merchant_header import role_badge
from portal_app.components.merchant_nav import merchant_nav
from portal_app.components.portal_layout import sign_out_button
from portal_app.state import MerchantState


def merchant_home() -> rx.Component:
    return page_shell(
        rx.cond(
            MerchantState.merchant_name != "",
            rx.vstack(
                merchant_nav(),
                rx.flex(
                    rx.heading(
                        MerchantState.merchant_name,
                        " dashboard",
                        size="6",
                        as_="h1",
                        data_testid="merchant-heading",
                    ),
                    sign_out_button(staff=True),
                    justify="between",
                    align="center",
                    width="100%",
                    wrap="wrap",
                    spacing="3",
                ),
                rx.hstack(
                    rx.text("Signed in as ", MerchantState.staff_email, color_scheme="gray"),
                    role_badge(),
                    align="center",
                    wrap="wrap",
                ),
                rx.hstack(
                    rx.card(rx.text("Customers"), rx.heading(MerchantState.customers)),
                    rx.card(
                        rx.text("Active subscriptions"),
                        rx.heading(MerchantState.active_subscriptions),
                    ),
                    spacing="3",
                    wrap="wrap",
                ),
                rx.callout(MerchantState.audit_status, icon="shield-check"),
                rx.link("Overdue invoices", href="/merchant/invoices?status=overdue"),
                spacing="4",
                width="100%",
            ),
            rx.center(rx.spinner(size="3"), padding="4rem"),
        ),
        subtitle="Merchant",
    )
