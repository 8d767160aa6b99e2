"""Sign-in pages: the customer's magic-link form, the dev mailbox and the staff password form."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell, ui
from portal_app.components.portal_form import Labelled, form_stack, labelled_input
from portal_app.components.post_form import post_form
from portal_app.state import LoginState


def _narrow(*children) -> rx.Component:
    return rx.center(
        rx.card(rx.vstack(*children, spacing="4", width="100%"), size="3", width="100%"),
        width="100%",
        max_width="26rem",
        margin_x="auto",
    )


def login() -> rx.Component:
    return page_shell(
        _narrow(
            rx.heading("Sign in to your billing portal", size="6", as_="h1"),
            ui.message_callout(LoginState.notice, icon="info", testid="login-notice"),
            rx.cond(
                LoginState.sent,
                rx.callout(
                    "If that address belongs to an account, a sign-in link is on its way. "
                    "It works once and expires in 15 minutes.",
                    icon="mail-check",
                    color_scheme="green",
                    data_testid="login-sent",
                ),
            ),
            ui.error_callout(LoginState.error, testid="login-error"),
            form_stack(
                *labelled_input(
                    "Email address",
                    "email",
                    "email",
                    type="email",
                    placeholder="you@example.com",
                    size="3",
                    width="100%",
                ),
                rx.button(
                    "Email me a sign-in link",
                    type="submit",
                    size="3",
                    width="100%",
                    loading=LoginState.submitting,
                ),
                on_submit=LoginState.request_link,
                reset_on_submit=False,
                width="100%",
            ),
            rx.text(
                "No password needed: we email you a link that signs you in.",
                size="2",
                color_scheme="gray",
            ),
        ),
        subtitle="Sign in",
    )


FIELD_STYLE = {
    "width": "100%",
    "padding": "10px",
    "border": "1px solid var(--gray-a7)",
    "border_radius": "6px",
}


def _staff_input(label: str, control_id: str, name: str, auto_complete: str) -> Labelled:
    """A plain input of the staff forms; `name` is also its type (email, password)."""
    return labelled_input(
        label, control_id, auto_complete, name=name, native=True, type=name, style=FIELD_STYLE
    )


def merchant_login() -> rx.Component:
    """A plain HTML form that posts to /auth/staff/login, so the password never enters state."""
    return page_shell(
        _narrow(
            rx.heading("Merchant sign-in", size="6", as_="h1"),
            ui.error_callout(LoginState.staff_error),
            ui.message_callout(LoginState.notice, icon="info"),
            post_form(
                rx.vstack(
                    *_staff_input("Email", "staff-email", "email", "username"),
                    *_staff_input("Password", "staff-password", "password", "current-password"),
                    rx.button("Sign in", type="submit", size="3", width="100%"),
                    spacing="3",
                    width="100%",
                ),
                action="/auth/staff/login",
                width="100%",
            ),
            # The way in when the password is forgotten or refused for the account (too many
            # wrong passwords from everywhere): a one-time link by email (http/staff_link.py).
            rx.el.details(
                rx.el.summary("Email me a sign-in link instead", style={"cursor": "pointer"}),
                post_form(
                    rx.vstack(
                        rx.text(
                            "We send a one-time link to your staff email. It works once, for "
                            "15 minutes.",
                            size="2",
                            color_scheme="gray",
                        ),
                        *_staff_input("Email", "staff-link-email", "email", "username"),
                        rx.button(
                            "Email me a sign-in link",
                            type="submit",
                            size="3",
                            variant="soft",
                            width="100%",
                        ),
                        spacing="3",
                        width="100%",
                        padding_top="12px",
                    ),
                    action="/auth/staff/link/request",
                    width="100%",
                ),
                data_testid="staff-link-request",
                style={"width": "100%"},
            ),
        ),
        subtitle="Merchant",
    )
