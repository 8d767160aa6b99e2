"""Customer pages: subscriptions (change with preview, pause, resume, reactivate) and payment
methods (add, default, remove with confirmation, expiry)."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.page_parts import trigger_dialog
from portal_app.components.portal_layout import stacked_page
from portal_app.components.ui import secondary_button
from portal_app.state.nav import NavState
from portal_app.state.subscriptions import TIMING_LABELS, SubscriptionsState


def _change_panel() -> rx.Component:
    return ui.section_card(
        "Change plan",
        rx.flex(
            rx.foreach(
                SubscriptionsState.options,
                lambda o: rx.button(
                    rx.vstack(
                        rx.text(o.label, weight="bold"),
                        rx.text(o.amount, size="1"),
                        spacing="0",
                        align="start",
                    ),
                    variant=rx.cond(
                        SubscriptionsState.chosen_price_id == o.price_id, "solid", "outline"
                    ),
                    on_click=SubscriptionsState.choose_price(o.price_id),
                    height="auto",
                    padding="0.75rem",
                    data_testid="plan-option",
                ),
            ),
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(
            SubscriptionsState.allowed_timings.length() > 1,
            rx.hstack(
                rx.text("When:", weight="medium"),
                rx.foreach(
                    SubscriptionsState.allowed_timings,
                    lambda t: rx.button(
                        rx.match(t, *TIMING_LABELS.items(), t),
                        variant=rx.cond(SubscriptionsState.timing == t, "solid", "soft"),
                        on_click=SubscriptionsState.choose_timing(t),
                        size="2",
                        data_testid="timing-option",
                    ),
                ),
                wrap="wrap",
                align="center",
            ),
        ),
        rx.cond(
            SubscriptionsState.preview_summary != "",
            ui.confirm_panel(
                rx.foreach(
                    SubscriptionsState.preview_lines,
                    lambda line: rx.flex(
                        rx.text(line.description, size="2"),
                        rx.text(line.amount, size="2", weight="medium"),
                        justify="between",
                        width="100%",
                    ),
                ),
                rx.callout(
                    SubscriptionsState.preview_summary,
                    icon="info",
                    data_testid="preview-summary",
                ),
                confirm="Confirm change",
                on_confirm=SubscriptionsState.confirm_change,
                testid="confirm-change",
                on_cancel=SubscriptionsState.close_change,
            ),
        ),
        ui.error_callout(SubscriptionsState.preview_error),
        description="Pick a plan to see exactly what happens before you confirm.",
    )


def _subscription_card(sub: rx.Var) -> rx.Component:
    active = sub.status == "active"
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.vstack(
                    rx.heading(sub.plan, size="4", as_="h2"),
                    rx.text(sub.price, color_scheme="gray"),
                    spacing="1",
                ),
                rx.badge(
                    sub.status_label,
                    size="2",
                    color_scheme=rx.match(
                        sub.status,
                        ("active", "green"),
                        ("paused", "amber"),
                        ("past_due", "red"),
                        "gray",
                    ),
                ),
                justify="between",
                width="100%",
                wrap="wrap",
                spacing="2",
            ),
            rx.cond(
                sub.canceling == "yes",
                rx.callout(
                    rx.text("Ends on ", sub.period_end, ". You keep access until then."),
                    icon="calendar-x",
                    color_scheme="amber",
                ),
            ),
            rx.cond(sub.pending != "", rx.callout(sub.pending, icon="calendar-clock")),
            rx.cond(sub.discount != "", rx.badge(sub.discount, color_scheme="green")),
            rx.cond(
                sub.status == "paused",
                rx.text(
                    rx.cond(
                        sub.resume_at != "",
                        rx.text("Resumes on ", sub.resume_at),
                        "Paused until you resume it.",
                    ),
                    size="2",
                ),
            ),
            rx.cond(
                active & (sub.canceling != "yes"),
                rx.text("Renews on ", sub.period_end, size="2", color_scheme="gray"),
            ),
            rx.flex(
                rx.cond(
                    active
                    & (sub.canceling != "yes")
                    & (
                        NavState.enabled["subscriptions.upgrade"]
                        | NavState.enabled["subscriptions.downgrade"]
                        | NavState.enabled["subscriptions.change_interval"]
                    ),
                    rx.button(
                        "Change plan",
                        variant="soft",
                        on_click=SubscriptionsState.open_change(sub.id),
                    ),
                ),
                rx.cond(
                    sub.pending != "",
                    rx.button(
                        "Keep current plan",
                        variant="soft",
                        color_scheme="gray",
                        on_click=SubscriptionsState.undo_scheduled_change(sub.id),
                    ),
                ),
                rx.cond(
                    active & (sub.canceling != "yes") & NavState.enabled["subscriptions.pause"],
                    _pause_dialog(sub.id),
                ),
                rx.cond(
                    sub.status == "paused",
                    rx.button("Resume now", on_click=SubscriptionsState.resume(sub.id)),
                ),
                rx.cond(
                    ((sub.status == "paused") | (sub.status == "past_due"))
                    & NavState.enabled["subscriptions.cancel"],
                    _direct_cancel_dialog(sub.id),
                ),
                rx.cond(
                    active & (sub.canceling != "yes") & NavState.enabled["subscriptions.cancel"],
                    rx.link(
                        rx.button("Cancel subscription", variant="ghost", color_scheme="red"),
                        href=routes.SUBSCRIPTION_CANCEL.replace("[id]", f"{sub.id}"),
                    ),
                ),
                rx.cond(
                    ((sub.canceling == "yes") | (sub.status == "canceled"))
                    & NavState.enabled["subscriptions.reactivate"],
                    rx.button(
                        "Reactivate",
                        on_click=SubscriptionsState.reactivate(sub.id),
                        data_testid="reactivate",
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        data_testid="subscription",
    )


def _direct_cancel_dialog(subscription_id: rx.Var) -> rx.Component:
    """Paused and past-due subscriptions skip the save offers: they are not running."""
    return trigger_dialog(
        rx.button("Cancel subscription", variant="ghost", color_scheme="red"),
        "Cancel this subscription?",
        "A paused subscription ends now; otherwise it ends as your plan's terms say.",
        keep="Keep it",
        action=rx.button(
            "Cancel subscription",
            color_scheme="red",
            on_click=SubscriptionsState.cancel_direct(subscription_id),
        ),
    )


def _pause_dialog(subscription_id: rx.Var) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(rx.button("Pause", variant="soft", color_scheme="amber")),
        rx.dialog.content(
            rx.dialog.title("Pause your subscription"),
            rx.dialog.description(
                "Billing stops while paused. The paid time you have left is "
                "kept for when you come back."
            ),
            rx.form(
                rx.vstack(
                    rx.el.input(type="hidden", name="subscription_id", value=subscription_id),
                    rx.text("Resume on", as_="label", html_for="resume_on"),
                    rx.input(type="date", id="resume_on", name="resume_on"),
                    ui.error_text(SubscriptionsState.pause_error),
                    rx.flex(
                        rx.dialog.close(secondary_button("Keep it running", type="button")),
                        rx.button("Pause subscription", type="submit"),
                        spacing="2",
                        justify="end",
                    ),
                    spacing="3",
                ),
                on_submit=SubscriptionsState.pause,
            ),
        ),
    )


def subscriptions_page() -> rx.Component:
    return stacked_page(
        "Subscriptions",
        "subscriptions.view",
        SubscriptionsState.loaded,
        rx.cond(SubscriptionsState.changing_id != "", _change_panel()),
        ui.foreach_or_empty(
            SubscriptionsState.items,
            _subscription_card,
            rx.callout("You have no subscriptions yet.", icon="info"),
        ),
    )
