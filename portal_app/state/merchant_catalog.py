"""Catalog for merchant staff (/merchant/catalog): products, plans and prices, retention offers
and digital products. Thin: parse the forms, call `catalog_admin`, `retention_offers` and
`digital_admin` (which validate everything again and audit), show what `catalog_view` reads.

One state for the page, put together from one mixin per screen: products and plans
(merchant_catalog_products), retention offers (merchant_catalog_offers), digital products
(merchant_catalog_digital) and the edit dialog (merchant_catalog_editor). This module is the
shell: loading, the create forms' shared reset, and the archive confirmation."""

from __future__ import annotations

import logging

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from portal_app.services import catalog_admin, catalog_overview, catalog_view
from portal_app.state import confirming
from portal_app.state.confirming import Confirming
from portal_app.state.guard import PrivateState, Refreshing, guarded, read, write
from portal_app.state.merchant_catalog_digital import UPLOAD_ID, CatalogDigitalMixin
from portal_app.state.merchant_catalog_editor import CatalogEditorMixin, parse_id
from portal_app.state.merchant_catalog_offers import CatalogOffersMixin
from portal_app.state.merchant_catalog_products import CatalogProductsMixin

log = logging.getLogger(__name__)

__all__ = ["FORMS", "UPLOAD_ID", "MerchantCatalogState"]

# The create forms; each shows its refusal in `<form>_error`, one at a time.
FORMS = ("product", "plan", "offer", "file", "license", "link", "upload")
ARCHIVE = {
    "product": (catalog_admin.archive_product, "product_id"),
    "plan": (catalog_admin.archive_plan, "plan_id"),
    "price": (catalog_admin.archive_price, "price_id"),
}


class MerchantCatalogState(
    CatalogProductsMixin,
    CatalogOffersMixin,
    CatalogDigitalMixin,
    CatalogEditorMixin,
    Confirming,
    Refreshing,
    PrivateState,
):
    loaded: bool = False
    load_error: str = ""
    currency: str = ""
    form_version: int = 0  # remounts the create forms after a success

    # --- loading --------------------------------------------------------------------------------

    def _refresh(self) -> None:
        for key, value in read(catalog_view.catalog).items():
            setattr(self, key, value)
        for key, value in read(catalog_overview.sale_terms).items():  # plan_terms, product_terms
            setattr(self, key, value)
        self.loaded = True

    def _clear_errors(self) -> None:
        for form in FORMS:
            setattr(self, f"{form}_error", "")

    def _done(self, message: str):
        """A create form (or the dialog) succeeded: clear the forms and say what happened."""
        self._clear_errors()
        self.form_version += 1
        return self._changed(message)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self._clear_errors()
        self.load_error = ""
        self.editor_kind, self.confirm_kind = "", ""
        self._new_ticket()
        try:
            self._refresh()
        except SQLAlchemyError:
            log.exception("could not read the catalog")
            self.load_error = "The catalog can't be read right now. Reload the page to try again."

    # --- archiving, with a confirmation ---------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="admin")
    def ask_archive(self, kind: str, item_id: str):
        if kind not in ARCHIVE:
            return
        item = parse_id(item_id)
        title, text = read(catalog_view.archive_question, kind=kind, item_id=item)
        self._ask(kind, item, title, text)

    keep_it = confirming.backs_out("staff", staff_role="viewer")
    confirm_visibility = confirming.escape_backs_out("staff", staff_role="viewer")

    @rx.event
    @guarded("staff", staff_role="admin")
    def confirm_archive(self):
        kind, item = self.confirm_kind, self._confirm_id
        self.confirm_kind, self._confirm_id = "", 0
        if kind not in ARCHIVE or not item:
            return
        archive, id_name = ARCHIVE[kind]
        write(archive, **{id_name: item})
        if self.editor_kind == "price":
            self._refresh_prices()
        return self._changed("Archived." if kind != "price" else "The price is off sale.")
