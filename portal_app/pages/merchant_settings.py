"""Merchant dashboard → Settings → Customer Portal: every feature toggle and option, presets
with a diff before they apply, the history of saves (each restorable), and "Preview as
customer". Controls a member's role can't use are hidden or disabled (`staff_can`); every
handler checks the role on the server."""

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
from portal_app.components.page_parts import confirm_dialog
from portal_app.components.upload_drop import dropzone
from portal_app.pages import merchant_settings_editors as editors
from portal_app.services import features
from portal_app.state.merchant_portal_preview import PortalPreviewState as Preview
from portal_app.state.merchant_settings import (
    GROUP_TITLES,
    IMPORT_UPLOAD_ID,
    MerchantSettingsState,
)


def _field(index: int, key: str, option: features.Option) -> rx.Component:
    row = MerchantSettingsState.rows[index]
    label_id = f"setting-{key.replace('.', '-')}"
    if key == "cancel.reasons":
        return editors.reasons_editor(label_id, option)
    if option.kind == "labels":
        return rx.fragment()  # posted by the reasons editor
    if option.kind == "image":
        return editors.logo_editor(label_id, option)
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
    elif option.kind == "fields":  # edited in their own builder, not here
        control = rx.text(row.value, id=label_id, size="2", color_scheme="gray")
    elif option.kind == "list":
        control = editors.list_editor(key, label_id, option)
    elif option.kind == "color":
        # The browser's colour picker; the server refuses a colour white text can't be read on.
        control = rx.el.input(
            name=key,
            id=label_id,
            default_value=row.value,
            type="color",
            style={"width": "4rem", "height": "2.25rem", "padding": "2px", "cursor": "pointer"},
        )
    else:
        control = rx.el.input(
            name=key,
            id=label_id,
            default_value=row.value,
            type={"int": "number", "email": "email", "url": "url"}.get(option.kind, "text"),
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
    return ui.card_stack(
        rx.heading(GROUP_TITLES.get(group, group), size="3", as_="h3"), *fields, spacing="1"
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


def _version(v: rx.Var) -> rx.Component:
    """One save: its number, when, who, what it was, what it changed, and Restore (not for the
    settings saved now)."""
    return rx.box(
        rx.flex(
            rx.vstack(
                rx.text(
                    rx.text.strong("Version ", v["number"]),
                    " · ",
                    v["what"],
                    size="2",
                ),
                rx.text(v["when"], " · ", v["who"], size="1", color_scheme="gray"),
                spacing="0",
            ),
            rx.cond(
                v["current"],
                rx.badge("Saved now", color_scheme="green"),
                rx.cond(
                    staff_can("admin"),
                    rx.button(
                        "Restore",
                        size="1",
                        variant="soft",
                        on_click=MerchantSettingsState.ask_restore(v["number"]),
                        aria_label="Restore version " + v["number"].to_string(),
                    ),
                ),
            ),
            justify="between",
            align="start",
            gap="2",
            wrap="wrap",
            width="100%",
        ),
        rx.el.ul(
            rx.foreach(
                v["lines"],
                lambda line: rx.el.li(
                    rx.text(line["label"], ": ", line["before"], " → ", line["after"], size="1")
                ),
            ),
            style={"margin": "0.25rem 0 0 1.1rem", "padding": "0"},
        ),
        border_top="1px solid var(--gray-a5)",
        padding_y="0.5rem",
        width="100%",
        data_testid="settings-version",
        data_version=v["number"],
    )


def _history() -> rx.Component:
    return ui.section_card(
        "History",
        rx.cond(
            MerchantSettingsState.history.length() > 0,
            rx.vstack(
                rx.foreach(MerchantSettingsState.history, _version), spacing="0", width="100%"
            ),
            ui.empty_state("No saves yet. Each save appears here, and can be restored."),
        ),
        confirm_dialog(
            MerchantSettingsState.confirm_title,
            MerchantSettingsState.confirm_text,
            keep="Keep the current settings",
            on_keep=MerchantSettingsState.keep_it,
            action="Restore",
            on_confirm=MerchantSettingsState.restore_version,
            color="orange",
            testid="confirm-restore",
            open=MerchantSettingsState.confirm_kind != "",
            on_open_change=MerchantSettingsState.confirm_visibility,
        ),
        description="Every save of these settings, newest first, with what it changed. "
        "Restoring one saves it again as a new version, so a restore can be undone too.",
    )


def _settings_file() -> rx.Component:
    """Export every setting as a file; import one (from staging, say) after seeing its diff."""
    state = MerchantSettingsState
    return ui.section_card(
        "Copy settings to another install",
        rx.button(
            rx.icon("download", size=16),
            "Export settings",
            variant="soft",
            on_click=state.export_settings,
            data_testid="export-settings",
        ),
        rx.cond(
            staff_can("admin"),
            rx.vstack(
                dropzone(
                    IMPORT_UPLOAD_ID,
                    "Drop an exported settings file here, or press to choose one",
                    "A .json file from Export settings. You see every change before it applies.",
                    max_size=256 * 1024,
                    accept={"application/json": [".json"]},
                    testid="settings-file-dropzone",
                    selected_testid="settings-file-selected",
                    aria_label="Choose a settings file to import",
                ),
                rx.button(
                    "Check file",
                    on_click=state.upload_settings(
                        rx.upload_files(upload_id=IMPORT_UPLOAD_ID), state.upload_ticket
                    ),
                    disabled=rx.selected_files(IMPORT_UPLOAD_ID).length() == 0,
                    data_testid="settings-file-check",
                ),
                ui.error_callout(state.import_error, width="100%"),
                rx.cond(
                    state.import_name != "",
                    ui.confirm_panel(
                        rx.text("What ", rx.text.strong(state.import_name), " changes:", size="2"),
                        ui.data_table(
                            ("Setting", "Now", "After"),
                            rows=state.import_diff,
                            render=_diff_row,
                            size=None,
                        ),
                        confirm="Apply import",
                        on_confirm=state.apply_import,
                        testid="apply-import",
                        on_cancel=state.cancel_import,
                    ),
                ),
                spacing="2",
                width="100%",
            ),
        ),
        description="Export writes every setting to a file. Importing one shows what it would "
        "change first; applied, it is one version under History, undone by restoring the one "
        "before.",
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
            *editors.add_forms(),
            _history(),
            _settings_file(),
        ),
        subtitle="Merchant settings",
    )
