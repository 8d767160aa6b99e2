"""Labelled form controls for the dashboard's plain HTML forms (the UI kit has none): a label
tied to its control by id, the control, an optional grey hint; a checkbox with its label; a form
that stacks them; and a card holding one create form. Ids are `<form>-<name with dashes>`
("plan-monthly")."""

from __future__ import annotations

import reflex as rx

from portal_app.components.merchant_header import INPUT_STYLE
from portal_app.state.merchant_catalog_editor import FORM_VERSION

WIDE_INPUT = {**INPUT_STYLE, "max_width": "100%"}
LABEL_STYLE = {"font_weight": "500", "font_size": "var(--font-size-2)"}


def field(label: str, control_id: str, control: rx.Component, hint: str = "") -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=control_id, style=LABEL_STYLE),
        control,
        rx.text(hint, size="1", color_scheme="gray") if hint else rx.fragment(),
        spacing="1",
        width="100%",
    )


def _control_id(form: str, name: str) -> str:
    return f"{form}-{name.replace('_', '-')}"


def text_input(form: str, name: str, label: str, hint: str = "", **props) -> rx.Component:
    control_id = _control_id(form, name)
    control = rx.el.input(id=control_id, name=name, style=WIDE_INPUT, **props)
    return field(label, control_id, control, hint)


def textarea(form: str, name: str, label: str, hint: str = "", **props) -> rx.Component:
    control_id = _control_id(form, name)
    props.setdefault("rows", 3)
    control = rx.el.textarea(id=control_id, name=name, style=WIDE_INPUT, **props)
    return field(label, control_id, control, hint)


def select(label: str, control_id: str, name: str, *options: rx.Component) -> rx.Component:
    control = rx.el.select(*options, id=control_id, name=name, style=WIDE_INPUT)
    return field(label, control_id, control)


def side_by_side(*controls: rx.Component) -> rx.Component:
    """Two or three short controls in a row that wraps on a phone."""
    return rx.flex(
        *[rx.box(control, flex="1 1 8rem") for control in controls],
        spacing="3",
        wrap="wrap",
        width="100%",
    )


def checkbox(control_id: rx.Var | str, name, label, **props) -> rx.Component:
    return rx.el.label(
        rx.el.input(
            type="checkbox",
            id=control_id,
            name=name,
            style={"width": "18px", "height": "18px"},
            **props,
        ),
        rx.text(label, size="2"),
        html_for=control_id,
        style={"display": "flex", "gap": "0.5rem", "align_items": "center"},
    )


def stacked_form(
    *children: rx.Component,
    on_submit,
    key: rx.Var,
    padding_top: str | None = None,
    width: str | None = "100%",
    once: bool = False,
) -> rx.Component:
    """A form whose fields, error line and buttons stack full width, 3 apart (`padding_top`
    above them); `key` remounts it (emptied) when it changes. `width` of the form itself
    (None: left out, in a dialog or tab). `once`: it posts `key` in a hidden field, so the
    second submit of a double click, which carries the version the first one moved on from,
    is told apart and ignored."""
    stack_props = {} if padding_top is None else {"padding_top": padding_top}
    form_props = {} if width is None else {"width": width}
    if once:
        children = (rx.el.input(type="hidden", name=FORM_VERSION, value=key.to(str)), *children)
    return rx.form(
        rx.vstack(*children, spacing="3", width="100%", **stack_props),
        on_submit=on_submit,
        key=key,
        **form_props,
    )


def form_card(
    title: str,
    testid: str,
    on_submit,
    button: str,
    *fields: rx.Component,
    error: rx.Component,
    key: rx.Var,
    in_row: bool = True,
    once: bool = False,
) -> rx.Component:
    """A card with one create form, its `error` line and submit button (`data-testid`
    `testid`); `key` remounts the form (emptied) when it changes. `in_row`: it shares a
    wrapping row with another card. `once`: see `stacked_form`."""
    sizing = {"flex": "1 1 20rem", "min_width": "0"} if in_row else {"width": "100%"}
    return rx.card(
        stacked_form(
            rx.heading(title, size="3", as_="h3"),
            *fields,
            error,
            rx.button(button, type="submit", data_testid=testid),
            on_submit=on_submit,
            key=key,
            once=once,
        ),
        **sizing,
    )
