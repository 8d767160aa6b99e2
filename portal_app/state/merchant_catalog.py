"""Catalog for merchant staff (/merchant/catalog): products, plans and prices, retention offers
and digital products. Thin: parse the forms, call `catalog_admin`, `retention_offers` and
`digital_admin` (which validate everything again and audit), copy display strings into vars.

Uploads come over Reflex's upload endpoint, which runs the handler with the headers of the last
socket event of the client token the request names, not the upload request's own. So an upload
must also carry the single-use ticket this state handed to the signed-in page over its socket:
a client that only knows the token has never seen it (connecting with the token wipes this
state, ticket included). Uploaded files go to the private store, never Reflex's public upload
folder."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from portal_app.db import read_scope, session_scope
from portal_app.models import Plan
from portal_app.money import format_money, minor_unit_exponent, parse_major_amount
from portal_app.services import catalog_admin, digital_admin, features, retention_offers
from portal_app.services.errors import CatalogError, PortalError
from portal_app.state.guard import CLOCK, PrivateState, current, guarded
from portal_app.state.subscription_cancel import REASON_LABELS

log = logging.getLogger(__name__)

FORMS = ("product", "plan", "offer", "file", "license", "link", "upload")
EDITORS = ("product", "plan", "price", "offer", "asset", "keys", "grants")
ARCHIVABLE = ("product", "plan", "price")
KIND_LABELS = {"file": "File", "license": "License keys", "link": "Link"}
UPLOAD_ID = "catalog-asset-file"


def reason_label(reason: str) -> str:
    if not reason:
        return "No reason given"
    return REASON_LABELS.get(reason, reason.replace("_", " ").capitalize())


def _size(size: int | None) -> str:
    size = size or 0
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _verb(count: int, singular: str, plural: str) -> str:
    return singular if count == 1 else plural


# --- reading forms (the services validate the values again) -------------------------------------


def _field(form: dict[str, Any], key: str) -> Any:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else value


def _whole(form: dict[str, Any], key: str, label: str) -> int | None:
    """A whole number typed in a form; empty means "not given"."""
    value = _field(form, key)
    if value in ("", None):
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) <= 9:
        return int(value)
    raise CatalogError(f"{label}: enter a whole number.")


def _money(form: dict[str, Any], key: str, label: str, currency: str) -> int | None:
    """An amount typed in major units ("29.00") as integer minor units; empty means none."""
    value = _field(form, key)
    if value in ("", None):
        return None
    example = format_money(29 * 10 ** minor_unit_exponent(currency), currency)
    if not isinstance(value, str) or len(value) > 20:
        raise CatalogError(f"{label}: enter an amount like {example}.")
    try:
        return parse_major_amount(value.replace(",", ""), currency)
    except ValueError as exc:
        raise CatalogError(f"{label}: enter an amount like {example}.") from exc


def _lines(form: dict[str, Any], key: str) -> list[str]:
    value = form.get(key, "")
    if not isinstance(value, str):
        raise CatalogError("Features: one per line.")
    return [line.strip() for line in value.splitlines() if line.strip()]


def _form(form_data: Any) -> dict[str, Any]:
    """A posted form is a dict of field names; anything else is a forged call."""
    if not isinstance(form_data, dict):
        raise ValueError("form data must be a dict")
    return form_data


def _checked(form: dict[str, Any], key: str) -> bool:
    return key in form and form[key] not in ("", "off", False, None)


def _item_id(value: Any) -> int:
    """An id sent by the browser: a positive whole number, or the request is refused."""
    text = str(value)
    if not text.isdigit() or len(text) > 12:
        raise ValueError("bad id")
    return int(text)


# --- what the page shows ------------------------------------------------------------------------


def read_catalog(merchant_id: int) -> dict[str, Any]:
    with read_scope() as session:
        currency = catalog_admin.merchant_currency(session, merchant_id)
        overview = catalog_admin.overview(session, merchant_id)
        settings = features.load(session, merchant_id)
        offers = retention_offers.list_offers(session, merchant_id)
        routes = retention_offers.routing(session, merchant_id)
        assets = digital_admin.list_assets(session, merchant_id)
    products, plans = [], []
    for product_row in overview:
        product = product_row.product
        products.append(
            {
                "id": str(product.id),
                "name": product.name,
                "description": product.description,
                "active": "yes" if product.active else "",
                "plans": _plural(len(product_row.plans), "plan"),
            }
        )
        for plan_row in product_row.plans:
            plan = plan_row.plan
            on_sale = [row for row in plan_row.prices if row.price.active]
            earlier = [row for row in plan_row.prices if not row.price.active and row.subscribers]
            plans.append(
                {
                    "id": str(plan.id),
                    "product_id": str(product.id),
                    "name": plan.name,
                    "description": plan.description,
                    "tier": str(plan.tier),
                    "features": " · ".join(plan.features or []),
                    "prices": " · ".join(row.label for row in on_sale) or "No price on sale",
                    "earlier": "; ".join(
                        f"{row.label} kept by {_plural(row.subscribers, 'subscriber')}"
                        for row in earlier
                    ),
                    "subscribers": str(plan_row.subscribers),
                    "active": "yes" if plan.active else "",
                }
            )
    return {
        "currency": currency,
        "products": products,
        "plans": plans,
        "product_choices": [{"id": p["id"], "name": p["name"]} for p in products if p["active"]],
        "offers": [
            {
                "id": str(row.offer.id),
                "name": row.offer.name,
                "terms": f"{row.offer.percent_off}% off "
                f"{_plural(row.offer.duration_cycles, 'renewal')}",
                "reasons": ", ".join(reason_label(r) for r in row.offer.reasons) or "Any reason",
                "redemptions": str(row.redemptions),
                "active": "yes" if row.offer.active else "",
            }
            for row in offers
        ],
        "routes": [
            {
                "reason": reason_label(route.reason),
                "offer": route.offer.name
                if route.offer and route.discount_routed
                else "No discount",
            }
            for route in routes
        ],
        "reasons": [
            {"key": reason, "label": reason_label(reason)} for reason in settings["cancel.reasons"]
        ],
        "offers_shown": settings.enabled("cancel.retention_offers")
        and settings.enabled("subscriptions.cancel"),
        "assets": [_asset_view(row) for row in assets],
    }


def _asset_view(row: digital_admin.AssetRow) -> dict[str, str]:
    asset = row.asset
    if asset.kind == "file":
        limit = f", {asset.download_limit} downloads each" if asset.download_limit else ""
        detail = f"{_size(asset.file_size)}{limit} · downloaded {_plural(row.downloads, 'time')}"
    elif asset.kind == "license":
        detail = f"{row.keys.available} of {_plural(row.keys.total, 'key')} available"
    else:
        detail = asset.url or ""
    return {
        "id": str(asset.id),
        "kind": asset.kind,
        "kind_label": KIND_LABELS.get(asset.kind, asset.kind),
        "name": asset.name,
        "description": asset.description,
        "detail": detail,
        "plans": ", ".join(plan.name for plan in row.plans) or "Not granted to any plan",
    }


def _price_rows(session: Session, merchant_id: int, plan_id: int) -> list[dict[str, str]]:
    for product in catalog_admin.overview(session, merchant_id):
        for plan_row in product.plans:
            if plan_row.plan.id == plan_id:
                return [
                    {
                        "id": str(row.price.id),
                        "label": row.label,
                        "interval": catalog_admin.INTERVAL_LABELS[row.price.interval],
                        "active": "yes" if row.price.active else "",
                        "subscribers": _plural(row.subscribers, "subscriber"),
                    }
                    for row in plan_row.prices
                ]
    return []


def _grant_rows(session: Session, merchant_id: int, asset_id: int) -> list[dict[str, str]]:
    granted = {
        plan.id
        for row in digital_admin.list_assets(session, merchant_id)
        if row.asset.id == asset_id
        for plan in row.plans
    }
    rows = []
    for product in catalog_admin.overview(session, merchant_id):
        for plan_row in product.plans:
            plan: Plan = plan_row.plan
            if not plan.active and plan.id not in granted:
                continue  # archived plans only show while they still grant it
            rows.append(
                {
                    "id": str(plan.id),
                    "label": f"{product.product.name} · {plan.name}"
                    + ("" if plan.active else " (archived)"),
                    "checked": "yes" if plan.id in granted else "",
                }
            )
    return rows


class MerchantCatalogState(PrivateState):
    loaded: bool = False
    load_error: str = ""
    currency: str = ""
    products: list[dict[str, str]] = []
    plans: list[dict[str, str]] = []
    product_choices: list[dict[str, str]] = []
    offers: list[dict[str, str]] = []
    routes: list[dict[str, str]] = []
    reasons: list[dict[str, str]] = []
    offers_shown: bool = True
    assets: list[dict[str, str]] = []
    # One error line per create form; `form_version` remounts the forms after a success.
    errors: dict[str, str] = dict.fromkeys(FORMS, "")
    form_version: int = 0
    working: bool = False
    # The edit dialog (one at a time).
    editor_kind: str = ""
    editor_title: str = ""
    editor: dict[str, str] = {}
    editor_error: str = ""
    editor_prices: list[dict[str, str]] = []
    editor_plans: list[dict[str, str]] = []
    _editor_id: int = 0
    # The archive confirmation.
    confirm_kind: str = ""
    confirm_title: str = ""
    confirm_text: str = ""
    _confirm_id: int = 0
    # File upload: the ticket the next upload must carry, and the stored file awaiting details.
    upload_ticket: str = ""
    _upload_ticket: str = ""
    _ticket_session: int = 0
    staged_name: str = ""
    staged_size: str = ""
    _staged_path: str = ""

    # --- loading --------------------------------------------------------------------------------

    def _reload(self) -> None:
        data = read_catalog(current().merchant_id)
        for key, value in data.items():
            setattr(self, key, value)
        self.loaded = True

    def _new_ticket(self) -> None:
        self._upload_ticket = self.upload_ticket = secrets.token_urlsafe(24)
        self._ticket_session = current().session_row_id

    def _fail(self, form: str, message: str) -> None:
        self.errors = {**dict.fromkeys(FORMS, ""), form: message}

    def _done(self, message: str):
        self.errors = dict.fromkeys(FORMS, "")
        self.form_version += 1
        self._reload()
        return rx.toast.success(message)

    def _submit(self, form: str, change: Callable[[Session], str]):
        """Run one create form's change in its own transaction: a refusal shows under the form
        (nothing written), a success clears the forms and says what happened."""
        try:
            with session_scope() as session:
                message = change(session)
        except CatalogError as exc:
            self._fail(form, str(exc))
            return None
        return self._done(message)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.errors, self.load_error = dict.fromkeys(FORMS, ""), ""
        self.editor_kind, self.confirm_kind = "", ""
        self._new_ticket()
        try:
            self._reload()
        except SQLAlchemyError:
            log.exception("could not read the catalog")
            self.load_error = "The catalog can't be read right now. Reload the page to try again."

    # --- products and plans ---------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="admin")
    def create_product(self, form_data: dict):
        form_data = _form(form_data)
        who = current()

        def change(session: Session) -> str:
            product = catalog_admin.create_product(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                name=_field(form_data, "name"),
                description=_field(form_data, "description"),
                actor=who.actor,
            )
            return f'Product "{product.name}" created.'

        return self._submit("product", change)

    @rx.event
    @guarded("staff", staff_role="admin")
    def create_plan(self, form_data: dict):
        form_data = _form(form_data)
        who = current()

        def change(session: Session) -> str:
            product_id = _whole(form_data, "product_id", "Product")
            if product_id is None:
                raise CatalogError("Choose a product.")
            currency = catalog_admin.merchant_currency(session, who.merchant_id)
            plan = catalog_admin.create_plan(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                product_id=product_id,
                name=_field(form_data, "name"),
                description=_field(form_data, "description"),
                features=_lines(form_data, "features"),
                tier=_whole(form_data, "tier", "Tier"),
                monthly_amount=_money(form_data, "monthly", "Monthly price", currency),
                annual_amount=_money(form_data, "annual", "Annual price", currency),
                actor=who.actor,
            )
            return f'Plan "{plan.name}" created. Customers can choose it now.'

        return self._submit("plan", change)

    # --- the edit dialog ------------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="admin")
    def open_editor(self, kind: str, item_id: str):
        if kind not in EDITORS:
            return
        who = current()
        item = _item_id(item_id)
        self.editor_error, self.editor_prices, self.editor_plans = "", [], []
        with read_scope() as session:
            if kind == "product":
                product = catalog_admin.get_product(session, who.merchant_id, item)
                title = f'Edit product "{product.name}"'
                values = {"name": product.name, "description": product.description}
            elif kind in ("plan", "price"):
                plan = catalog_admin.get_plan(session, who.merchant_id, item)
                title = f'{"Edit plan" if kind == "plan" else "Prices of"} "{plan.name}"'
                values = {
                    "name": plan.name,
                    "description": plan.description,
                    "features": "\n".join(plan.features or []),
                    "tier": str(plan.tier),
                }
                if kind == "price":
                    self.editor_prices = _price_rows(session, who.merchant_id, plan.id)
            elif kind == "offer":
                offer = retention_offers.get_offer(session, who.merchant_id, item)
                title = f'Edit offer "{offer.name}"'
                values = {
                    "name": offer.name,
                    "percent_off": str(offer.percent_off),
                    "duration_cycles": str(offer.duration_cycles),
                    **{f"reason_{r}": "yes" for r in offer.reasons},
                }
            else:
                asset = digital_admin.get_asset(session, who.merchant_id, item)
                if kind == "keys" and asset.kind != "license":
                    raise CatalogError("Keys can only be added to a license-key product.")
                title = {
                    "asset": f'Edit "{asset.name}"',
                    "keys": f'Add keys to "{asset.name}"',
                    "grants": f'Plans that grant "{asset.name}"',
                }[kind]
                values = {
                    "name": asset.name,
                    "description": asset.description,
                    "kind": asset.kind,
                    "download_limit": str(asset.download_limit or ""),
                    "url": asset.url or "",
                }
                if kind == "grants":
                    self.editor_plans = _grant_rows(session, who.merchant_id, asset.id)
        self.editor_kind, self.editor_title, self.editor = kind, title, values
        self._editor_id = item

    def _ticked_reasons(self, form: dict[str, Any]) -> list[str]:
        return [r["key"] for r in self.reasons if _checked(form, f"reason_{r['key']}")]

    def _close_editor(self) -> None:
        self.editor_kind, self.editor_error, self.editor = "", "", {}
        self.editor_prices, self.editor_plans, self._editor_id = [], [], 0

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
    @guarded("staff", staff_role="admin")
    def save_editor(self, form_data: dict):
        form_data = _form(form_data)
        kind, item = self.editor_kind, self._editor_id
        if kind not in EDITORS or not item:
            return
        who = current()
        common = {"merchant_id": who.merchant_id, "actor": who.actor}
        self.editor_error = ""
        try:
            with session_scope() as session:
                message = self._save(session, kind, item, form_data, common)
        except CatalogError as exc:
            self.editor_error = str(exc)
            return
        if kind == "price":  # stay in the dialog: the staff sees the old price archived
            with read_scope() as session:
                self.editor_prices = _price_rows(session, who.merchant_id, item)
            self.form_version += 1
            self._reload()
            return rx.toast.success(message)
        self._close_editor()
        return self._done(message)

    def _save(self, session, kind: str, item: int, form: dict, common: dict) -> str:
        if kind == "product":
            product = catalog_admin.update_product(
                session,
                CLOCK,
                product_id=item,
                name=_field(form, "name"),
                description=_field(form, "description"),
                **common,
            )
            return f'Product "{product.name}" saved.'
        if kind == "plan":
            plan = catalog_admin.update_plan(
                session,
                CLOCK,
                plan_id=item,
                name=_field(form, "name"),
                description=_field(form, "description"),
                features=_lines(form, "features"),
                tier=_whole(form, "tier", "Tier"),
                **common,
            )
            return f'Plan "{plan.name}" saved.'
        if kind == "price":
            interval = _field(form, "interval")
            currency = catalog_admin.merchant_currency(session, common["merchant_id"])
            price = catalog_admin.set_price(
                session,
                CLOCK,
                plan_id=item,
                interval=interval,
                amount=_money(form, "amount", "Price", currency),
                **common,
            )
            return (
                f"New price {format_money(price.amount, price.currency)}/{price.interval} on sale."
            )
        if kind == "offer":
            offer = retention_offers.update_offer(
                session,
                CLOCK,
                offer_id=item,
                name=_field(form, "name"),
                percent_off=_whole(form, "percent_off", "Percent off"),
                duration_cycles=_whole(form, "duration_cycles", "Number of renewals"),
                reasons=self._ticked_reasons(form),
                **common,
            )
            return f'Offer "{offer.name}" saved.'
        if kind == "asset":
            asset = digital_admin.update_asset(
                session,
                CLOCK,
                asset_id=item,
                name=_field(form, "name"),
                description=_field(form, "description"),
                download_limit=_whole(form, "download_limit", "Download limit"),
                url=_field(form, "url"),
                **common,
            )
            return f'"{asset.name}" saved.'
        if kind == "keys":
            result = digital_admin.add_license_keys(
                session, CLOCK, asset_id=item, keys_text=form.get("keys", ""), **common
            )
            return result.summary()
        chosen = [int(key.removeprefix("plan_")) for key in form if _is_plan_box(key, form)]
        plan_ids = digital_admin.set_grants(
            session, CLOCK, asset_id=item, plan_ids=chosen, **common
        )
        return (
            f"Granted to {_plural(len(plan_ids), 'plan')}."
            if plan_ids
            else "No plan grants it now: customers no longer see it."
        )

    # --- archiving, with a confirmation ---------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="admin")
    def ask_archive(self, kind: str, item_id: str):
        if kind not in ARCHIVABLE:
            return
        who = current()
        item = _item_id(item_id)
        with read_scope() as session:
            if kind == "product":
                product = catalog_admin.get_product(session, who.merchant_id, item)
                subscribers = catalog_admin.subscriber_count(session, product_id=product.id)
                title = f'Archive product "{product.name}"?'
                text = (
                    "Its plans stop being offered to customers. "
                    f"{_plural(subscribers, 'subscription')} on them "
                    f"{_verb(subscribers, 'continues', 'continue')} unchanged. "
                    "Archiving cannot be undone."
                )
            elif kind == "plan":
                plan = catalog_admin.get_plan(session, who.merchant_id, item)
                subscribers = catalog_admin.subscriber_count(session, plan_id=plan.id)
                title = f'Archive plan "{plan.name}"?'
                text = (
                    "Customers can no longer switch to it. "
                    f"{_plural(subscribers, 'current subscriber')} "
                    f"{_verb(subscribers, 'keeps', 'keep')} it at their price. "
                    "Archiving cannot be undone."
                )
            else:
                price = catalog_admin.get_price(session, who.merchant_id, item)
                subscribers = catalog_admin.subscriber_count(session, price_id=price.id)
                label = f"{format_money(price.amount, price.currency)}/{price.interval}"
                title = f"Stop selling {label}?"
                text = (
                    f"New customers can't choose it. {_plural(subscribers, 'subscriber')} "
                    f"{_verb(subscribers, 'keeps', 'keep')} paying it."
                )
        self.confirm_kind, self.confirm_title, self.confirm_text = kind, title, text
        self._confirm_id = item

    @rx.event
    @guarded("staff", staff_role="viewer")
    def cancel_archive(self):
        self.confirm_kind, self.confirm_title, self.confirm_text, self._confirm_id = "", "", "", 0

    @rx.event
    @guarded("staff", staff_role="viewer")
    def confirm_visibility(self, is_open: bool):
        """Escape closes the confirmation like "Keep it"."""
        if is_open is not True:
            self.confirm_kind, self.confirm_title, self.confirm_text, self._confirm_id = (
                "",
                "",
                "",
                0,
            )

    @rx.event
    @guarded("staff", staff_role="admin")
    def confirm_archive(self):
        kind, item = self.confirm_kind, self._confirm_id
        self.confirm_kind, self._confirm_id = "", 0
        if kind not in ARCHIVABLE or not item:
            return
        who = current()
        archive = {
            "product": lambda s: catalog_admin.archive_product(
                s, CLOCK, merchant_id=who.merchant_id, product_id=item, actor=who.actor
            ),
            "plan": lambda s: catalog_admin.archive_plan(
                s, CLOCK, merchant_id=who.merchant_id, plan_id=item, actor=who.actor
            ),
            "price": lambda s: catalog_admin.archive_price(
                s, CLOCK, merchant_id=who.merchant_id, price_id=item, actor=who.actor
            ),
        }[kind]
        with session_scope() as session:
            archive(session)
        if self.editor_kind == "price":
            with read_scope() as session:
                self.editor_prices = _price_rows(session, who.merchant_id, self._editor_id)
        self._reload()
        return rx.toast.success("Archived." if kind != "price" else "The price is off sale.")

    # --- retention offers -----------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="admin")
    def create_offer(self, form_data: dict):
        form_data = _form(form_data)
        who = current()

        def change(session: Session) -> str:
            offer = retention_offers.create_offer(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                name=_field(form_data, "name"),
                percent_off=_whole(form_data, "percent_off", "Percent off"),
                duration_cycles=_whole(form_data, "duration_cycles", "Number of renewals"),
                reasons=self._ticked_reasons(form_data),
                actor=who.actor,
            )
            return f'Offer "{offer.name}" created.'

        return self._submit("offer", change)

    @rx.event
    @guarded("staff", staff_role="admin")
    def switch_offer(self, offer_id: str, active: bool):
        who = current()
        if not isinstance(active, bool):
            raise ValueError("active must be true or false")
        with session_scope() as session:
            offer = retention_offers.set_active(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                offer_id=_item_id(offer_id),
                active=active,
                actor=who.actor,
            )
            name = offer.name
        self._reload()
        return rx.toast.success(
            f'Offer "{name}" is on.'
            if active
            else f'Offer "{name}" is off: customers no longer see it.'
        )

    # --- digital products -----------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="admin")
    async def upload_file(self, files: list[rx.UploadFile], ticket: str = ""):
        """Store one uploaded file privately; the staff then names it and creates the product."""
        who = current()
        expected, bound = self._upload_ticket, self._ticket_session
        self._new_ticket()  # single use, whatever happens next
        if (
            not isinstance(ticket, str)
            or not expected
            or not hmac.compare_digest(ticket.encode(), expected.encode())
            or bound != who.session_row_id
        ):
            self._fail("upload", "This upload form has expired. Reload the page and try again.")
            return
        if not isinstance(files, list) or len(files) != 1 or not hasattr(files[0], "file"):
            self._fail("upload", "Choose one file to upload.")
            return
        upload = files[0]
        try:
            stored = await asyncio.to_thread(
                digital_admin.store_file, who.merchant_id, upload.file, upload.filename
            )
        except CatalogError as exc:
            self._fail("upload", str(exc))
            return
        self._discard_staged(who.merchant_id)
        self._staged_path = stored.relative_path
        self.staged_name, self.staged_size = stored.filename, _size(stored.size)
        self.errors = dict.fromkeys(FORMS, "")
        return [
            rx.clear_selected_files(UPLOAD_ID),
            rx.toast.success(f"{stored.filename} uploaded. Name it and create the product."),
        ]

    def _discard_staged(self, merchant_id: int) -> None:
        if self._staged_path:
            with read_scope() as session:
                digital_admin.discard_stored_file(session, merchant_id, self._staged_path)
        self._staged_path, self.staged_name, self.staged_size = "", "", ""

    @rx.event
    @guarded("staff", staff_role="admin")
    def discard_upload(self):
        self._discard_staged(current().merchant_id)

    @rx.event
    @guarded("staff", staff_role="admin")
    def create_file_asset(self, form_data: dict):
        form_data = _form(form_data)
        who = current()
        if not self._staged_path:
            self._fail("file", "Upload the file first.")
            return
        try:
            limit = _whole(form_data, "download_limit", "Download limit")
            with session_scope() as session:
                asset = digital_admin.create_file_asset(
                    session,
                    CLOCK,
                    merchant_id=who.merchant_id,
                    name=_field(form_data, "name") or self.staged_name,
                    description=_field(form_data, "description"),
                    stored_path=self._staged_path,
                    download_limit=limit,
                    actor=who.actor,
                )
                name = asset.name
        except PortalError as exc:
            self._fail("file", str(exc))
            return
        self._staged_path, self.staged_name, self.staged_size = "", "", ""
        return self._done(f'"{name}" created. Choose the plans that grant it.')

    @rx.event
    @guarded("staff", staff_role="admin")
    def create_license_asset(self, form_data: dict):
        form_data = _form(form_data)
        who = current()

        def change(session: Session) -> str:
            asset, result = digital_admin.create_license_asset(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                name=_field(form_data, "name"),
                description=_field(form_data, "description"),
                keys_text=form_data.get("keys", ""),
                actor=who.actor,
            )
            return f'"{asset.name}" created. {result.summary()}'

        return self._submit("license", change)

    @rx.event
    @guarded("staff", staff_role="admin")
    def create_link_asset(self, form_data: dict):
        form_data = _form(form_data)
        who = current()

        def change(session: Session) -> str:
            asset = digital_admin.create_link_asset(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                name=_field(form_data, "name"),
                description=_field(form_data, "description"),
                url=_field(form_data, "url"),
                actor=who.actor,
            )
            return f'"{asset.name}" created. Choose the plans that grant it.'

        return self._submit("link", change)


def _is_plan_box(key: str, form: dict) -> bool:
    suffix = key.removeprefix("plan_")
    return (
        key.startswith("plan_") and suffix.isdigit() and len(suffix) <= 12 and _checked(form, key)
    )
