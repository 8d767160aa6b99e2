"""The hosted checkout page, /checkout/<id>: what is bought and the first invoice on one side, the
buyer's details and card on the other (stacked on a phone), one Confirm button. Expired and
completed sessions get a page of their own."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import gateway_js, page_shell, ui
from portal_app.components.portal_form import field_label, form_stack, test_card_note
from portal_app.pages.profile import ADDRESS_LABELS
from portal_app.services.profile import ADDRESS_REQUIRED
from portal_app.state.checkout import CheckoutState
from portal_app.state.profile import ADDRESS_FIELDS

S = CheckoutState.shown
_ADDRESS_AUTOCOMPLETE = {
    "line1": "address-line1",
    "line2": "address-line2",
    "city": "address-level2",
    "postal_code": "postal-code",
    "state": "address-level1",
    "country": "country",
}


def _input(label: str, control_id: str, auto_complete: str, **props) -> rx.Component:
    """A label and its full-width input (`props` as for `rx.input`: required, default_value)."""
    return rx.vstack(
        field_label(label, control_id),
        rx.input(
            id=control_id,
            name=props.pop("name", control_id),
            auto_complete=auto_complete,
            width="100%",
            size="3",
            **props,
        ),
        spacing="1",
        width="100%",
    )


# --- what is bought, and the first invoice ------------------------------------------------------


def _interval_switch() -> rx.Component:
    def option(interval: str, label: str) -> rx.Component:
        current = S.interval == interval
        return rx.button(
            label,
            type="button",
            variant=rx.cond(current, "solid", "outline"),
            aria_pressed=rx.cond(current, "true", "false"),
            on_click=CheckoutState.switch_interval(interval),
            data_testid=f"interval-{interval}",
        )

    return rx.cond(
        S.can_switch_interval,
        rx.vstack(
            rx.hstack(
                option("month", "Monthly"),
                option("year", "Annual"),
                spacing="2",
                role="group",
                aria_label="Billing cycle",
            ),
            rx.text(S.other_interval_label, size="2", color_scheme="green", data_testid="saving"),
            spacing="2",
        ),
    )


def _quote_line(line: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.text(line.description, size="2"),
        rx.text(line.amount, size="2", weight="medium", white_space="nowrap"),
        justify="between",
        align="start",
        width="100%",
        spacing="3",
        data_testid="quote-line",
    )


def _total_row(label: str, value: rx.Var, testid: str, *, strong: bool = False) -> rx.Component:
    weight = "bold" if strong else "medium"
    return rx.hstack(
        rx.text(label, size="3", weight=weight),
        rx.text(value, size="3", weight=weight, data_testid=testid),
        justify="between",
        width="100%",
    )


def _code_form() -> rx.Component:
    applied = rx.hstack(
        rx.badge(S.code_applied, color_scheme="green", size="2", data_testid="code-applied"),
        ui.secondary_button(
            "Remove",
            size="1",
            type="button",
            on_click=CheckoutState.remove_code,
            data_testid="remove-code",
        ),
        align="center",
        spacing="2",
        wrap="wrap",
    )
    entry = form_stack(
        field_label("Discount code", "code"),
        rx.hstack(
            rx.input(
                id="code",
                name="code",
                auto_complete="off",
                max_length=64,
                width="100%",
                data_testid="code-input",
            ),
            rx.button("Apply", type="submit", variant="soft", data_testid="apply-code"),
            width="100%",
            spacing="2",
        ),
        spacing="1",
        on_submit=CheckoutState.apply_code,
        reset_on_submit=False,
        width="100%",
    )
    return rx.vstack(
        rx.cond(S.code_applied != "", applied, entry),
        ui.error_text(CheckoutState.code_error, testid="code-error"),
        rx.cond(
            S.code_problem != "",
            rx.text(S.code_problem, size="2", color_scheme="red", role="alert"),
        ),
        spacing="2",
        width="100%",
    )


def _summary() -> rx.Component:
    return ui.card_stack(
        rx.text(S.merchant_name, size="2", color_scheme="gray", weight="medium"),
        rx.heading(S.title, size="6", as_="h1", data_testid="checkout-title"),
        ui.optional_text(S.description, size="2", color_scheme="gray"),
        rx.hstack(
            rx.text(S.price_label, size="5", weight="bold", data_testid="price-label"),
            rx.cond(
                S.trial_label != "",
                rx.badge(S.trial_label, color_scheme="green", size="2", data_testid="trial"),
            ),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        _interval_switch(),
        rx.cond(
            S.features.length() > 0,
            rx.el.ul(
                rx.foreach(S.features, lambda f: rx.el.li(rx.text(f, size="2"))),
                style={"padding_left": "1.2rem", "margin": "0"},
            ),
        ),
        rx.separator(size="4"),
        rx.heading("First invoice", size="3", as_="h2"),
        rx.vstack(rx.foreach(S.lines, _quote_line), spacing="2", width="100%"),
        _code_form(),
        rx.separator(size="4"),
        _total_row("Total", S.total, "quote-total"),
        _total_row("Due today", S.due_today, "due-today", strong=True),
        ui.optional_text(S.next_renewal, size="2", color_scheme="gray", data_testid="next-renewal"),
        spacing="3",
        testid="checkout-summary",
    )


# --- who is buying, and the card ---------------------------------------------------------------


def _address(prefix: str, title: str, values: rx.Var) -> rx.Component:
    def control(key: str) -> rx.Component:
        return _input(
            ADDRESS_LABELS[key],
            f"{prefix}_{key}",
            f"{prefix} {_ADDRESS_AUTOCOMPLETE[key]}",
            default_value=values[key].to(str),
            required=key in ADDRESS_REQUIRED,
            max_length=2 if key == "country" else 200,
        )

    return rx.el.fieldset(
        rx.el.legend(rx.text(title, weight="bold", size="3")),
        rx.grid(
            *[control(key) for key in ADDRESS_FIELDS],
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="3",
            width="100%",
        ),
        style={"border": "0", "padding": "0", "margin": "0", "width": "100%"},
    )


def _who() -> list[rx.Component]:
    signed_in = rx.callout(
        rx.text("Signed in as ", rx.text.strong(S.customer_signed_in_email), "."),
        icon="user-check",
        color_scheme="green",
        data_testid="signed-in-as",
    )
    email = _input(
        "Email",
        "email",
        "email",
        type="email",
        required=True,
        max_length=320,
        default_value=S.email,
    )
    return [
        rx.cond(S.customer_signed_in_email != "", signed_in, email),
        _input("Name", "name", "name", required=True, max_length=200, default_value=S.name),
    ]


def _card() -> rx.Component:
    return rx.cond(CheckoutState.gateway_form, _gateway_card(), _own_card())


def _card_fieldset(*children: rx.Component) -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend(rx.text("Card", weight="bold", size="3")),
        rx.vstack(*children, spacing="3", width="100%"),
        style={"border": "0", "padding": "0", "margin": "0", "width": "100%"},
    )


def _no_card_needed(later: str) -> rx.Component:
    return rx.text(f"No card needed for the trial; {later}", size="2", color_scheme="gray")


def _gateway_card() -> rx.Component:
    """Stripe's card field (Stripe.js): the number goes from it to Stripe only."""
    return _card_fieldset(
        rx.cond(
            ~S.card_required,
            _no_card_needed("add one later in your billing portal."),
            gateway_js.card_field(CheckoutState.card_form_ready),
        ),
    )


