"""Catalog → products and plans: each product with its plans' tiers, prices on sale, earlier
prices still paid and subscribers; the create forms for a product and a plan."""

from __future__ import annotations

import reflex as rx

from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.merchant_header import staff_can
from portal_app.state.merchant_catalog import MerchantCatalogState as Catalog


def editor_button(label: str, kind: str, row: rx.Var, about: str) -> rx.Component:
    """A row button that opens the edit dialog on `row` (a plan, an offer, a digital product)
    as `kind`; its aria-label is `about` + the row's name. Every catalog section uses it."""
    return ui.row_action(
        label, Catalog.open_editor(kind, row["id"]), aria_label=about + row["name"]
    )


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
        rx.table.cell(ui.flag_badge(plan["active"], "On sale", "Archived")),
        rx.table.cell(
            ui.row_actions(
                editor_button("Edit", "plan", plan, "Edit plan "),
                editor_button("Prices", "price", plan, "Prices of "),
                ui.row_action(
                    "Archive",
                    Catalog.ask_archive("plan", plan["id"]),
                    color="red",
                    aria_label="Archive plan " + plan["name"],
                ),
                when=(plan["active"] == "yes") & staff_can("admin"),
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
                    ui.row_action("Edit product", Catalog.open_editor("product", product["id"])),
                    ui.row_action(
                        "Archive product",
                        Catalog.ask_archive("product", product["id"]),
                        color="red",
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
        ui.data_table(
            ["Plan", "Tier", "Prices on sale", "Subscribers", "Status", ""],
            body=rx.foreach(
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


def _plan_form() -> rx.Component:
    return ff.form_card(
        "New plan",
        "create-plan",
        Catalog.create_plan,
        "Create plan",
        ff.select(
            "Product",
            "plan-product",
            "product_id",
            rx.foreach(Catalog.product_choices, lambda p: rx.el.option(p["name"], value=p["id"])),
        ),
        ff.text_input("plan", "name", "Plan name", required=True, max_length=200),
        ff.textarea("plan", "description", "Description (optional)", rows=2),
        ff.textarea("plan", "features", "Features (optional)", "One per line.", rows=3),
        ff.side_by_side(
            ff.text_input(
                "plan", "monthly", "Monthly price", input_mode="decimal", placeholder="29.00"
            ),
            ff.text_input(
                "plan",
                "annual",
                "Annual price (optional)",
                input_mode="decimal",
                placeholder="290.00",
            ),
        ),
        ff.text_input(
            "plan",
            "tier",
            "Tier (optional)",
            "Leave empty to place the plan above all others.",
            input_mode="numeric",
        ),
        error=ui.error_callout(Catalog.plan_error, width="100%"),
        key=Catalog.form_version,
    )


def _product_form() -> rx.Component:
    return ff.form_card(
        "New product",
        "create-product",
        Catalog.create_product,
        "Create product",
        ff.text_input("product", "name", "Product name", required=True, max_length=200),
        ff.textarea("product", "description", "Description (optional)", rows=2),
        error=ui.error_callout(Catalog.product_error, width="100%"),
        key=Catalog.form_version,
    )


def products_section() -> rx.Component:
    return ui.section_card(
        "Products and plans",
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
            ui.empty_state(
                "No products yet. Create your first product below.",
                plain=True,
                testid="catalog-empty",
            ),
        ),
        rx.cond(
            staff_can("admin"),
            rx.flex(
                rx.cond(
                    Catalog.product_choices.length() > 0,
                    _plan_form(),
                    rx.text(
                        "Create a product first: plans belong to a product.",
                        size="2",
                        color_scheme="gray",
                        flex="1 1 20rem",
                    ),
                ),
                _product_form(),
                spacing="3",
                wrap="wrap",
                width="100%",
                align="start",
            ),
        ),
        heading_size="5",
    )
