"""The catalog's edit dialog (one at a time): a product, a plan, a plan's prices, an offer, a
digital product, a key pool's new keys, or the plans that grant a digital product. Also the
form readers every catalog form uses (the services validate the values again).

A mixin of `MerchantCatalogState` (state/merchant_catalog.py), which brings `_refresh`,
`_changed` (Refreshing), `_done`, `reasons` and `form_version`."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal_app.formatting import price as price_label
from portal_app.money import format_money, minor_unit_exponent, parse_major_amount
from portal_app.services import (
    catalog_admin,
    catalog_overview,
    catalog_view,
    digital_admin,
    retention_offers,
)
from portal_app.services.catalog_view import GrantView, PriceView
from portal_app.services.errors import CatalogError
from portal_app.state.guard import guarded, read, write

EDITORS = ("product", "plan", "price", "offer", "asset", "keys", "grants")
# The hidden field a `once` form posts its version in (components/form_fields.stacked_form).
FORM_VERSION = "form_version"


# --- reading forms ------------------------------------------------------------------------------


def field(form: dict[str, Any], key: str) -> Any:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else value


def whole(form: dict[str, Any], key: str, label: str) -> int | None:
    """A whole number typed in a form; empty means "not given"."""
    value = field(form, key)
    if value in ("", None):
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) <= 9:
        return int(value)
    raise CatalogError(f"{label}: enter a whole number.")


def money(form: dict[str, Any], key: str, label: str, currency: str) -> int | None:
    """An amount typed in major units ("29.00") as integer minor units; empty means none."""
    value = field(form, key)
    if value in ("", None):
        return None
    example = format_money(29 * 10 ** minor_unit_exponent(currency), currency)
    if not isinstance(value, str) or len(value) > 20:
        raise CatalogError(f"{label}: enter an amount like {example}.")
    try:
        return parse_major_amount(value.replace(",", ""), currency)
    except ValueError as exc:
        raise CatalogError(f"{label}: enter an amount like {example}.") from exc


def lines(form: dict[str, Any], key: str) -> list[str]:
    value = form.get(key, "")
    if not isinstance(value, str):
        raise CatalogError("Features: one per line.")
    return [line.strip() for line in value.splitlines() if line.strip()]


def resubmitted(form: dict[str, Any], version: int) -> bool:
    """A `once` form (components/form_fields.stacked_form) posted again after it succeeded: a
    double click's second submit still carries the version the first one moved on from. (A
    call without the field is taken as fresh: the services' rules hold for it anyway.)"""
    posted_version = field(form, FORM_VERSION)
    return posted_version not in ("", None) and posted_version != str(version)


def posted(form_data: Any) -> dict[str, Any]:
    """A posted form is a dict of field names; anything else is a forged call."""
    if not isinstance(form_data, dict):
        raise ValueError("form data must be a dict")
    return form_data


def checked(form: dict[str, Any], key: str) -> bool:
    return key in form and form[key] not in ("", "off", False, None)


def trial_days(form: dict[str, Any]) -> int:
    """The plan form's "Free trial (days)": empty is no trial."""
    days = whole(form, "trial_days", "Free trial (days)")
    return 0 if days is None else days


def parse_id(value: Any) -> int:
    """An id sent by the browser: a positive whole number, or the request is refused."""
    text = str(value)
    if not text.isdigit() or len(text) > 12:
        raise ValueError("bad id")
    return int(text)


def _ticked_ids(form: dict, prefix: str) -> list[int]:
    """The ids of the ticked boxes named `<prefix><id>` (the grants dialog's plans, products)."""
    ids = []
    for key in form:
        suffix = key.removeprefix(prefix)
        if key.startswith(prefix) and suffix.isdigit() and len(suffix) <= 12 and checked(form, key):
            ids.append(int(suffix))
    return ids


# --- the dialog ---------------------------------------------------------------------------------


