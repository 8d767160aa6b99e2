"""What the pages share beyond the UI kit (components.ui): the alert dialogs that ask before
an action that is hard to undo (archive, disable, cancel) and a sub-heading with its note.
Each reproduces the markup the pages wrote out."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui


def confirm_dialog(
    title: rx.Var,
    text: rx.Var,
    *,
    keep: str,
    on_keep,
    action: str | rx.Var,
    on_confirm,
    color: str | rx.Var,
    testid: str,
    open: rx.Var,
    on_open_change=None,
    wrap: str | None = None,
) -> rx.Component:
    """An alert dialog: `title`, `text`, a `keep` button that backs out and the `action` button
    (colour `color`, `data-testid` `testid`); shown while `open` (`on_open_change`, if given,
    hears Escape and clicks outside)."""
    content = rx.alert_dialog.content(
        rx.alert_dialog.title(title),
        rx.alert_dialog.description(text),
        ui.dialog_actions(
            ui.secondary_button(keep, on_click=on_keep),
            rx.button(action, color_scheme=color, on_click=on_confirm, data_testid=testid),
            spacing="2",
            wrap=wrap,
        ),
    )
    if on_open_change is None:
        return rx.alert_dialog.root(content, open=open)
    return rx.alert_dialog.root(content, open=open, on_open_change=on_open_change)


def asked_dialog(
    state, *, keep: str, on_keep, action: str | rx.Var, on_confirm, testid: str
) -> rx.Component:
    """The red `confirm_dialog` of a state that mixes in `Confirming` (state/confirming.py):
    its question (`confirm_title`, `confirm_text`), open while `confirm_kind` is set, Escape
    and clicks outside answered by its `confirm_visibility`."""
    return confirm_dialog(
        state.confirm_title,
        state.confirm_text,
        keep=keep,
        on_keep=on_keep,
        action=action,
        on_confirm=on_confirm,
        color="red",
        testid=testid,
        open=state.confirm_kind != "",
        on_open_change=state.confirm_visibility,
    )


def trigger_dialog(
    trigger: rx.Component,
    title: str,
    text: str,
    *,
    keep: str,
    action: rx.Component,
) -> rx.Component:
    """An alert dialog opened by its `trigger` button: `title`, `text`, a `keep` button that
    backs out and the `action` button; either closes it (no open state of its own)."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(text),
            ui.dialog_actions(
                rx.alert_dialog.cancel(ui.secondary_button(keep)),
                rx.alert_dialog.action(action),
                spacing="2",
            ),
        ),
    )


def subheading(
    title: str,
    note: str,
    *,
    level: str = "h2",
    size: str = "4",
    note_size: str = "2",
    nested: bool = False,
) -> list[rx.Component]:
    """A heading inside a page or card and the grey note under it that says what follows;
    splat it into the enclosing stack. `nested`: one level down, inside a section card (an
    h3 with a smaller note)."""
    if nested:
        level, size, note_size = "h3", "3", "1"
    return [
        rx.heading(title, size=size, as_=level),
        rx.text(note, size=note_size, color_scheme="gray"),
    ]


def shown_once_dialog(
    title: rx.Component | str,
    description: rx.Component,
    secret: rx.Var,
    *,
    testid: str,
    done_testid: str,
    on_open_change,
) -> rx.Component:
    """A secret shown this once (an API key, a webhook signing secret): the value in a code
    block (`data-testid` `testid`), Copy, and Done (`done_testid`); open while `secret` is set,
    `on_open_change` hears it close."""
    return rx.dialog.root(
        rx.dialog.content(
            title,
            description,
            rx.code(
                secret,
                style={"overflow_wrap": "anywhere", "display": "block", "padding": "0.5rem"},
                data_testid=testid,
            ),
            ui.dialog_actions(
                rx.button("Copy", on_click=[rx.set_clipboard(secret), rx.toast.success("Copied.")]),
                rx.dialog.close(ui.secondary_button("Done", data_testid=done_testid)),
            ),
            max_width="36rem",
        ),
        open=secret != "",
        on_open_change=on_open_change,
    )
