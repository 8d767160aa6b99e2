"""Merchant dashboard → Catalog: products with their plans and prices, retention offers with who
sees which, and digital products (file upload, license-key pools, links) granted to plans. This
module is the page itself; each section is its own module (merchant_catalog_products,
merchant_catalog_offers, merchant_catalog_digital), the edit dialog too (merchant_catalog_editor);
the archive confirmation is the page's."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.merchant_header import read_only_note
from portal_app.components.page_parts import asked_dialog
from portal_app.pages.merchant_catalog_coupons import coupons_section
from portal_app.pages.merchant_catalog_digital import digital_section
from portal_app.pages.merchant_catalog_editor import editor_dialog
from portal_app.pages.merchant_catalog_offers import offers_section
from portal_app.pages.merchant_catalog_products import products_section
from portal_app.state.merchant_catalog import MerchantCatalogState as Catalog


def _confirm_dialog() -> rx.Component:
    return asked_dialog(
        Catalog,
        keep="Keep it",
        on_keep=Catalog.keep_it,
        action=rx.cond(Catalog.confirm_kind == "price", "Stop selling", "Archive"),
        on_confirm=Catalog.confirm_archive,
        testid="confirm-archive",
    )


def catalog_page() -> rx.Component:
    return ui.merchant_page(
        "Catalog",
        ui.when_loaded(
            Catalog.loaded,
            read_only_note("admin", "the catalog"),
            products_section(),
            offers_section(),
            coupons_section(),
            digital_section(),
            editor_dialog(),
            _confirm_dialog(),
            otherwise=ui.loading_or_error(Catalog.load_error),
        ),
    )
