"""Catalog → discount codes: the coupons (terms, what they apply to, codes, redemptions against
the limit, status), their codes, the create form (a coupon with its first code), the form that
adds a code to a coupon, and the confirmation before turning one off. Its own state
(state/merchant_catalog_coupons.py), loaded when the section mounts."""

from __future__ import annotations

import reflex as rx

from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.merchant_header import staff_can
from portal_app.components.page_parts import asked_dialog, subheading
from portal_app.state.merchant_catalog_coupons import MerchantCatalogCouponsState as Coupons

STATUS_COLORS = {"On": "green", "Off": "gray", "Expired": "amber", "Coupon off": "gray"}


def _switch_buttons(kind: str, row: rx.Var, label: rx.Var) -> rx.Component:
    return ui.row_actions(
        rx.cond(
            row["active"] == "yes",
            ui.row_action(
                "Turn off",
                Coupons.switch(kind, row["id"], False),
                color="red",
                aria_label=f"Turn off {kind} " + label,
            ),
            ui.row_action(
                "Turn on",
                Coupons.switch(kind, row["id"], True),
                color="green",
                aria_label=f"Turn on {kind} " + label,
            ),
        ),
        when=staff_can("admin"),
    )


def _coupon_row(coupon: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(coupon["name"], weight="medium")),
        rx.table.cell(coupon["terms"]),
        rx.table.cell(coupon["applies_to"]),
        rx.table.cell(coupon["redeem_by"]),
        rx.table.cell(coupon["codes"]),
        rx.table.cell(coupon["redemptions"]),
        rx.table.cell(ui.status_badge(coupon["status"], STATUS_COLORS, default="gray")),
        rx.table.cell(_switch_buttons("coupon", coupon, coupon["name"])),
        data_testid="catalog-coupon",
    )


def _code_row(code: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(code["code"])),
        rx.table.cell(code["coupon"]),
        rx.table.cell(code["redemptions"]),
        rx.table.cell(code["expires_at"]),
        rx.table.cell(ui.status_badge(code["status"], STATUS_COLORS, default="gray")),
        rx.table.cell(_switch_buttons("code", code, code["code"])),
        data_testid="catalog-code",
    )


def _boxes(legend: str, prefix: str, choices: rx.Var) -> rx.Component:
    def box(choice: rx.Var) -> rx.Component:
        return ff.checkbox(
            f"coupon-{prefix}-" + choice["id"], f"{prefix}_" + choice["id"], choice["label"]
        )

    return rx.cond(choices.length() > 0, ff.checkbox_group(legend, choices, box, columns="3"))


def _coupon_form() -> rx.Component:
    return ff.form_card(
        "New coupon",
        "create-coupon",
        Coupons.create_coupon,
        "Create coupon",
        ff.side_by_side(
            ff.text_input("coupon", "name", "Coupon name", required=True, max_length=200),
            ff.text_input(
                "coupon",
                "code",
                "Code customers type",
                "3 to 32 letters, digits, - or _",
                required=True,
                max_length=32,
                auto_capitalize="characters",
            ),
        ),
        ff.side_by_side(
            ff.text_input("coupon", "percent_off", "Percent off", "1 to 100", input_mode="numeric"),
            ff.text_input(
                "coupon", "amount_off", "…or amount off", "like 5.00", input_mode="decimal"
            ),
            ff.select(
                "Currency",
                "coupon-currency",
                "currency",
                rx.foreach(Coupons.currencies, lambda c: rx.el.option(c, value=c)),
            ),
        ),
        ff.side_by_side(
            ff.select(
                "Lasts",
                "coupon-duration",
                "duration",
                rx.el.option("The first payment", value="once"),
                rx.el.option("A number of payments", value="repeating"),
                rx.el.option("Every payment", value="forever"),
            ),
            ff.text_input(
                "coupon",
                "duration_cycles",
                "Number of payments",
                "1 to 36, when it lasts a number",
                input_mode="numeric",
            ),
        ),
        ff.side_by_side(
            ff.text_input("coupon", "redeem_by", "Redeem by (optional)", type="date"),
            ff.text_input(
                "coupon",
                "max_redemptions",
                "Maximum redemptions (optional)",
                input_mode="numeric",
            ),
        ),
        _boxes("Only for these plans (none ticked: everything)", "plan", Coupons.plan_choices),
        _boxes("…or these one-time products", "product", Coupons.product_choices),
        error=ui.error_callout(Coupons.coupon_error, width="100%"),
        key=Coupons.form_version,
        once=True,
    )


def _code_form() -> rx.Component:
    return ff.form_card(
        "Add a code to a coupon",
        "add-code",
        Coupons.add_code,
        "Add code",
        ff.select(
            "Coupon",
            "code-coupon-id",
            "coupon_id",
            rx.el.option("Choose a coupon", value=""),
            rx.foreach(Coupons.coupon_choices, lambda c: rx.el.option(c["label"], value=c["id"])),
        ),
        ff.text_input(
            "code",
            "code",
            "Code customers type",
            "3 to 32 letters, digits, - or _",
            required=True,
            max_length=32,
        ),
        ff.side_by_side(
            ff.text_input(
                "code", "max_redemptions", "Maximum redemptions (optional)", input_mode="numeric"
            ),
            ff.text_input("code", "expires_at", "Expires (optional)", type="date"),
        ),
        error=ui.error_callout(Coupons.code_error, width="100%"),
        key=Coupons.form_version,
        once=True,
    )


def _confirm() -> rx.Component:
    return asked_dialog(
        Coupons,
        keep="Keep it on",
        on_keep=Coupons.keep_it,
        action="Turn off",
        on_confirm=Coupons.confirm_off,
        testid="confirm-coupon-off",
    )


def _body() -> rx.Component:
    return rx.fragment(
        ui.data_table(
            [
                "Coupon",
                "Discount",
                "Applies to",
                "Redeem by",
                "Codes",
                "Redeemed",
                "Status",
                "",
            ],
            rows=Coupons.coupons,
            render=_coupon_row,
            min_width="56rem",
            empty=ui.empty_state("No coupons yet.", plain=True, testid="coupons-empty"),
        ),
        rx.cond(
            Coupons.codes.length() > 0,
            rx.fragment(
                *subheading(
                    "Codes",
                    "What customers type at checkout. A code's own limit and expiry come on top "
                    "of its coupon's.",
                    nested=True,
                ),
                ui.data_table(
                    ["Code", "Coupon", "Redeemed", "Expires", "Status", ""],
                    rows=Coupons.codes,
                    render=_code_row,
                    min_width="40rem",
                ),
            ),
        ),
        rx.cond(
            staff_can("admin"),
            rx.flex(_coupon_form(), _code_form(), spacing="3", wrap="wrap", width="100%"),
        ),
        _confirm(),
    )


def coupons_section() -> rx.Component:
    return rx.box(
        ui.section_card(
            "Discount codes",
            rx.cond(Coupons.loaded, _body(), ui.loading_or_error(Coupons.load_error)),
            heading_size="5",
            description="Coupons take a percentage or an amount off checkout's first invoice "
            "and, for as long as they last, the renewals. Customers redeem them with a code.",
            testid="catalog-coupons",
        ),
        on_mount=Coupons.load,
        width="100%",
    )
