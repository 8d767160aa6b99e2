"""Labelled controls for the customer portal's Radix forms: a medium-weight label tied to its
control by id, a form whose controls stack full-width, and the sandbox card forms' test-card
note. The dashboard's plain HTML forms have their own in components.form_fields."""

from __future__ import annotations

import reflex as rx

# A label and its control, splatted into the form's stack: `*labelled_input(...)`.
Labelled = tuple[rx.Component, rx.Component]


def field_label(text: str, html_for: str) -> rx.Component:
    return rx.text(text, as_="label", html_for=html_for, weight="medium")


def labelled_input(
    label: str,
    control_id: str,
    auto_complete: str,
    *,
    name: str | None = None,
    native: bool = False,
    **props,
) -> Labelled:
    """The label and its required input, to splat into the form's stack: `rx.input`, or
    `native` a plain `rx.el.input` (the staff sign-in form). `name` defaults to the id; `props`
    as for the input."""
    make = rx.el.input if native else rx.input
    control = make(
        id=control_id, name=name or control_id, required=True, auto_complete=auto_complete, **props
    )
    return field_label(label, control_id), control


def form_stack(
    *children: rx.Component, on_submit, spacing: str = "3", **form_props
) -> rx.Component:
    """A form whose children stack full-width, `spacing` apart; `form_props` as for `rx.form`
    (`reset_on_submit`, `key`, `width`)."""
    return rx.form(
        rx.vstack(*children, spacing=spacing, width="100%"),
        on_submit=on_submit,
        **form_props,
    )


def test_card_note() -> rx.Component:
    """Under the sandbox's own card form (checkout, adding a card): the test card to use."""
    return rx.text(
        "Test mode: use 4242 4242 4242 4242, any future date and CVC.",
        size="1",
        color_scheme="gray",
    )
