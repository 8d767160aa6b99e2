"""Catalog → products and plans: each product with its plans' tiers, prices on sale, earlier
prices still paid and subscribers, what checkout sells (trials, public sale, one-time prices,
shipping) with the buy links to share; the create forms for a product and a plan."""

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


def copy_field(label: str, value: rx.Var, testid: str) -> rx.Component:
    """A read-only link with a Copy button (a buy link, a checkout link)."""
    return rx.hstack(
        rx.el.input(
            value=value,
            read_only=True,
            aria_label=label,
            data_testid=testid,
            style={**ff.WIDE_INPUT, "min_width": "0", "font_size": "0.8rem"},
        ),
        ui.secondary_button(
            "Copy",
            type="button",
            size="1",
            on_click=[rx.set_clipboard(value), rx.toast.success("Copied.")],
            aria_label="Copy " + label.lower(),
        ),
        align="center",
        spacing="2",
        width="100%",
    )


def _plan_checkout(plan: rx.Var) -> rx.Component:
    terms = Catalog.plan_terms[plan["id"]]
    return rx.vstack(
        rx.text(terms["trial"].to(str), size="1", data_testid="plan-trial"),
        rx.cond(
            terms["public"].to(str) == "yes",
            rx.fragment(),
            rx.badge("Staff checkout links only", color_scheme="gray", data_testid="plan-private"),
        ),
        rx.cond(
            (plan["active"] == "yes")
            & (terms["public"].to(str) == "yes")
            & (terms["buy_link"].to(str) != ""),
            copy_field("Buy link", terms["buy_link"].to(str), "plan-buy-link"),
        ),
        spacing="1",
        min_width="14rem",
    )


def _plan_row(plan: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(plan["name"], weight="medium"),
                ui.optional_text(plan["features"], size="1"),
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
        rx.table.cell(_plan_checkout(plan)),
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


def _product_sale(product: rx.Var) -> rx.Component:
    """The one-time price, shipping and buy link, for a product sold once."""
    terms = Catalog.product_terms[product["id"]]
    return rx.cond(
        terms["one_time"].to(str) != "",
        rx.vstack(
            rx.hstack(
                rx.text(
                    "Sold once at ", terms["one_time"].to(str), size="2", data_testid="one-time"
                ),
                rx.cond(
                    terms["shippable"].to(str) == "yes",
                    rx.badge("Ships", data_testid="product-ships"),
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                product["active"] == "yes",
                rx.box(
                    copy_field("Buy link", terms["buy_link"].to(str), "product-buy-link"),
                    max_width="32rem",
                    width="100%",
                ),
            ),
            spacing="1",
            width="100%",
        ),
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
        _product_sale(product),
        ui.data_table(
            ["Plan", "Tier", "Prices on sale", "Subscribers", "Checkout", "Status", ""],
            body=rx.foreach(
                Catalog.plans,
                lambda plan: rx.cond(plan["product_id"] == product["id"], _plan_row(plan)),
            ),
            min_width="58rem",
        ),
        spacing="2",
        width="100%",
        padding_bottom="1rem",
        data_testid="catalog-product",
    )


def plan_checkout_fields(
    form: str, days: rx.Var | str = "0", card: rx.Var | bool = True, public: rx.Var | bool = True
) -> list[rx.Component]:
    """The trial and public-sale fields of the new-plan form and of the edit dialog (`days`,
    `card`, `public`: what they show first)."""
    return [
        ff.text_input(
            form,
            "trial_days",
            "Free trial (days)",
            "0 for no trial, up to 365. One trial per customer and product.",
            input_mode="numeric",
            default_value=days,
        ),
        ff.checkbox(
            f"{form}-trial-card",
            "trial_requires_card",
            "Card required for the trial",
            default_checked=card,
        ),
        ff.checkbox(
            f"{form}-public", "public", "Sold through public checkout", default_checked=public
        ),
    ]


def product_sale_fields(
    form: str, amount: rx.Var | str = "", ships: rx.Var | bool = False
) -> list[rx.Component]:
    """The one-time price and shipping fields of the new-product form and the edit dialog."""
    return [
        ff.text_input(
            form,
            "one_time_amount",
            "One-time price (optional)",
            "Sells the product once through checkout. Leave empty if it is not sold once.",
            input_mode="decimal",
            placeholder="49.00",
            default_value=amount,
        ),
        ff.checkbox(
            f"{form}-shippable", "shippable", "Ships physical goods", default_checked=ships
        ),
    ]


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
        *plan_checkout_fields("plan"),
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
        *product_sale_fields("product"),
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
        ui.foreach_or_empty(
            Catalog.products,
            _product_block,
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
