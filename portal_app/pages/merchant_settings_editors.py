"""Settings → Customer Portal: the settings edited with more than one input — a list as
chips with an Add box, the cancellation survey's reasons, the logo — and the small forms their
Add boxes submit (outside the settings form, so Enter adds instead of saving the page)."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.merchant_header import INPUT_STYLE
from portal_app.components.upload_drop import dropzone
from portal_app.services import features
from portal_app.state.merchant_settings import LOGO_UPLOAD_ID, MerchantSettingsState


def _adds_to(label_id: str) -> str:
    return f"{label_id}-add"


def list_editor(key: str, label_id: str, option: features.Option) -> rx.Component:
    """A list setting as removable chips and an Add box. The chips are the server's list (a
    hidden input posts them with Save); the box belongs to its own small form (`_add_forms`,
    outside the settings form), so Enter adds an entry instead of saving the page."""
    items = MerchantSettingsState.list_items[key]
    days = bool(option.default) and isinstance(option.default[0], int)
    return rx.vstack(
        rx.el.input(type="hidden", name=key, value=items.join(", ")),
        rx.flex(
            rx.foreach(
                items,
                lambda item, index: rx.badge(
                    item,
                    rx.el.button(
                        rx.icon("x", size=12),
                        type="button",
                        aria_label="Remove " + item,
                        on_click=MerchantSettingsState.remove_item(key, index),
                        style={"cursor": "pointer", "display": "inline-flex"},
                    ),
                    size="2",
                    variant="soft",
                    data_testid=f"item-{key}",
                ),
            ),
            wrap="wrap",
            gap="1",
        ),
        rx.flex(
            rx.el.input(
                id=label_id,
                name="item",
                form=_adds_to(label_id),
                placeholder="Days, e.g. 7" if days else "Add an entry",
                inputmode="numeric" if days else None,
                key=items.length().to_string(),  # emptied once an entry is added
                style={**INPUT_STYLE, "max_width": "12rem"},
            ),
            rx.button("Add", type="submit", form=_adds_to(label_id), variant="soft"),
            gap="2",
        ),
        ui.error_text(MerchantSettingsState.list_errors[key]),
        spacing="1",
        align="end",
    )


def logo_editor(label_id: str, option: features.Option) -> rx.Component:
    """The logo: what customers see now, a drop zone, Save and Remove. It saves at once (not
    with the form): the file goes up, comes back made safe, and lands as a version."""
    state = MerchantSettingsState
    return rx.vstack(
        rx.el.label(option.label, html_for=label_id, font_weight="500"),
        rx.cond(
            state.logo_src != "",
            rx.flex(
                rx.image(
                    src=state.logo_src,
                    alt="Your logo as customers see it",
                    height="32px",
                    data_testid="logo-preview",
                ),
                rx.button(
                    "Remove logo",
                    type="button",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=state.remove_logo,
                ),
                gap="3",
                align="center",
                wrap="wrap",
            ),
            rx.text("No logo uploaded: the portal shows its name.", size="2", color_scheme="gray"),
        ),
        rx.box(
            dropzone(
                LOGO_UPLOAD_ID,
                "Drop a logo here, or press to choose one",
                "PNG, JPEG or SVG, up to 1 MB; it is scaled to fit 600 by 200 pixels.",
                max_size=1024 * 1024,
                accept={
                    "image/png": [".png"],
                    "image/jpeg": [".jpg", ".jpeg"],
                    "image/svg+xml": [".svg"],
                },
                testid="logo-dropzone",
                selected_testid="logo-selected",
                aria_label="Choose a logo image",
            ),
            id=label_id,
            width="100%",
        ),
        rx.button(
            "Save logo",
            type="button",
            variant="soft",
            on_click=state.upload_logo(
                rx.upload_files(upload_id=LOGO_UPLOAD_ID), state.upload_ticket
            ),
            disabled=rx.selected_files(LOGO_UPLOAD_ID).length() == 0,
            data_testid="logo-save",
        ),
        ui.error_text(state.logo_error, testid="logo-error"),
        spacing="2",
        width="100%",
        padding_y="0.35rem",
        data_testid="setting-branding.logo",
    )


REASON_ADD_FORM = "cancel-reason-add"


def _reason_row(row: rx.Var, index: rx.Var) -> rx.Component:
    """One reason: its words (edited in place, kept on leaving the box), up, down, remove."""
    count = MerchantSettingsState.reason_rows.length()
    return rx.el.li(
        rx.flex(
            rx.el.input(
                default_value=row["label"],
                aria_label="Reason " + (index + 1).to_string() + " as customers read it",
                max_length=features.REASON_LABEL_MAX,
                on_blur=lambda value: MerchantSettingsState.reword_reason(index, value),
                key=MerchantSettingsState.reason_version.to_string() + row["key"],
                style={**INPUT_STYLE, "flex": "1", "min_width": "10rem", "max_width": "100%"},
            ),
            rx.icon_button(
                rx.icon("arrow-up", size=14),
                type="button",
                size="1",
                variant="soft",
                aria_label="Move " + row["label"] + " up",
                disabled=index == 0,
                on_click=MerchantSettingsState.move_reason(index, -1),
            ),
            rx.icon_button(
                rx.icon("arrow-down", size=14),
                type="button",
                size="1",
                variant="soft",
                aria_label="Move " + row["label"] + " down",
                disabled=index == count - 1,
                on_click=MerchantSettingsState.move_reason(index, 1),
            ),
            rx.icon_button(
                rx.icon("x", size=14),
                type="button",
                size="1",
                variant="soft",
                color_scheme="red",
                aria_label="Remove " + row["label"],
                on_click=MerchantSettingsState.remove_reason(index),
            ),
            rx.cond(
                row["key"] == features.OTHER_REASON,
                rx.text("asks for a comment", size="1", color_scheme="gray"),
            ),
            gap="2",
            align="center",
            wrap="wrap",
        ),
        data_testid="reason-row",
        style={"margin_bottom": "0.4rem"},
    )


def reasons_editor(label_id: str, option: features.Option) -> rx.Component:
    """The cancellation survey's reasons: the words customers read, in the order they read
    them; the keys analytics and offer routing use stay behind the scenes. Posted with Save."""
    return rx.vstack(
        rx.el.label(option.label, html_for=label_id, font_weight="500"),
        rx.text(
            "Customers choose one when they cancel, in this order. Retention offers are routed "
            "by these reasons (Catalog → Retention offers).",
            size="2",
            color_scheme="gray",
        ),
        rx.el.input(type="hidden", name="cancel.reasons", value=MerchantSettingsState.reason_keys),
        rx.el.input(
            type="hidden",
            name="cancel.reason_labels",
            value=MerchantSettingsState.reason_wording,
        ),
        rx.el.ol(
            rx.foreach(MerchantSettingsState.reason_rows, _reason_row),
            style={"padding_left": "1.25rem", "margin": "0", "width": "100%"},
        ),
        rx.flex(
            rx.el.input(
                id=label_id,
                name="label",
                form=REASON_ADD_FORM,
                placeholder="Add a reason, e.g. Too many emails",
                max_length=features.REASON_LABEL_MAX,
                key=MerchantSettingsState.reason_rows.length().to_string(),
                style={**INPUT_STYLE, "flex": "1", "min_width": "10rem"},
            ),
            rx.button("Add", type="submit", form=REASON_ADD_FORM, variant="soft"),
            ui.secondary_button(
                "Use the built-in reasons",
                type="button",
                on_click=MerchantSettingsState.builtin_reasons,
            ),
            gap="2",
            wrap="wrap",
            width="100%",
        ),
        ui.error_text(MerchantSettingsState.reason_error, testid="reason-error"),
        spacing="2",
        width="100%",
        padding_y="0.35rem",
        data_testid="setting-cancel.reasons",
    )


def add_forms() -> list[rx.Component]:
    """The Add boxes' own forms: empty here, their inputs join them by the `form` attribute."""
    return [
        rx.el.form(
            id=_adds_to(f"setting-{key.replace('.', '-')}"),
            on_submit=lambda data, key=key: MerchantSettingsState.add_item(key, data),
            reset_on_submit=False,
        )
        for key, option in features.FEATURES.items()
        if option.kind == "list" and key != "cancel.reasons"
    ] + [
        rx.el.form(
            id=REASON_ADD_FORM,
            on_submit=MerchantSettingsState.add_reason,
            reset_on_submit=False,
        )
    ]
