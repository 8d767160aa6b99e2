"""Merchant dashboard → Checkouts: every checkout session (open, completed, expired), newest
first, with what it sells, the email given, where it came from and the customer it made; and
"Create a checkout link" for a plan or a product sold once, to send to a buyer."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.billing_lists import filtered_list, filters, nowrap_cell
from portal_app.components.merchant_header import staff_can
from portal_app.pages.merchant_catalog_products import copy_field
from portal_app.state.merchant_checkouts import CHECKOUT_FILTER_LABELS
from portal_app.state.merchant_checkouts import MerchantCheckoutsState as Checkouts

STATUS_COLORS = {"open": "amber", "completed": "green", "expired": "gray"}


def _result(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["customer_id"] != "",
        rx.link(
            row["customer"],
            href=routes.MERCHANT_CUSTOMERS + "/" + row["customer_id"],
            data_testid="checkout-customer",
        ),
        rx.cond(
            row["link"] != "",
            ui.secondary_button(
                "Copy link",
                type="button",
                size="1",
                on_click=[rx.set_clipboard(row["link"]), rx.toast.success("Copied.")],
                aria_label="Copy the checkout link for " + row["item"],
                data_testid="copy-checkout-row-link",
            ),
            rx.text("—", color_scheme="gray"),
        ),
    )


def _checkout_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        nowrap_cell(row["created"]),
        rx.table.cell(row["item"]),
        rx.table.cell(
            rx.cond(
                row["email"] != "",
                rx.text(row["email"], size="2", style={"overflow_wrap": "anywhere"}),
                rx.text("Not given", size="2", color_scheme="gray"),
            )
        ),
        rx.table.cell(ui.status_badge(row["status"], STATUS_COLORS)),
        nowrap_cell(row["source"]),
        rx.table.cell(_result(row)),
        data_testid="checkout-row",
    )


def _create_form() -> rx.Component:
    return ff.section_form(
        "Create a checkout link",
        "A link for one buyer: any plan on sale (also those not sold publicly) or a "
        "product sold once. It stays open for 24 hours.",
        ff.select(
            "Plan or product",
            "checkout-item",
            "item",
            rx.foreach(Checkouts.choices, lambda c: rx.el.option(c["label"], value=c["value"])),
        ),
        ff.side_by_side(
            ff.text_input(
                "checkout",
                "email",
                "Buyer's email (optional)",
                type="email",
                max_length=320,
                auto_complete="off",
            ),
            ff.text_input(
                "checkout",
                "trial_days",
                "Trial days (optional)",
                "Empty: the plan's own trial. 0: no trial.",
                input_mode="numeric",
            ),
        ),
        ff.text_input(
            "checkout",
            "success_url",
            "Return page after paying (optional)",
            "Empty: the buyer lands signed in to the portal. Its origin must be allowed in "
            "Settings → Checkout first.",
            type="url",
            max_length=1000,
            auto_complete="off",
        ),
        ui.error_callout(Checkouts.link_error, width="100%"),
        rx.button("Create link", type="submit", data_testid="create-checkout-link"),
        on_submit=Checkouts.create_link,
        key=Checkouts.form_version,
        once=True,
        heading_size="3",
        after=rx.cond(
            Checkouts.created_link != "",
            rx.vstack(
                rx.text("The new checkout link", weight="medium", size="2"),
                copy_field("Checkout link", Checkouts.created_link, "checkout-link"),
                spacing="1",
                width="100%",
                padding_top="0.75rem",
            ),
        ),
        testid="checkout-link-form",
    )


def checkouts_page() -> rx.Component:
    return ui.merchant_page(
        "Checkouts",
        filtered_list(
            Checkouts,
            before=(
                rx.cond(
                    staff_can("support"),
                    rx.cond(
                        Checkouts.choices.length() > 0,
                        _create_form(),
                        rx.text(
                            "Put a plan or a one-time product on sale in the catalog to create "
                            "checkout links.",
                            size="2",
                            color_scheme="gray",
                        ),
                    ),
                ),
            ),
            filter_bar=filters(Checkouts, CHECKOUT_FILTER_LABELS, "Checkout status"),
            noun="checkout",
            headers=["Created (UTC)", "Plan or product", "Email", "Status", "Source", "Result"],
            render=_checkout_row,
        ),
    )
