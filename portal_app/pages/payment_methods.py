"""Customer pages: subscriptions (change with preview, pause, resume, reactivate) and payment
methods (add, default, remove with confirmation, expiry)."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import gateway_js, ui
from portal_app.components.page_parts import confirm_dialog
from portal_app.components.portal_form import (
    Labelled,
    form_stack,
    labelled_input,
    test_card_note,
)
from portal_app.components.portal_layout import portal_layout, stacked_page
from portal_app.components.ui import secondary_button
from portal_app.state.nav import NavState
from portal_app.state.payment_methods import CardsState


def _card_row(card: rx.Var) -> rx.Component:
    return ui.row_card(
        rx.hstack(
            rx.icon("credit-card"),
            rx.vstack(
                rx.text(card.brand, " •••• ", card.last4, weight="medium"),
                rx.text("Expires ", card.expiry, size="1", color_scheme="gray"),
                spacing="0",
            ),
            rx.cond(card.default == "yes", rx.badge("Default", color_scheme="green")),
            align="center",
            spacing="3",
        ),
        rx.flex(
            rx.cond(
                card.default != "yes",
                rx.button(
                    "Make default", variant="soft", on_click=CardsState.make_default(card.id)
                ),
            ),
            secondary_button("Update expiry", on_click=CardsState.start_edit(card.id)),
            rx.button(
                "Remove",
                variant="ghost",
                color_scheme="red",
                on_click=CardsState.ask_remove(card.id),
                data_testid="remove-card",
            ),
            spacing="2",
            wrap="wrap",
        ),
        testid="card-row",
    )


def _remove_dialog() -> rx.Component:
    return confirm_dialog(
        "Remove this card?",
        "You can add it again later.",
        keep="Keep card",
        on_keep=CardsState.cancel_remove,
        action="Remove card",
        on_confirm=CardsState.remove(CardsState.confirm_remove_id),
        color="red",
        testid="confirm-remove",
        open=CardsState.confirm_remove_id != "",
    )


def _expiry_form() -> rx.Component:
    return rx.cond(
        CardsState.editing_id != "",
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Update expiry", size="3", as_="h2"),
                    rx.input(
                        name="expiry",
                        placeholder="MM/YY",
                        required=True,
                        auto_complete="cc-exp",
                        aria_label="New expiry",
                    ),
                    ui.error_text(CardsState.edit_error),
                    rx.hstack(
                        rx.button("Save", type="submit"),
                        secondary_button("Cancel", type="button", on_click=CardsState.stop_edit),
                    ),
                    spacing="3",
                ),
                on_submit=CardsState.update_expiry,
            ),
            width="100%",
        ),
    )


def payment_methods_page() -> rx.Component:
    return stacked_page(
        "Payment methods",
        "payment_methods.view",
        CardsState.loaded,
        _expiry_form(),
        ui.foreach_or_empty(
            CardsState.cards, _card_row, rx.callout("No saved cards yet.", icon="info")
        ),
        rx.cond(
            NavState.enabled["payment_methods.add"],
            rx.link(rx.button("Add a card", size="3"), href=routes.PAYMENT_METHOD_NEW),
        ),
        _remove_dialog(),
    )


def _card_input(label: str, control_id: str, auto_complete: str, **props) -> Labelled:
    """A card detail, large and full-width."""
    return labelled_input(label, control_id, auto_complete, width="100%", size="3", **props)


def _gateway_card_form() -> rx.Component:
    """Stripe's own card field (Stripe.js, mounted by CardsState.open_card_form): the number
    goes from it to Stripe, never to this server."""
    return form_stack(
        rx.text("Card", as_="label", html_for=gateway_js.CARD_ELEMENT_ID, weight="medium"),
        gateway_js.card_field(CardsState.card_form_ready),
        rx.checkbox("Make this my default card", name="make_default"),
        ui.error_callout(CardsState.add_error, testid="card-error"),
        rx.button(
            "Save card",
            type="submit",
            size="3",
            width="100%",
            loading=CardsState.saving,
            disabled=~CardsState.card_form_ready,
        ),
        on_submit=CardsState.submit_card_form,
    )


def new_card_page() -> rx.Component:
    return portal_layout(
        "Add a card",
        "payment_methods.add",
        rx.card(
            rx.cond(CardsState.gateway_form, _gateway_card_form(), _own_card_form()),
            width="100%",
            max_width="30rem",
        ),
    )


def _own_card_form() -> rx.Component:
    """The sandbox's form: the number passes through one event to the sandbox's vault."""
    return form_stack(
        *_card_input(
            "Card number",
            "number",
            "cc-number",
            input_mode="numeric",
            placeholder="4242 4242 4242 4242",
        ),
        rx.flex(
            rx.vstack(
                *_card_input("Expiry", "expiry", "cc-exp", placeholder="MM/YY"),
                width="100%",
            ),
            rx.vstack(*_card_input("CVC", "cvc", "cc-csc", input_mode="numeric"), width="100%"),
            spacing="3",
            width="100%",
        ),
        rx.checkbox("Make this my default card", name="make_default"),
        ui.error_callout(CardsState.add_error, testid="card-error"),
        rx.button("Save card", type="submit", size="3", width="100%"),
        test_card_note(),
        on_submit=CardsState.add_card,
        reset_on_submit=True,
    )
