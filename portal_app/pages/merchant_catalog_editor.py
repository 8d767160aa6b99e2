"""Catalog → the edit dialog: one form per kind (product, plan, a plan's prices, offer, digital
product, new license keys, the plans that grant a digital product), filled from the state's
`editor` values; saving records the change in the audit log."""

from __future__ import annotations

import reflex as rx

from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.ui import secondary_button
from portal_app.pages.merchant_catalog_offers import reason_boxes
from portal_app.pages.merchant_catalog_products import (
    copy_field,
    plan_checkout_fields,
    product_sale_fields,
)
from portal_app.state.merchant_catalog import MerchantCatalogState as Catalog


def _value(key: str) -> rx.Var:
    return Catalog.editor[key].to(str)


def _edit_input(name: str, label: str, hint: str = "", **props) -> rx.Component:
    return ff.text_input("edit", name, label, hint, default_value=_value(name), **props)


def _price_row(price: rx.Var) -> rx.Component:
    return rx.flex(
        rx.text(price["label"], weight="medium"),
        rx.text(price["subscribers"], size="1", color_scheme="gray"),
        ui.flag_badge(price["active"], "On sale", "Archived"),
        rx.cond(
            price["active"] == "yes",
            ui.row_action(
                "Stop selling",
                Catalog.ask_archive("price", price["id"]),
                color="red",
                button_type="button",
                aria_label="Stop selling " + price["label"],
            ),
        ),
        align="center",
        spacing="3",
        wrap="wrap",
        data_testid="editor-price",
    )


def _prices() -> rx.Component:
    return rx.vstack(
        rx.foreach(Catalog.editor_prices, _price_row),
        rx.text(
            "Set a new amount: the current price is archived and its subscribers keep paying it.",
            size="1",
            color_scheme="gray",
        ),
        ff.side_by_side(
            ff.select(
                "Billing",
                "price-interval",
                "interval",
                rx.el.option("Monthly", value="month"),
                rx.el.option("Annual", value="year"),
            ),
            ff.text_input("price", "amount", "New amount", input_mode="decimal", required=True),
        ),
        spacing="2",
        width="100%",
    )


def _grant_boxes(rows: rx.Var, kind: str) -> rx.Component:
    return rx.foreach(
        rows,
        lambda row: ff.checkbox(
            f"grant-{kind}-" + row["id"],
            f"{kind}_" + row["id"],
            row["label"],
            default_checked=row["checked"] == "yes",
        ),
    )


def _grants() -> rx.Component:
    return rx.vstack(
        rx.text("Plans", weight="medium", size="2"),
        rx.cond(
            Catalog.editor_plans.length() > 0,
            _grant_boxes(Catalog.editor_plans, "plan"),
            ui.empty_state("There are no plans yet.", plain=True, testid="catalog-empty"),
        ),
        rx.text(
            "Customers with a live subscription to a ticked plan see it under Downloads.",
            size="1",
            color_scheme="gray",
        ),
        rx.cond(
            Catalog.editor_products.length() > 0,
            rx.vstack(
                rx.text("Products bought once", weight="medium", size="2"),
                _grant_boxes(Catalog.editor_products, "product"),
                rx.text(
                    "Customers who bought a ticked product (and were not refunded) see it "
                    "under Downloads.",
                    size="1",
                    color_scheme="gray",
                ),
                spacing="2",
                width="100%",
                data_testid="grant-products",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _buy_link(kind: str) -> rx.Component:
    """The plan's or product's buy link (its slug never changes: shared links keep working)."""
    return rx.cond(
        _value("buy_link") != "",
        rx.vstack(
            rx.text("Buy link", weight="medium", size="2"),
            copy_field("Buy link", _value("buy_link"), f"editor-{kind}-buy-link"),
            spacing="1",
            width="100%",
        ),
    )


def _stack(*children: rx.Component) -> rx.Component:
    return rx.vstack(*children, spacing="3", width="100%")


def _fields() -> rx.Component:
    name = _edit_input("name", "Name", max_length=200)
    description = ff.textarea(
        "edit", "description", "Description", default_value=_value("description"), rows=2
    )
    return rx.match(
        Catalog.editor_kind,
        (
            "product",
            _stack(
                name,
                description,
                *product_sale_fields(
                    "edit", amount=_value("one_time_amount"), ships=_value("shippable") == "yes"
                ),
                _buy_link("product"),
            ),
        ),
        (
            "plan",
            _stack(
                name,
                description,
                ff.textarea(
                    "edit",
                    "features",
                    "Features",
                    "One per line.",
                    default_value=_value("features"),
                ),
                ff.textarea(
                    "edit",
                    "entitlements",
                    "Entitlements",
                    "What your app checks through the API, one per line: seats: 5, "
                    "api_access: true.",
                    default_value=_value("entitlements"),
                ),
                _edit_input("tier", "Tier", "A higher tier is an upgrade.", input_mode="numeric"),
                *plan_checkout_fields(
                    "edit",
                    days=_value("trial_days"),
                    card=_value("trial_requires_card") == "yes",
                    public=_value("public") == "yes",
                ),
                _buy_link("plan"),
            ),
        ),
        ("price", _prices()),
        (
            "offer",
            _stack(
                name,
                _edit_input("percent_off", "Percent off", input_mode="numeric"),
                _edit_input("duration_cycles", "For how many renewals", input_mode="numeric"),
                reason_boxes("edit", checked_from_editor=True),
                rx.text(
                    "Discounts customers already accepted stay as they were.",
                    size="1",
                    color_scheme="gray",
                ),
            ),
        ),
        (
            "asset",
            _stack(
                name,
                description,
                rx.cond(
                    _value("kind") == "file",
                    _edit_input(
                        "download_limit",
                        "Downloads per customer",
                        "Leave empty for unlimited.",
                        input_mode="numeric",
                    ),
                ),
                rx.cond(
                    _value("kind") == "link",
                    _edit_input("url", "Address", "Must start with https://", type="url"),
                ),
            ),
        ),
        (
            "keys",
            ff.textarea(
                "edit",
                "keys",
                "New keys",
                "One per line. Keys already in a pool are skipped.",
                rows=8,
                required=True,
            ),
        ),
        ("grants", _grants()),
        rx.fragment(),
    )


def editor_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(Catalog.editor_title),
            rx.dialog.description(
                "Changes are saved for all customers at once and recorded in the audit log.",
                size="2",
                color_scheme="gray",
            ),
            ff.stacked_form(
                _fields(),
                ui.error_callout(Catalog.editor_error, width="100%"),
                rx.flex(
                    secondary_button("Close", type="button", on_click=Catalog.close_editor),
                    rx.button(
                        rx.cond(Catalog.editor_kind == "price", "Put on sale", "Save"),
                        type="submit",
                        data_testid="save-editor",
                    ),
                    spacing="2",
                    justify="end",
                    width="100%",
                ),
                on_submit=Catalog.save_editor,
                key=Catalog.editor_kind + Catalog.form_version.to(str),
                padding_top="0.75rem",
                width=None,
            ),
            max_width="36rem",
            data_testid="catalog-editor",
        ),
        open=Catalog.editor_kind != "",
        on_open_change=Catalog.editor_visibility,
    )
