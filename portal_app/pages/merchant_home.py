"""The merchant's dashboard home: who is signed in, the headline counts and the audit chain."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import page_shell, ui
from portal_app.components.merchant_nav import merchant_nav
from portal_app.components.portal_layout import sign_out_button, title_bar
from portal_app.state import MerchantState


def merchant_home() -> rx.Component:
    return page_shell(
        rx.cond(
            MerchantState.merchant_name != "",
            rx.vstack(
                merchant_nav(),
                title_bar(
                    rx.heading(
                        MerchantState.merchant_name,
                        " dashboard",
                        size="6",
                        as_="h1",
                        data_testid="merchant-heading",
                    ),
                    sign_out_button(staff=True),
                ),
                rx.hstack(
                    rx.text("Signed in as ", MerchantState.staff_email, color_scheme="gray"),
                    ui.role_badge(),
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
                rx.link("Overdue invoices", href=f"{routes.MERCHANT_INVOICES}?status=overdue"),
                spacing="4",
                width="100%",
            ),
            ui.loading(label=None, padding="4rem"),
        ),
        subtitle="Merchant",
    )
