"""Labelled form controls for the dashboard's plain HTML forms (the UI kit has none): a label
tied to its control by id, the control, an optional grey hint; a checkbox with its label and a
group of them; a form that stacks them; and a card holding one create form. Ids are
`<form>-<name with dashes>` ("plan-monthly")."""

from __future__ import annotations

import reflex as rx

from portal_app.components.merchant_header import INPUT_STYLE
from portal_app.components.page_parts import subheading
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


def labelled(label: str | rx.Var, control_id: str | rx.Var, control: rx.Component, **props):
    """A plain label over its control (the dashboard's admin forms and filters), 1 apart;
    `props` as for `rx.vstack` (`width`, `max_width`)."""
    return rx.vstack(rx.el.label(label, html_for=control_id), control, spacing="1", **props)


def labelled_select(
    label: str | rx.Var, control_id: str | rx.Var, *options, min_width: str, **props
) -> rx.Component:
    """A `labelled` select at least `min_width` wide; `props` as for `rx.el.select` (`name`,
    `default_value`, or `value` and `on_change` for a filter)."""
    control = rx.el.select(
        *options, id=control_id, style={**INPUT_STYLE, "min_width": min_width}, **props
    )
    return labelled(label, control_id, control)


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


def checkbox_group(legend: str, choices: rx.Var, box, *, columns: str) -> rx.Component:
    """A borderless fieldset: its `legend`, then a `box(choice)` checkbox per choice in a grid,
    one column on a phone, `columns` from small screens up."""
    return rx.el.fieldset(
        rx.el.legend(legend, style=LABEL_STYLE),
        rx.grid(
            rx.foreach(choices, box),
            columns=rx.breakpoints(initial="1", sm=columns),
            spacing="2",
            padding_top="0.5rem",
        ),
        style={"border": "none", "padding": "0", "margin": "0"},
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


def section_form(
    title: str,
    note: str,
    *children: rx.Component,
    on_submit,
    key: rx.Var,
    once: bool = False,
    heading_size: str = "4",
    after: rx.Component | None = None,
    testid: str | None = None,
) -> rx.Component:
    """A full-width card with one form under an h2 `title` and its grey `note` (create an API
    key, add an endpoint, invite a member): the children are its fields, button and error
    line; `key` and `once` as for `stacked_form`. `after`: shown under the form in the card
    (what it created)."""
    form = stacked_form(
        *subheading(title, note, size=heading_size),
        *children,
        on_submit=on_submit,
        key=key,
        once=once,
    )
    extra = () if after is None else (after,)
    props = {} if testid is None else {"data_testid": testid}
    return rx.card(form, *extra, width="100%", **props)


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
