"""Catalog → digital products: files, license-key pools and links with the plans that grant
them, and the three ways to create one (a private file upload, a key pool, a link)."""

from __future__ import annotations

import reflex as rx

from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.merchant_header import staff_can
from portal_app.components.ui import secondary_button
from portal_app.components.upload_drop import dropzone
from portal_app.pages.merchant_catalog_products import editor_button
from portal_app.state.merchant_catalog import UPLOAD_ID
from portal_app.state.merchant_catalog import MerchantCatalogState as Catalog


def _asset_row(asset: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.hstack(
                    rx.text(asset["name"], weight="medium"),
                    rx.badge(asset["kind_label"]),
                    spacing="2",
                    wrap="wrap",
                ),
                rx.cond(asset["description"] != "", rx.text(asset["description"], size="1")),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(asset["detail"], size="2", style={"overflow_wrap": "anywhere"})),
        rx.table.cell(asset["plans"]),
        rx.table.cell(
            ui.row_actions(
                editor_button("Plans", "grants", asset, "Plans that grant "),
                editor_button("Edit", "asset", asset, "Edit "),
                rx.cond(
                    asset["kind"] == "license",
                    editor_button("Add keys", "keys", asset, "Add keys to "),
                ),
                when=staff_can("admin"),
            )
        ),
        data_testid="catalog-asset",
    )


def _dropzone() -> rx.Component:
    return rx.vstack(
        dropzone(
            UPLOAD_ID,
            "Drop a file here, or press to choose one",
            "Up to 200 MB. Kept private: customers download it through expiring links.",
            max_size=200 * 1024 * 1024,
            testid="asset-dropzone",
            selected_testid="selected-file",
            aria_label="Choose a file to upload",
        ),
        rx.flex(
            rx.button(
                "Upload",
                on_click=Catalog.upload_file(
                    rx.upload_files(upload_id=UPLOAD_ID), Catalog.upload_ticket
                ),
                disabled=rx.selected_files(UPLOAD_ID).length() == 0,
                data_testid="upload-file",
            ),
            secondary_button("Clear", type="button", on_click=rx.clear_selected_files(UPLOAD_ID)),
            spacing="2",
        ),
        spacing="2",
        width="100%",
    )


def _staged_form() -> rx.Component:
    """The uploaded file's details, then "Create file product"."""
    return ff.stacked_form(
        rx.callout(
            rx.text(
                "Uploaded ",
                rx.text.strong(Catalog.staged_name),
                " (",
                Catalog.staged_size,
                ").",
            ),
            icon="file-check",
            color_scheme="green",
            width="100%",
            data_testid="staged-file",
        ),
        ff.text_input(
            "file",
            "name",
            "Name customers see",
            default_value=Catalog.staged_name,
            max_length=200,
        ),
        ff.textarea("file", "description", "Description (optional)", rows=2),
        ff.text_input(
            "file",
            "download_limit",
            "Downloads per customer (optional)",
            "Leave empty for unlimited.",
            input_mode="numeric",
        ),
        ui.error_callout(Catalog.file_error, width="100%"),
        rx.flex(
            rx.button("Create file product", type="submit", data_testid="create-file"),
            secondary_button("Remove upload", type="button", on_click=Catalog.discard_upload),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=Catalog.create_file_asset,
        key=Catalog.staged_name,
    )


def _upload_panel() -> rx.Component:
    return rx.vstack(
        rx.cond(Catalog.staged_name == "", _dropzone(), _staged_form()),
        ui.error_callout(Catalog.upload_error, width="100%"),
        spacing="3",
        width="100%",
        padding_top="0.75rem",
    )


def _tab(form: str, on_submit, button: str, error: rx.Var, *fields) -> rx.Component:
    """A create form in its own tab (`value` = `form`): name, description, then `fields`."""
    return rx.tabs.content(
        ff.stacked_form(
            ff.text_input(form, "name", "Name", required=True, max_length=200),
            ff.textarea(form, "description", "Description (optional)", rows=2),
            *fields,
            ui.error_callout(error, width="100%"),
            rx.button(button, type="submit", data_testid=f"create-{form}"),
            on_submit=on_submit,
            key=Catalog.form_version,
            padding_top="0.75rem",
            width=None,
        ),
        value=form,
    )


def _create_tabs() -> rx.Component:
    return rx.card(
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("Upload a file", value="file"),
                rx.tabs.trigger("License keys", value="license"),
                rx.tabs.trigger("Link", value="link"),
            ),
            rx.tabs.content(_upload_panel(), value="file"),
            _tab(
                "license",
                Catalog.create_license_asset,
                "Create key pool",
                Catalog.license_error,
                ff.textarea(
                    "license",
                    "keys",
                    "Keys",
                    "One per line. Repeated keys are skipped.",
                    rows=6,
                    required=True,
                ),
            ),
            _tab(
                "link",
                Catalog.create_link_asset,
                "Create link",
                Catalog.link_error,
                ff.text_input(
                    "link",
                    "url",
                    "Address",
                    "Must start with https://",
                    type="url",
                    placeholder="https://",
                    required=True,
                ),
            ),
            default_value="file",
        ),
        width="100%",
    )


def digital_section() -> rx.Component:
    return ui.section_card(
        "Digital products",
        ui.data_table(
            ["Product", "Details", "Granted by", ""],
            rows=Catalog.assets,
            render=_asset_row,
            min_width="44rem",
            empty=ui.empty_state("No digital products yet.", plain=True, testid="catalog-empty"),
        ),
        rx.cond(staff_can("admin"), _create_tabs()),
        heading_size="5",
        description="Files, license keys and links that customers on the granted plans find "
        "under Downloads.",
    )
