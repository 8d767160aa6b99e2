"""Merchant dashboard → Billing clock: the merchant's time, running the clock now, and a demo
merchant's test clock (admins). Controls a member's role can't use are hidden (`staff_can`);
every handler checks the role on the server."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.merchant_header import read_only_note, staff_button, staff_can
from portal_app.state.merchant_billing import MerchantBillingState as Billing


def billing_page() -> rx.Component:
    return ui.merchant_page(
        "Billing clock",
        read_only_note("admin", "the billing clock"),
        rx.card(
            rx.vstack(
                rx.text("Merchant time: ", Billing.merchant_now, weight="medium"),
                staff_button("admin", "Run the billing clock now", Billing.run_now),
                spacing="2",
            ),
            width="100%",
        ),
        rx.cond(
            Billing.is_demo,
            rx.card(
                rx.vstack(
                    rx.heading("Test clock", size="4", as_="h2"),
                    rx.text(
                        "Move this demo merchant's time forward: renewals, retries, pauses "
                        "and cancellations happen as they would.",
                        size="2",
                    ),
                    rx.cond(
                        staff_can("admin"),
                        rx.flex(
                            *[
                                rx.button(
                                    f"+{days} days",
                                    on_click=Billing.start_advance(days),
                                    disabled=Billing.working,
                                    data_testid=f"advance-{days}",
                                )
                                for days in (1, 7, 30, 90)
                            ],
                            spacing="2",
                            wrap="wrap",
                        ),
                    ),
                    rx.cond(
                        Billing.working,
                        rx.hstack(
                            rx.spinner(),
                            rx.text("Running the billing clock…"),
                            align="center",
                            data_testid="clock-working",
                        ),
                    ),
                    spacing="3",
                ),
                width="100%",
            ),
        ),
        ui.message_callout(Billing.last_report, icon="clock", testid="clock-report"),
        ui.error_callout(Billing.error, icon=None),
        subtitle="Billing",
        spacing="3",
    )
