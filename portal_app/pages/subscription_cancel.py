"""/subscriptions/<id>/cancel: the cancellation flow, one step at a time."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.portal_form import form_stack
from portal_app.components.portal_layout import portal_layout
from portal_app.components.ui import secondary_button
from portal_app.services import features
from portal_app.state.subscription_cancel import CancelFlowState as Flow


def _survey() -> rx.Component:
    return form_stack(
        rx.heading("Why are you leaving?", size="4", as_="h2"),
        rx.radio_group.root(
            rx.vstack(
                rx.foreach(
                    Flow.reasons,
                    lambda r: rx.radio_group.item(rx.text(r.label), value=r.key),
                ),
                spacing="2",
            ),
            name="reason",
            required=True,
            on_change=Flow.choose_reason,
        ),
        rx.el.label(
            rx.cond(
                Flow.chosen_reason == features.OTHER_REASON,
                "What is your reason? (optional)",
                "Anything else we should know? (optional)",
            ),
            html_for="cancel-comment",
            font_size="0.875rem",
        ),
        rx.text_area(
            name="comment",
            id="cancel-comment",
            max_length=2000,
            rows=rx.cond(Flow.chosen_reason == features.OTHER_REASON, "4", "2"),
            width="100%",
        ),
        ui.error_callout(Flow.error),
        _or_keep(rx.button("Continue", type="submit", data_testid="survey-continue")),
        on_submit=Flow.submit_survey,
    )


def _or_keep(step_button: rx.Component) -> rx.Component:
    """A step's own button beside "Keep my subscription" (the survey and the final confirm)."""
    return rx.flex(
        step_button,
        secondary_button("Keep my subscription", type="button", on_click=Flow.keep),
        spacing="2",
        wrap="wrap",
    )


def _offer_card(title: str, text: rx.Var, *actions: rx.Component) -> rx.Component:
    """A save offer, shown only when the flow has one of this kind (its `text` is set)."""
    return rx.cond(
        text != "",
        rx.card(
            rx.vstack(
                rx.heading(title, size="3", as_="h3"),
                rx.text(text, size="2"),
                rx.flex(*actions, spacing="2", wrap="wrap"),
                spacing="2",
            ),
            width="100%",
        ),
    )


def _offers() -> rx.Component:
    return rx.vstack(
        rx.heading("Before you go", size="4", as_="h2"),
        _offer_card(
            "A discount to stay",
            Flow.discount_text,
            rx.button(
                "Accept the discount",
                on_click=Flow.take_discount,
                data_testid="accept-discount",
            ),
        ),
        _offer_card(
            "Pause instead",
            Flow.pause_text,
            rx.form(
                rx.hstack(
                    rx.input(type="date", name="resume_on", aria_label="Resume on"),
                    rx.button("Pause instead", type="submit", data_testid="accept-pause"),
                    wrap="wrap",
                ),
                on_submit=Flow.take_pause,
            ),
        ),
        _offer_card(
            "A cheaper plan",
            Flow.downgrade_text,
            rx.button("Switch plan", on_click=Flow.take_downgrade, data_testid="accept-downgrade"),
        ),
        ui.error_callout(Flow.error),
        rx.flex(
            rx.button(
                "No thanks, cancel",
                variant="soft",
                color_scheme="red",
                on_click=Flow.go_to_confirm,
                data_testid="decline-offers",
            ),
            secondary_button("Keep my subscription", on_click=Flow.keep),
            spacing="2",
            wrap="wrap",
        ),
        spacing="3",
        width="100%",
    )


def _confirm() -> rx.Component:
    return form_stack(
        rx.heading("Cancel your subscription?", size="4", as_="h2"),
        rx.cond(
            Flow.cancel_choice,
            rx.radio_group.root(
                rx.vstack(
                    rx.radio_group.item(
                        rx.text("At the end of the billing period (keep access until then)"),
                        value="period_end",
                    ),
                    rx.radio_group.item(rx.text("Now"), value="now"),
                    spacing="2",
                ),
                name="when",
                default_value="period_end",
            ),
            rx.text(
                "Cancellation takes effect as your plan's terms say; you can "
                "reactivate while it is pending.",
                size="2",
            ),
        ),
        ui.error_callout(Flow.error),
        _or_keep(
            rx.button(
                "Cancel subscription",
                type="submit",
                color_scheme="red",
                data_testid="confirm-cancel",
            )
        ),
        on_submit=Flow.confirm,
    )


def cancel_page() -> rx.Component:
    return portal_layout(
        "Cancel subscription",
        "subscriptions.cancel",
        rx.card(
            rx.match(
                Flow.step,
                ("survey", _survey()),
                ("offers", _offers()),
                ("confirm", _confirm()),
                (
                    "done",
                    rx.vstack(
                        ui.message_callout(
                            Flow.done_message,
                            icon="circle-check",
                            color="green",
                            testid="flow-done",
                        ),
                        ui.error_callout(Flow.error),
                        rx.link(rx.button("Back to subscriptions"), href=routes.SUBSCRIPTIONS),
                        spacing="3",
                    ),
                ),
                ui.loading(padding="2rem"),
            ),
            width="100%",
            max_width="40rem",
        ),
    )
