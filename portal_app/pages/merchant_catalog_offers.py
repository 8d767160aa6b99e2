"""Catalog → retention offers: the offers with their terms, reasons and how often they were
accepted, which offer each cancellation reason leads to, and the create form."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.merchant_header import staff_can
from portal_app.components.page_parts import subheading
from portal_app.pages.merchant_catalog_products import editor_button
from portal_app.state.merchant_catalog import MerchantCatalogState as Catalog


def _offer_row(offer: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(offer["name"], weight="medium")),
        rx.table.cell(offer["terms"]),
        rx.table.cell(offer["reasons"]),
        rx.table.cell(offer["redemptions"]),
        rx.table.cell(ui.flag_badge(offer["active"], "On", "Off")),
        rx.table.cell(
            ui.row_actions(
                editor_button("Edit", "offer", offer, "Edit offer "),
                rx.cond(
                    offer["active"] == "yes",
                    ui.row_action(
                        "Turn off",
                        Catalog.switch_offer(offer["id"], False),
                        color="red",
                        aria_label="Turn off offer " + offer["name"],
                    ),
                    ui.row_action(
                        "Turn on",
                        Catalog.switch_offer(offer["id"], True),
                        color="green",
                        aria_label="Turn on offer " + offer["name"],
                    ),
                ),
                when=staff_can("admin"),
            )
        ),
        data_testid="catalog-offer",
    )


def reason_boxes(prefix: str, checked_from_editor: bool) -> rx.Component:
    """A box per survey reason (`reason_<key>`); in the dialog ticked as the offer has them."""

    def box(reason: rx.Var) -> rx.Component:
        props = {}
        if checked_from_editor:
            props["default_checked"] = Catalog.editor.contains("reason_" + reason["key"])
        return ff.checkbox(
            f"{prefix}-reason-" + reason["key"], "reason_" + reason["key"], reason["label"], **props
        )

    return ff.checkbox_group(
        "Show it to customers who say (none ticked: any reason)", Catalog.reasons, box, columns="2"
    )


def _offer_form() -> rx.Component:
    return ff.form_card(
        "New retention offer",
        "create-offer",
        Catalog.create_offer,
        "Create offer",
        ff.text_input("offer", "name", "Offer name", required=True, max_length=200),
        ff.side_by_side(
            ff.text_input(
                "offer",
                "percent_off",
                "Percent off",
                "1 to 100",
                input_mode="numeric",
                required=True,
            ),
            ff.text_input(
                "offer",
                "duration_cycles",
                "For how many renewals",
                "1 to 36",
                input_mode="numeric",
                required=True,
            ),
        ),
        reason_boxes("offer", checked_from_editor=False),
        error=ui.error_callout(Catalog.offer_error, width="100%"),
        key=Catalog.form_version,
        in_row=False,
    )


def offers_section() -> rx.Component:
    return ui.section_card(
        "Retention offers",
        rx.cond(
            ~Catalog.offers_shown,
            rx.callout(
                rx.text(
                    "Retention offers (or cancelling) are switched off, so customers see no "
                    "offer. Turn them on in ",
                    rx.link("Settings → Customer Portal", href=routes.MERCHANT_SETTINGS),
                    ".",
                ),
                icon="info",
                color_scheme="amber",
                width="100%",
            ),
        ),
        ui.data_table(
            ["Offer", "Discount", "Reasons", "Accepted", "Status", ""],
            rows=Catalog.offers,
            render=_offer_row,
            min_width="44rem",
            empty=ui.empty_state("No retention offers yet.", plain=True, testid="catalog-empty"),
        ),
        *subheading(
            "Who sees which offer",
            "An offer aimed at a reason comes before one for any reason; among equals, the "
            "oldest. The cancellation flow shows at most one.",
            nested=True,
        ),
        ui.data_table(
            columns=[("Reason given", "reason"), ("Offer shown", "offer")],
            rows=Catalog.routes,
            row_testid="offer-route",
            min_width="0",
        ),
        rx.cond(staff_can("admin"), _offer_form()),
        heading_size="5",
        description="A discount on the next renewals, shown in the cancellation flow to "
        "customers who give one of the offer's reasons. Each customer can accept one offer, ever.",
    )
