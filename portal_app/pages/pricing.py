"""Landing page: the demo merchant's plans with monthly and annual prices, and Subscribe links to
each public plan's checkout (`/buy/<slug>?interval=…`, an HTTP route: plain links, full page
loads)."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell, ui
from portal_app.state import PricingState


def _price_line(amount: rx.Var, unit: str, testid: str) -> rx.Component:
    return rx.cond(
        amount != "",
        rx.hstack(
            rx.text(amount, size="6", weight="bold", data_testid=testid),
            rx.text(unit, size="2", color_scheme="gray"),
            align="baseline",
            spacing="1",
        ),
    )


def _buy_button(plan: rx.Var, link: rx.Var, interval: str, adverb: str) -> rx.Component:
    label = rx.cond(plan.trial != "", f"Start free trial, then {adverb}", f"Subscribe {adverb}")
    return rx.cond(
        link != "",
        rx.button(
            rx.el.a(label, href=link, reload_document=True),  # an HTTP route, not a page
            as_child=True,
            size="3",
            variant="solid" if interval == "month" else "soft",
            width="100%",
            aria_label=label + ": " + plan.name,  # the visible words first, then the plan
            data_testid=f"subscribe-{interval}",
        ),
    )


def _plan_card(plan: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(plan.name, size="5", as_="h3", data_testid="plan-name"),
                rx.cond(
                    plan.savings != "",
                    rx.badge(plan.savings, color_scheme="green", variant="soft"),
                ),
                justify="between",
                align="center",
                width="100%",
                wrap="wrap",
            ),
            rx.text(plan.product, size="1", color_scheme="gray", weight="medium"),
            rx.cond(
                plan.description != "",
                rx.text(plan.description, size="2", color_scheme="gray"),
            ),
            rx.separator(size="4"),
            _price_line(plan.monthly, "/ month", "price-monthly"),
            _price_line(plan.annual, "/ year", "price-annual"),
            rx.cond(
                plan.features != "",
                rx.text(plan.features, size="2"),
            ),
            rx.cond(
                plan.entitlements != "",
                rx.text(plan.entitlements, size="2", data_testid="plan-entitlements"),
            ),
            rx.cond(
                plan.trial != "",
                rx.badge(plan.trial, color_scheme="green", size="2", data_testid="plan-trial"),
            ),
            rx.cond(
                (plan.monthly_link != "") | (plan.annual_link != ""),
                rx.vstack(
                    _buy_button(plan, plan.monthly_link, "month", "monthly"),
                    _buy_button(plan, plan.annual_link, "year", "annually"),
                    spacing="2",
                    width="100%",
                ),
            ),
            spacing="3",
            align="start",
            width="100%",
        ),
        size="3",
        width="100%",
        data_testid="plan-card",
    )


def _plans() -> rx.Component:
    return rx.cond(
        PricingState.error != "",
        ui.error_callout(
            PricingState.error, icon="triangle_alert", role=None, width="100%", when_set=False
        ),
        rx.cond(
            PricingState.plans.length() > 0,
            rx.grid(
                rx.foreach(PricingState.plans, _plan_card),
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                spacing="4",
                width="100%",
            ),
            ui.empty_state(
                rx.text(
                    "No plans are published yet. Seed the demo merchant with ",
                    rx.code("python -m portal_app.cli seed-demo"),
                    ".",
                ),
                testid="empty-catalog",
            ),
        ),
    )


def landing() -> rx.Component:
    return page_shell(
        rx.vstack(
            rx.vstack(
                rx.heading(
                    rx.cond(PricingState.merchant_name != "", PricingState.merchant_name, "Plans"),
                    size=rx.breakpoints(initial="7", sm="8"),
                    as_="h1",
                    data_testid="merchant-name",
                ),
                rx.text(
                    "Plans and prices. Pay monthly, or yearly for less.",
                    size="3",
                    color_scheme="gray",
                ),
                spacing="2",
            ),
            rx.cond(PricingState.loaded, _plans(), ui.loading(skeletons=3)),
            spacing="6",
            width="100%",
        ),
        subtitle="Billing portal",
    )
