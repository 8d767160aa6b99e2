"""Merchant dashboard → Settings → Customer Portal: every feature toggle and option, presets
with a diff before they apply, and "Preview as customer". Controls a member's role can't use
are hidden or disabled (`staff_can`); every handler checks the role on the server."""

from __future__ import annotations

import reflex as rx

from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.merchant_header import (
    INPUT_STYLE,
    read_only_note,
    roles_text,
    staff_can,
)
from portal_app.services import features
from portal_app.state.merchant_portal_preview import PortalPreviewState as Preview
from portal_app.state.merchant_settings import GROUP_TITLES, MerchantSettingsState


def _field(index: int, key: str, option: features.Option) -> rx.Component:
    row = MerchantSettingsState.rows[index]
    label_id = f"setting-{key.replace('.', '-')}"
    if option.kind == "bool":
        control = rx.el.input(
            type="checkbox",
            name=key,
            id=label_id,
            default_checked=row.checked,
            disabled=option.always_on,
            style={"width": "18px", "height": "18px"},
        )
    elif option.kind == "choice":
        control = rx.el.select(
            *[rx.el.option(choice.replace("_", " "), value=choice) for choice in option.choices],
            name=key,
            id=label_id,
            default_value=row.value,
            style=INPUT_STYLE,
        )
    elif option.kind == "fields":
        control = rx.el.textarea(
            name=key,
            id=label_id,
            default_value=row.value,
            rows=3,
            style={**INPUT_STYLE, "max_width": "100%", "font_family": "monospace"},
        )
    else:
        control = rx.el.input(
            name=key,
            id=label_id,
            default_value=row.value,
            type="number" if option.kind == "int" else "text",
            style=INPUT_STYLE,
        )
    return rx.flex(
        rx.el.label(option.label, html_for=label_id, style={"flex": "1", "min_width": "12rem"}),
        control,
        justify="between",
        align="center",
        spacing="3",
        wrap="wrap",
        width="100%",
        padding_y="0.35rem",
        data_testid=f"setting-{key}",
    )


def _groups() -> list[rx.Component]:
    cards, current_group, fields = [], None, []
    for index, (key, option) in enumerate(features.FEATURES.items()):
        group = key.split(".")[0]
        if group != current_group and fields:
            cards.append(_group_card(current_group, fields))
            fields = []
        current_group = group
        fields.append(_field(index, key, option))
    cards.append(_group_card(current_group, fields))
    return cards


def _group_card(group: str, fields: list[rx.Component]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(GROUP_TITLES.get(group, group), size="3", as_="h3"),
            *fields,
            spacing="1",
            width="100%",
        ),
        width="100%",
    )


def _diff_row(d: rx.Var) -> rx.Component:
    """A setting a preset changes: its label, the value now and after."""
    return rx.table.row(
        *[rx.table.cell(d[key]) for key in ("label", "before", "after")],
        data_testid="preset-diff-row",
    )


def _presets() -> rx.Component:
    return ui.section_card(
        "Presets",
        rx.flex(
            rx.foreach(
                MerchantSettingsState.presets,
                lambda p: rx.button(
                    p["label"],
                    variant="soft",
                    on_click=MerchantSettingsState.preview_preset(p["key"]),
                    data_testid="preset-" + p["key"],
                ),
            ),
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(
            MerchantSettingsState.chosen_preset != "",
            ui.confirm_panel(
                ui.data_table(
                    ("Setting", "Now", "After"),
                    rows=MerchantSettingsState.preset_diff,
                    render=_diff_row,
                    size=None,
                    empty=rx.text("This preset matches your current settings.", size="2"),
                ),
                confirm="Apply preset",
                on_confirm=MerchantSettingsState.apply_preset,
                testid="apply-preset",
                on_cancel=MerchantSettingsState.close_preset,
            ),
        ),
        description="Start from a business type. You will see every change before it applies.",
    )


def _preview_card() -> rx.Component:
    """Preview as customer: a one-time link for the merchant's stand-in customer, in a new tab."""
    return ui.section_card(
        "Preview as customer",
        rx.text(
            "Open the portal in a new tab the way a customer sees it, with the saved "
            "settings. You are signed in as a stand-in customer, never as a real customer: "
            "it has a sandbox test card and a subscription to your cheapest monthly price, "
            "with its invoice and receipt, and is left out of your customer lists and "
            "analytics. Without an active monthly price it has no subscription, invoices "
            "or cards.",
            size="2",
        ),
        rx.text(
            "You stay signed in to the dashboard. The preview replaces a customer sign-in "
            "of yours in this browser, if you have one.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            staff_can("support"),
            rx.button(
                rx.icon("external-link", size=16),
                "Preview as customer",
                variant="soft",
                on_click=Preview.open_preview,
                data_testid="preview-as-customer",
            ),
            rx.text(f"Previewing needs {roles_text('support')}.", size="2", color_scheme="gray"),
        ),
        rx.cond(
            Preview.opened,
            rx.callout(
                "The preview opened in a new tab with a link that works once. Nothing "
                "opened? Allow pop-ups for this site and press the button again.",
                icon="info",
                width="100%",
                data_testid="preview-opened",
            ),
        ),
    )


def portal_settings_page() -> rx.Component:
    return ui.merchant_page(
        "Settings → Customer Portal",
        ui.when_loaded(
            MerchantSettingsState.loaded,
            read_only_note("admin", "these settings"),
            _preview_card(),
            rx.cond(staff_can("admin"), _presets()),
            ff.stacked_form(
                # disabled for a role that can't save: values stay readable
                rx.el.fieldset(
                    rx.vstack(*_groups(), spacing="3", width="100%"),
                    disabled=~staff_can("admin"),
                    style={"border": "none", "padding": "0", "margin": "0"},
                    width="100%",
                ),
                ui.error_callout(MerchantSettingsState.error, width="100%"),
                rx.cond(
                    staff_can("admin"),
                    rx.button(
                        "Save changes",
                        type="submit",
                        size="3",
                        data_testid="save-settings",
                    ),
                ),
                on_submit=MerchantSettingsState.save,
                key=MerchantSettingsState.form_version,
            ),
        ),
        subtitle="Merchant settings",
    )