def _own_card() -> rx.Component:
    return _card_fieldset(
        rx.cond(~S.card_required, _no_card_needed("add one now to keep the plan after it.")),
        _input(
            "Card number",
            "number",
            "cc-number",
            input_mode="numeric",
            placeholder="4242 4242 4242 4242",
            required=S.card_required,
            max_length=23,
        ),
        rx.flex(
            _input(
                "Expiry",
                "expiry",
                "cc-exp",
                placeholder="MM/YY",
                required=S.card_required,
                max_length=7,
            ),
            _input(
                "CVC",
                "cvc",
                "cc-csc",
                input_mode="numeric",
                required=S.card_required,
                max_length=4,
            ),
            spacing="3",
            width="100%",
        ),
        test_card_note(),
    )


def _confirm_label() -> rx.Var:
    return rx.cond(
        S.trial_label != "",
        "Start free trial",
        rx.cond(S.mode == "payment", "Pay " + S.due_today, "Subscribe and pay " + S.due_today),
    )


def _details() -> rx.Component:
    return ui.card_stack(
        rx.heading("Your details", size="4", as_="h2"),
        form_stack(
            *_who(),
            rx.cond(
                S.needs_billing_address,
                _address("billing", "Billing address", S.billing_address),
            ),
            rx.cond(
                S.needs_shipping_address,
                _address("shipping", "Shipping address", S.shipping_address),
            ),
            _card(),
            ui.error_callout(CheckoutState.form_error, testid="form-error", width="100%"),
            ui.message_callout(
                CheckoutState.notice, icon="mail", color="blue", role="status", testid="notice"
            ),
            rx.button(
                _confirm_label(),
                type="submit",
                size="3",
                width="100%",
                loading=CheckoutState.confirming,
                disabled=CheckoutState.confirming,
                data_testid="confirm",
            ),
            rx.text("Link valid until ", S.expires_at_label, ".", size="1", color_scheme="gray"),
            on_submit=CheckoutState.confirm,
            key=CheckoutState.form_key,
            width="100%",
        ),
        spacing="3",
        testid="checkout-details",
    )


# --- the page ---------------------------------------------------------------------------------


def _message(title: str, text: str, action: rx.Component, testid: str) -> rx.Component:
    return rx.center(
        ui.card_stack(
            rx.heading(title, size="6", as_="h1"),
            rx.text(text, color_scheme="gray"),
            action,
            spacing="4",
            testid=testid,
            max_width="28rem",
        ),
        width="100%",
    )


def _open() -> rx.Component:
    return rx.grid(
        _summary(),
        _details(),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="5",
        width="100%",
        align_items="start",
    )


def _body() -> rx.Component:
    return rx.cond(
        CheckoutState.missing,
        _message(
            "This checkout link is not valid",
            "Check the link, or choose a plan again.",
            rx.link(rx.button("See plans and prices", size="3"), href=routes.PRICING),
            "checkout-missing",
        ),
        rx.match(
            S.status,
            (
                "expired",
                _message(
                    "This checkout link has expired",
                    "Checkout links work for 24 hours. Start again with the same plan.",
                    rx.button(
                        "Start again",
                        size="3",
                        on_click=CheckoutState.renew,
                        data_testid="start-again",
                    ),
                    "checkout-expired",
                ),
            ),
            (
                "completed",
                _message(
                    "Already paid",
                    "This checkout is complete. Your subscriptions, invoices and receipts are "
                    "in your portal.",
                    rx.link(
                        rx.button("Go to your portal", size="3"),
                        href=routes.PORTAL_HOME,
                        data_testid="go-to-portal",
                    ),
                    "checkout-completed",
                ),
            ),
            _open(),
        ),
    )


def checkout_page() -> rx.Component:
    return page_shell(
        ui.when_loaded(CheckoutState.loaded, _body()),
        subtitle=rx.cond(S.merchant_name != "", S.merchant_name, "Checkout"),
    )