class CatalogEditorMixin(rx.State, mixin=True):
    editor_kind: str = ""
    editor_title: str = ""
    editor: dict[str, str] = {}  # the fields' current values, by field name
    editor_error: str = ""
    editor_prices: list[PriceView] = []
    editor_plans: list[GrantView] = []
    editor_products: list[GrantView] = []  # the grants dialog's products (once bought)
    _editor_id: int = 0

    @rx.event
    @guarded("staff", staff_role="admin")
    def open_editor(self, kind: str, item_id: str):
        if kind not in EDITORS:
            return
        item = parse_id(item_id)
        self.editor_error, self.editor_prices, self.editor_plans = "", [], []
        shown = read(catalog_view.editor, kind=kind, item_id=item)
        values = dict(shown["values"])
        values.update(read(catalog_overview.editor_terms, kind=kind, item_id=item))
        self.editor_kind, self.editor_title, self.editor = kind, shown["title"], values
        self.editor_prices, self.editor_plans = shown["prices"], shown["plans"]
        self.editor_products = (
            read(digital_admin.product_grant_rows, asset_id=item) if kind == "grants" else []
        )
        self._editor_id = item

    def _close_editor(self) -> None:
        self.editor_kind, self.editor_error, self.editor = "", "", {}
        self.editor_prices, self.editor_plans, self._editor_id = [], [], 0
        self.editor_products = []

    def _refresh_prices(self) -> None:
        self.editor_prices = read(catalog_view.price_rows, plan_id=self._editor_id)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def close_editor(self):
        self._close_editor()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def editor_visibility(self, is_open: bool):
        """Escape or a click outside closes the dialog (the dialog never opens itself)."""
        if is_open is not True:
            self._close_editor()

    @rx.event
    @guarded("staff", staff_role="admin", error="editor_error")
    def save_editor(self, form_data: dict):
        form = posted(form_data)
        kind, item = self.editor_kind, self._editor_id
        if kind not in EDITORS or not item:
            return
        message = self._save(kind, item, form)
        if kind == "price":  # stay in the dialog: the staff sees the old price archived
            self._refresh_prices()
            self.form_version += 1
            return self._changed(message)
        self._close_editor()
        return self._done(message)

    def _save(self, kind: str, item: int, form: dict) -> str:
        name, description = field(form, "name"), field(form, "description")
        if kind == "product":
            currency = self.editor.get("currency") or read(catalog_view.currency)
            product = write(
                catalog_admin.update_product,
                product_id=item,
                name=name,
                description=description,
                one_time_amount=money(form, "one_time_amount", "One-time price", currency),
                shippable=checked(form, "shippable"),
            )
            return f'Product "{product.name}" saved.'
        if kind == "plan":
            plan = write(
                catalog_admin.update_plan,
                plan_id=item,
                name=name,
                description=description,
                features=lines(form, "features"),
                tier=whole(form, "tier", "Tier"),
                trial_days=trial_days(form),
                trial_requires_card=checked(form, "trial_requires_card"),
                public=checked(form, "public"),
                entitlements=form.get("entitlements", ""),
            )
            return f'Plan "{plan.name}" saved.'
        if kind == "price":
            amount = money(form, "amount", "Price", read(catalog_view.currency))
            interval = field(form, "interval")
            price = write(catalog_admin.set_price, plan_id=item, interval=interval, amount=amount)
            return f"New price {price_label(price.amount, price.currency, price.interval)} on sale."
        if kind == "offer":
            offer = write(
                retention_offers.update_offer,
                offer_id=item,
                name=name,
                percent_off=whole(form, "percent_off", "Percent off"),
                duration_cycles=whole(form, "duration_cycles", "Number of renewals"),
                reasons=self._ticked_reasons(form),
            )
            return f'Offer "{offer.name}" saved.'
        if kind == "asset":
            asset = write(
                digital_admin.update_asset,
                asset_id=item,
                name=name,
                description=description,
                download_limit=whole(form, "download_limit", "Download limit"),
                url=field(form, "url"),
            )
            return f'"{asset.name}" saved.'
        if kind == "keys":
            keys = form.get("keys", "")
            return write(digital_admin.add_license_keys, asset_id=item, keys_text=keys).summary()
        plan_ids = _ticked_ids(form, "plan_")
        product_ids = _ticked_ids(form, "product_")
        write(digital_admin.set_grants, asset_id=item, plan_ids=plan_ids, product_ids=product_ids)
        granted = [
            catalog_view.plural(len(ids), word)
            for ids, word in ((plan_ids, "plan"), (product_ids, "product"))
            if ids
        ]
        return (
            f"Granted to {' and '.join(granted)}."
            if granted
            else "No plan or product grants it now: customers no longer see it."
        )
