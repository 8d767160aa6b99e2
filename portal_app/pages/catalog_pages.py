"""Merchant dashboard → Catalog: products with their plans and prices, retention offers with who
sees which, and digital products (file upload, license-key pools, links) granted to plans."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell
from portal_app.components.merchant_header import (
    INPUT_STYLE,
    merchant_header,
    read_only_note,
    staff_can,
)
from portal_app.state.merchant_catalog import UPLOAD_ID
from portal_app.state.merchant_catalog import MerchantCatalogState as Catalog

WIDE_INPUT = {**INPUT_STYLE, "max_width": "100%"}
LABEL_STYLE = {"font_weight": "500", "font_size": "var(--font-size-2)"}


# --- small pieces -------------------------------------------------------------------------------


def _field(label: str, control_id: str, control: rx.Component, hint: str = "") -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=control_id, style=LABEL_STYLE),
        control,
        rx.text(hint, size="1", color_scheme="gray") if hint else rx.fragment(),
        spacing="1",
        width="100%",
    )


def _input(form: str, name: str, label: str, hint: str = "", **props) -> rx.Component:
    control_id = f"{form}-{name.replace('_', '-')}"
    return _field(
        label, control_id, rx.el.input(id=control_id, name=name, style=WIDE_INPUT, **props), hint
    )


def _textarea(form: str, name: str, label: str, hint: str = "", **props) -> rx.Component:
    control_id = f"{form}-{name.replace('_', '-')}"
    props.setdefault("rows", 3)
    return _field(
        label,
        control_id,
        rx.el.textarea(id=control_id, name=name, style=WIDE_INPUT, **props),
        hint,
    )


def _checkbox(control_id: rx.Var | str, name, label, **props) -> rx.Component:
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


def _error(message: rx.Var) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", width="100%"),
    )


def _status(active: rx.Var, on: str = "On sale", off: str = "Archived") -> rx.Component:
    return rx.cond(
        active == "yes",
        rx.badge(on, color_scheme="green"),
        rx.badge(off, color_scheme="gray"),
    )


def _table(headers: list[str], body: rx.Component, min_width: str = "0") -> rx.Component:
    """A table that scrolls sideways on a phone rather than squeezing its columns."""
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(body),
            size="1",
            width="100%",
            min_width=min_width,
        ),
        overflow_x="auto",
        width="100%",
    )


def _empty(text: str) -> rx.Component:
    return rx.text(text, size="2", color_scheme="gray", data_testid="catalog-empty")


def _create_form(
    title: str, form: str, on_submit, button: str, *fields: rx.Component, in_row: bool = True
) -> rx.Component:
    """A card with one create form; `in_row`: it shares a wrapping row with another one."""
    sizing = {"flex": "1 1 20rem", "min_width": "0"} if in_row else {"width": "100%"}
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(title, size="3", as_="h3"),
                *fields,
                _error(Catalog.errors[form]),
                rx.button(button, type="submit", data_testid=f"create-{form}"),
                spacing="3",
                width="100%",
            ),
            on_submit=on_submit,
            key=Catalog.form_version,
            width="100%",
        ),
        **sizing,
    )


# --- products, plans and prices -----------------------------------------------------------------


def _plan_row(plan: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(plan["name"], weight="medium"),
                rx.cond(plan["features"] != "", rx.text(plan["features"], size="1")),
                rx.cond(
                    plan["earlier"] != "",
                    rx.text("Earlier prices: ", plan["earlier"], size="1", color_scheme="gray"),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(plan["tier"]),
        rx.table.cell(plan["prices"]),
        rx.table.cell(plan["subscribers"]),
        rx.table.cell(_status(plan["active"])),
        rx.table.cell(
            rx.cond(
                (plan["active"] == "yes") & staff_can("admin"),
                rx.flex(
                    rx.button(
                        "Edit",
                        size="1",
                        variant="soft",
                        on_click=Catalog.open_editor("plan", plan["id"]),
                        aria_label="Edit plan " + plan["name"],
                    ),
                    rx.button(
                        "Prices",
                        size="1",
                        variant="soft",
                        on_click=Catalog.open_editor("price", plan["id"]),
                        aria_label="Prices of " + plan["name"],
                    ),
                    rx.button(
                        "Archive",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=Catalog.ask_archive("plan", plan["id"]),
                        aria_label="Archive plan " + plan["name"],
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
            )
        ),
        data_testid="catalog-plan",
    )


def _product_block(product: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.flex(
            rx.hstack(
                rx.heading(product["name"], size="4", as_="h3"),
                rx.cond(product["active"] != "yes", rx.badge("Archived", color_scheme="gray")),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                (product["active"] == "yes") & staff_can("admin"),
                rx.hstack(
                    rx.button(
                        "Edit product",
                        size="1",
                        variant="soft",
                        on_click=Catalog.open_editor("product", product["id"]),
                    ),
                    rx.button(
                        "Archive product",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=Catalog.ask_archive("product", product["id"]),
                    ),
                    spacing="2",
                ),
            ),
            justify="between",
            align="center",
            wrap="wrap",
            spacing="2",
            width="100%",
        ),
        rx.cond(
            product["description"] != "",
            rx.text(product["description"], size="2", color_scheme="gray"),
        ),
        _table(
            ["Plan", "Tier", "Prices on sale", "Subscribers", "Status", ""],
            rx.foreach(
                Catalog.plans,
                lambda plan: rx.cond(plan["product_id"] == product["id"], _plan_row(plan)),
            ),
            min_width="44rem",
        ),
        spacing="2",
        width="100%",
        padding_bottom="1rem",
        data_testid="catalog-product",
    )


def _products_section() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Products and plans", size="5", as_="h2"),
            rx.text(
                "Prices are in ",
                Catalog.currency,
                ". A new price never changes what current subscribers pay: they keep theirs "
                "until they switch plans. A higher tier is an upgrade.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                Catalog.products.length() > 0,
                rx.foreach(Catalog.products, _product_block),
                _empty("No products yet. Create your first product below."),
            ),
            rx.cond(
                staff_can("admin"),
                rx.flex(
                    rx.cond(
                        Catalog.product_choices.length() > 0,
                        _create_form(
                            "New plan",
                            "plan",
                            Catalog.create_plan,
                            "Create plan",
                            _field(
                                "Product",
                                "plan-product",
                                rx.el.select(
                                    rx.foreach(
                                        Catalog.product_choices,
                                        lambda p: rx.el.option(p["name"], value=p["id"]),
                                    ),
                                    id="plan-product",
                                    name="product_id",
                                    style=WIDE_INPUT,
                                ),
                            ),
                            _input("plan", "name", "Plan name", required=True, max_length=200),
                            _textarea("plan", "description", "Description (optional)", rows=2),
                            _textarea(
                                "plan", "features", "Features (optional)", "One per line.", rows=3
                            ),
                            rx.flex(
                                rx.box(
                                    _input(
                                        "plan",
                                        "monthly",
                                        "Monthly price",
                                        input_mode="decimal",
                                        placeholder="29.00",
                                    ),
                                    flex="1 1 8rem",
                                ),
                                rx.box(
                                    _input(
                                        "plan",
                                        "annual",
                                        "Annual price (optional)",
                                        input_mode="decimal",
                                        placeholder="290.00",
                                    ),
                                    flex="1 1 8rem",
                                ),
                                spacing="3",
                                wrap="wrap",
                                width="100%",
                            ),
                            _input(
                                "plan",
                                "tier",
                                "Tier (optional)",
                                "Leave empty to place the plan above all others.",
                                input_mode="numeric",
                            ),
                        ),
                        rx.text(
                            "Create a product first: plans belong to a product.",
                            size="2",
                            color_scheme="gray",
                            flex="1 1 20rem",
                        ),
                    ),
                    _create_form(
                        "New product",
                        "product",
                        Catalog.create_product,
                        "Create product",
                        _input("product", "name", "Product name", required=True, max_length=200),
                        _textarea("product", "description", "Description (optional)", rows=2),
                    ),
                    spacing="3",
                    wrap="wrap",
                    width="100%",
                    align="start",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


# --- retention offers ---------------------------------------------------------------------------


def _offer_row(offer: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(offer["name"], weight="medium")),
        rx.table.cell(offer["terms"]),
        rx.table.cell(offer["reasons"]),
        rx.table.cell(offer["redemptions"]),
        rx.table.cell(_status(offer["active"], "On", "Off")),
        rx.table.cell(
            rx.cond(
                staff_can("admin"),
                rx.flex(
                    rx.button(
                        "Edit",
                        size="1",
                        variant="soft",
                        on_click=Catalog.open_editor("offer", offer["id"]),
                        aria_label="Edit offer " + offer["name"],
                    ),
                    rx.cond(
                        offer["active"] == "yes",
                        rx.button(
                            "Turn off",
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            on_click=Catalog.switch_offer(offer["id"], False),
                            aria_label="Turn off offer " + offer["name"],
                        ),
                        rx.button(
                            "Turn on",
                            size="1",
                            variant="soft",
                            color_scheme="green",
                            on_click=Catalog.switch_offer(offer["id"], True),
                            aria_label="Turn on offer " + offer["name"],
                        ),
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
            )
        ),
        data_testid="catalog-offer",
    )


def _reason_boxes(prefix: str, checked_from_editor: bool) -> rx.Component:
    def box(reason: rx.Var) -> rx.Component:
        props = {}
        if checked_from_editor:
            props["default_checked"] = Catalog.editor.contains("reason_" + reason["key"])
        return _checkbox(
            f"{prefix}-reason-" + reason["key"], "reason_" + reason["key"], reason["label"], **props
        )

    return rx.el.fieldset(
        rx.el.legend("Show it to customers who say (none ticked: any reason)", style=LABEL_STYLE),
        rx.grid(
            rx.foreach(Catalog.reasons, box),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="2",
            padding_top="0.5rem",
        ),
        style={"border": "none", "padding": "0", "margin": "0"},
    )


def _offers_section() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Retention offers", size="5", as_="h2"),
            rx.text(
                "A discount on the next renewals, shown in the cancellation flow to customers who "
                "give one of the offer's reasons. Each customer can accept one offer, ever.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                ~Catalog.offers_shown,
                rx.callout(
                    rx.text(
                        "Retention offers (or cancelling) are switched off, so customers see no "
                        "offer. Turn them on in ",
                        rx.link("Settings → Customer Portal", href="/merchant/settings/portal"),
                        ".",
                    ),
                    icon="info",
                    color_scheme="amber",
                    width="100%",
                ),
            ),
            rx.cond(
                Catalog.offers.length() > 0,
                _table(
                    ["Offer", "Discount", "Reasons", "Accepted", "Status", ""],
                    rx.foreach(Catalog.offers, _offer_row),
                    min_width="44rem",
                ),
                _empty("No retention offers yet."),
            ),
            rx.heading("Who sees which offer", size="3", as_="h3"),
            rx.text(
                "An offer aimed at a reason comes before one for any reason; among equals, the "
                "oldest. The cancellation flow shows at most one.",
                size="1",
                color_scheme="gray",
            ),
            _table(
                ["Reason given", "Offer shown"],
                rx.foreach(
                    Catalog.routes,
                    lambda r: rx.table.row(
                        rx.table.cell(r["reason"]),
                        rx.table.cell(r["offer"]),
                        data_testid="offer-route",
                    ),
                ),
            ),
            rx.cond(
                staff_can("admin"),
                _create_form(
                    "New retention offer",
                    "offer",
                    Catalog.create_offer,
                    "Create offer",
                    _input("offer", "name", "Offer name", required=True, max_length=200),
                    rx.flex(
                        rx.box(
                            _input(
                                "offer",
                                "percent_off",
                                "Percent off",
                                "1 to 100",
                                input_mode="numeric",
                                required=True,
                            ),
                            flex="1 1 8rem",
                        ),
                        rx.box(
                            _input(
                                "offer",
                                "duration_cycles",
                                "For how many renewals",
                                "1 to 36",
                                input_mode="numeric",
                                required=True,
                            ),
                            flex="1 1 8rem",
                        ),
                        spacing="3",
                        wrap="wrap",
                        width="100%",
                    ),
                    _reason_boxes("offer", checked_from_editor=False),
                    in_row=False,
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


# --- digital products ---------------------------------------------------------------------------


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
            rx.cond(
                staff_can("admin"),
                rx.flex(
                    rx.button(
                        "Plans",
                        size="1",
                        variant="soft",
                        on_click=Catalog.open_editor("grants", asset["id"]),
                        aria_label="Plans that grant " + asset["name"],
                    ),
                    rx.button(
                        "Edit",
                        size="1",
                        variant="soft",
                        on_click=Catalog.open_editor("asset", asset["id"]),
                        aria_label="Edit " + asset["name"],
                    ),
                    rx.cond(
                        asset["kind"] == "license",
                        rx.button(
                            "Add keys",
                            size="1",
                            variant="soft",
                            on_click=Catalog.open_editor("keys", asset["id"]),
                            aria_label="Add keys to " + asset["name"],
                        ),
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
            )
        ),
        data_testid="catalog-asset",
    )


def _upload_panel() -> rx.Component:
    return rx.vstack(
        rx.cond(
            Catalog.staged_name == "",
            rx.vstack(
                rx.upload(
                    rx.vstack(
                        rx.icon("upload", size=22),
                        rx.text("Drop a file here, or press to choose one", size="2"),
                        rx.text(
                            "Up to 200 MB. Kept private: customers download it through "
                            "expiring links.",
                            size="1",
                            color_scheme="gray",
                        ),
                        align="center",
                        spacing="1",
                    ),
                    id=UPLOAD_ID,
                    max_files=1,
                    multiple=False,
                    max_size=200 * 1024 * 1024,
                    border="1px dashed var(--gray-a8)",
                    border_radius="8px",
                    padding="1.25rem",
                    width="100%",
                    cursor="pointer",
                    tab_index=0,
                    aria_label="Choose a file to upload",
                    data_testid="asset-dropzone",
                ),
                rx.foreach(
                    rx.selected_files(UPLOAD_ID),
                    lambda name: rx.text("Selected: ", name, size="2", data_testid="selected-file"),
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
                    rx.button(
                        "Clear",
                        variant="soft",
                        color_scheme="gray",
                        type="button",
                        on_click=rx.clear_selected_files(UPLOAD_ID),
                    ),
                    spacing="2",
                ),
                spacing="2",
                width="100%",
            ),
            rx.form(
                rx.vstack(
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
                    _input(
                        "file",
                        "name",
                        "Name customers see",
                        default_value=Catalog.staged_name,
                        max_length=200,
                    ),
                    _textarea("file", "description", "Description (optional)", rows=2),
                    _input(
                        "file",
                        "download_limit",
                        "Downloads per customer (optional)",
                        "Leave empty for unlimited.",
                        input_mode="numeric",
                    ),
                    _error(Catalog.errors["file"]),
                    rx.flex(
                        rx.button("Create file product", type="submit", data_testid="create-file"),
                        rx.button(
                            "Remove upload",
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=Catalog.discard_upload,
                        ),
                        spacing="2",
                        wrap="wrap",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=Catalog.create_file_asset,
                key=Catalog.staged_name,
                width="100%",
            ),
        ),
        _error(Catalog.errors["upload"]),
        spacing="3",
        width="100%",
        padding_top="0.75rem",
    )


def _assets_section() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Digital products", size="5", as_="h2"),
            rx.text(
                "Files, license keys and links that customers on the granted plans find under "
                "Downloads.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                Catalog.assets.length() > 0,
                _table(
                    ["Product", "Details", "Granted by", ""],
                    rx.foreach(Catalog.assets, _asset_row),
                    min_width="44rem",
                ),
                _empty("No digital products yet."),
            ),
            rx.cond(
                staff_can("admin"),
                rx.card(
                    rx.tabs.root(
                        rx.tabs.list(
                            rx.tabs.trigger("Upload a file", value="file"),
                            rx.tabs.trigger("License keys", value="license"),
                            rx.tabs.trigger("Link", value="link"),
                        ),
                        rx.tabs.content(_upload_panel(), value="file"),
                        rx.tabs.content(
                            rx.form(
                                rx.vstack(
                                    _input(
                                        "license", "name", "Name", required=True, max_length=200
                                    ),
                                    _textarea(
                                        "license", "description", "Description (optional)", rows=2
                                    ),
                                    _textarea(
                                        "license",
                                        "keys",
                                        "Keys",
                                        "One per line. Repeated keys are skipped.",
                                        rows=6,
                                        required=True,
                                    ),
                                    _error(Catalog.errors["license"]),
                                    rx.button(
                                        "Create key pool",
                                        type="submit",
                                        data_testid="create-license",
                                    ),
                                    spacing="3",
                                    width="100%",
                                    padding_top="0.75rem",
                                ),
                                on_submit=Catalog.create_license_asset,
                                key=Catalog.form_version,
                            ),
                            value="license",
                        ),
                        rx.tabs.content(
                            rx.form(
                                rx.vstack(
                                    _input("link", "name", "Name", required=True, max_length=200),
                                    _textarea(
                                        "link", "description", "Description (optional)", rows=2
                                    ),
                                    _input(
                                        "link",
                                        "url",
                                        "Address",
                                        "Must start with https://",
                                        type="url",
                                        placeholder="https://",
                                        required=True,
                                    ),
                                    _error(Catalog.errors["link"]),
                                    rx.button(
                                        "Create link", type="submit", data_testid="create-link"
                                    ),
                                    spacing="3",
                                    width="100%",
                                    padding_top="0.75rem",
                                ),
                                on_submit=Catalog.create_link_asset,
                                key=Catalog.form_version,
                            ),
                            value="link",
                        ),
                        default_value="file",
                    ),
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


# --- the edit dialog and the archive confirmation -----------------------------------------------


def _editor_value(key: str) -> rx.Var:
    return Catalog.editor[key].to(str)


def _price_dialog_rows() -> rx.Component:
    return rx.vstack(
        rx.foreach(
            Catalog.editor_prices,
            lambda p: rx.flex(
                rx.text(p["label"], weight="medium"),
                rx.text(p["subscribers"], size="1", color_scheme="gray"),
                _status(p["active"]),
                rx.cond(
                    p["active"] == "yes",
                    rx.button(
                        "Stop selling",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        type="button",
                        on_click=Catalog.ask_archive("price", p["id"]),
                        aria_label="Stop selling " + p["label"],
                    ),
                ),
                align="center",
                spacing="3",
                wrap="wrap",
                data_testid="editor-price",
            ),
        ),
        rx.text(
            "Set a new amount: the current price is archived and its subscribers keep paying it.",
            size="1",
            color_scheme="gray",
        ),
        rx.flex(
            rx.box(
                _field(
                    "Billing",
                    "price-interval",
                    rx.el.select(
                        rx.el.option("Monthly", value="month"),
                        rx.el.option("Annual", value="year"),
                        id="price-interval",
                        name="interval",
                        style=WIDE_INPUT,
                    ),
                ),
                flex="1 1 8rem",
            ),
            rx.box(
                _input("price", "amount", "New amount", input_mode="decimal", required=True),
                flex="1 1 8rem",
            ),
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        spacing="2",
        width="100%",
    )


def _editor_fields() -> rx.Component:
    kind = Catalog.editor_kind
    name = _input("edit", "name", "Name", default_value=_editor_value("name"), max_length=200)
    description = _textarea(
        "edit", "description", "Description", default_value=_editor_value("description"), rows=2
    )
    return rx.match(
        kind,
        ("product", rx.vstack(name, description, spacing="3", width="100%")),
        (
            "plan",
            rx.vstack(
                name,
                description,
                _textarea(
                    "edit",
                    "features",
                    "Features",
                    "One per line.",
                    default_value=_editor_value("features"),
                ),
                _input(
                    "edit",
                    "tier",
                    "Tier",
                    "A higher tier is an upgrade.",
                    default_value=_editor_value("tier"),
                    input_mode="numeric",
                ),
                spacing="3",
                width="100%",
            ),
        ),
        ("price", _price_dialog_rows()),
        (
            "offer",
            rx.vstack(
                name,
                _input(
                    "edit",
                    "percent_off",
                    "Percent off",
                    default_value=_editor_value("percent_off"),
                    input_mode="numeric",
                ),
                _input(
                    "edit",
                    "duration_cycles",
                    "For how many renewals",
                    default_value=_editor_value("duration_cycles"),
                    input_mode="numeric",
                ),
                _reason_boxes("edit", checked_from_editor=True),
                rx.text(
                    "Discounts customers already accepted stay as they were.",
                    size="1",
                    color_scheme="gray",
                ),
                spacing="3",
                width="100%",
            ),
        ),
        (
            "asset",
            rx.vstack(
                name,
                description,
                rx.cond(
                    _editor_value("kind") == "file",
                    _input(
                        "edit",
                        "download_limit",
                        "Downloads per customer",
                        "Leave empty for unlimited.",
                        default_value=_editor_value("download_limit"),
                        input_mode="numeric",
                    ),
                ),
                rx.cond(
                    _editor_value("kind") == "link",
                    _input(
                        "edit",
                        "url",
                        "Address",
                        "Must start with https://",
                        type="url",
                        default_value=_editor_value("url"),
                    ),
                ),
                spacing="3",
                width="100%",
            ),
        ),
        (
            "keys",
            _textarea(
                "edit",
                "keys",
                "New keys",
                "One per line. Keys already in a pool are skipped.",
                rows=8,
                required=True,
            ),
        ),
        (
            "grants",
            rx.vstack(
                rx.cond(
                    Catalog.editor_plans.length() > 0,
                    rx.foreach(
                        Catalog.editor_plans,
                        lambda p: _checkbox(
                            "grant-plan-" + p["id"],
                            "plan_" + p["id"],
                            p["label"],
                            default_checked=p["checked"] == "yes",
                        ),
                    ),
                    _empty("There are no plans yet."),
                ),
                rx.text(
                    "Customers with a live subscription to a ticked plan see it under Downloads.",
                    size="1",
                    color_scheme="gray",
                ),
                spacing="2",
                width="100%",
            ),
        ),
        rx.fragment(),
    )


def _editor_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(Catalog.editor_title),
            rx.dialog.description(
                "Changes are saved for all customers at once and recorded in the audit log.",
                size="2",
                color_scheme="gray",
            ),
            rx.form(
                rx.vstack(
                    _editor_fields(),
                    _error(Catalog.editor_error),
                    rx.flex(
                        rx.button(
                            "Close",
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=Catalog.close_editor,
                        ),
                        rx.button(
                            rx.cond(Catalog.editor_kind == "price", "Put on sale", "Save"),
                            type="submit",
                            data_testid="save-editor",
                        ),
                        spacing="2",
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                    padding_top="0.75rem",
                ),
                on_submit=Catalog.save_editor,
                key=Catalog.editor_kind + Catalog.form_version.to(str),
            ),
            max_width="36rem",
            data_testid="catalog-editor",
        ),
        open=Catalog.editor_kind != "",
        on_open_change=Catalog.editor_visibility,
    )


def _confirm_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(Catalog.confirm_title),
            rx.alert_dialog.description(Catalog.confirm_text),
            rx.flex(
                rx.button(
                    "Keep it",
                    variant="soft",
                    color_scheme="gray",
                    on_click=Catalog.cancel_archive,
                ),
                rx.button(
                    rx.cond(Catalog.confirm_kind == "price", "Stop selling", "Archive"),
                    color_scheme="red",
                    on_click=Catalog.confirm_archive,
                    data_testid="confirm-archive",
                ),
                spacing="2",
                justify="end",
                margin_top="1rem",
            ),
        ),
        open=Catalog.confirm_kind != "",
        on_open_change=Catalog.confirm_visibility,
    )


def catalog_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            merchant_header("Catalog"),
            rx.cond(
                Catalog.loaded,
                rx.vstack(
                    read_only_note("admin", "the catalog"),
                    _products_section(),
                    _offers_section(),
                    _assets_section(),
                    _editor_dialog(),
                    _confirm_dialog(),
                    spacing="4",
                    width="100%",
                ),
                rx.cond(
                    Catalog.load_error != "",
                    rx.callout(
                        Catalog.load_error, icon="triangle-alert", color_scheme="red", role="alert"
                    ),
                    rx.center(rx.spinner(size="3"), padding="3rem", aria_label="Loading"),
                ),
            ),
            spacing="4",
            width="100%",
        ),
        subtitle="Catalog",
    )
