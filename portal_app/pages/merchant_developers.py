"""Merchant dashboard → Developers (owners and admins): API keys with their permissions, created
(the secret shown once) and revoked behind a confirmation; links to the API reference."""

from __future__ import annotations

import reflex as rx

from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.merchant_header import INPUT_STYLE
from portal_app.components.page_parts import confirm_dialog, shown_once_dialog
from portal_app.state.merchant_developers import MerchantDevelopersState as Dev


def _scope_select(choice: rx.Var) -> rx.Component:
    field_id = "scope-" + choice["resource"]
    return rx.vstack(
        rx.el.label(choice["label"], html_for=field_id),
        rx.el.select(
            rx.el.option("No access", value="none"),
            rx.el.option("Read", value="read"),
            rx.el.option("Read and write", value="write"),
            id=field_id,
            name="scope_" + choice["resource"],
            default_value="read",
            style={**INPUT_STYLE, "min_width": "10rem"},
        ),
        spacing="1",
    )


def _create_form() -> rx.Component:
    return ff.section_form(
        "Create an API key",
        "Your own code calls the REST API with it. Give each system its own key with "
        "only the permissions it needs; you can revoke a key at any time.",
        ff.labelled(
            "Name",
            "key-name",
            rx.el.input(
                id="key-name",
                name="name",
                required=True,
                max_length=100,
                auto_complete="off",
                placeholder="e.g. Production backend",
                style=INPUT_STYLE,
            ),
            width="100%",
            max_width="22rem",
        ),
        rx.flex(rx.foreach(Dev.resources, _scope_select), spacing="3", wrap="wrap"),
        rx.button("Create key", type="submit", data_testid="create-key"),
        ui.error_callout(Dev.create_error, width="100%", testid="create-key-error"),
        on_submit=Dev.create,
        key=Dev.form_version.to(str),
        once=True,
    )


def _key_row(k: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(k["name"], weight="medium", size="2"),
                rx.code(k["prefix"], size="1"),
                spacing="1",
                min_width="10rem",
            )
        ),
        rx.table.cell(rx.text(k["permissions"], size="1"), min_width="14rem"),
        rx.table.cell(k["created"], white_space="nowrap"),
        rx.table.cell(k["last_used"], white_space="nowrap"),
        rx.table.cell(
            rx.cond(
                k["status"] == "live",
                ui.row_action(
                    "Revoke",
                    Dev.ask_revoke(k["id"]),
                    color="red",
                    aria_label="Revoke " + k["name"],
                    testid="revoke-key",
                ),
                ui.labelled_badge(k["status"], {"revoked": ("Revoked", "gray")}, ("", "gray")),
            )
        ),
        key=k["id"],
        data_testid="key-row",
        data_name=k["name"],
    )


def _new_key_dialog() -> rx.Component:
    return shown_once_dialog(
        rx.dialog.title("Your new key: ", Dev.new_key_name),
        rx.dialog.description(
            "Copy it now and keep it somewhere safe. It is not shown again: we keep only "
            "a hash of it.",
            size="2",
        ),
        Dev.new_key,
        testid="new-key",
        done_testid="new-key-done",
        on_open_change=Dev.close_new_key,
    )


def _revoke_dialog() -> rx.Component:
    return confirm_dialog(
        "Revoke " + Dev.revoke_name + "?",
        "Every request made with this key is refused from now on. This cannot be undone: "
        "create a new key for the system that used it.",
        keep="Cancel",
        on_keep=Dev.revoke_visibility(False),
        action="Revoke key",
        on_confirm=Dev.revoke,
        color="red",
        testid="confirm-revoke-key",
        open=Dev.revoke_name != "",
        on_open_change=Dev.revoke_visibility,
        wrap="wrap",
    )


def developers_page() -> rx.Component:
    return ui.restricted_page(
        "Developers",
        Dev.access,
        ui.when_loaded(
            Dev.loaded,
            rx.text(
                "The REST API lives at /api/v1. ",
                rx.link("API reference", href="/api/v1/reference", is_external=True),
                " · ",
                rx.link("OpenAPI document", href="/api/v1/openapi.json", is_external=True),
                size="2",
            ),
            _create_form(),
            rx.heading("API keys", size="4", as_="h2"),
            ui.data_table(
                ("Key", "Permissions", "Created", "Last used", ""),
                rows=Dev.keys,
                render=_key_row,
                size="2",
                empty=rx.callout(
                    "No API keys yet. Create one above for your backend.",
                    icon="key",
                    data_testid="keys-empty",
                ),
            ),
            _new_key_dialog(),
            _revoke_dialog(),
        ),
        role="admin",
        denied="Only owners and admins manage API keys.",
        testid="developers-admins-only",
    )
