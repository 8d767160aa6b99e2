"""What the staff's catalog page (/merchant/catalog) reads, as display rows: products with their
plans and prices, retention offers and who sees which, digital products, and what the edit
dialog and the archive confirmation show. Reads only; the changes are `catalog_admin`,
`retention_offers` and `digital_admin`'s. Every function takes `(session, clock, *, merchant_id,
...)` so a state calls it with `guard.read`."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.formatting import price as price_label
from portal_app.services import (
    catalog_admin,
    catalog_overview,
    digital_admin,
    features,
    retention_offers,
)
from portal_app.services.catalog_rules import entitlement_lines
from portal_app.services.errors import CatalogError

KIND_LABELS = {"file": "File", "license": "License keys", "link": "Link"}


# --- rows ("yes" / "" for flags: the page compares strings) -------------------------------------


class ProductView(TypedDict):
    id: str
    name: str
    description: str
    active: str
    plans: str


class PlanView(TypedDict):
    id: str
    product_id: str
    name: str
    description: str
    tier: str
    features: str
    prices: str
    earlier: str
    subscribers: str
    active: str


class Choice(TypedDict):
    id: str
    name: str


class OfferView(TypedDict):
    id: str
    name: str
    terms: str
    reasons: str
    redemptions: str
    active: str


class RouteView(TypedDict):
    reason: str
    offer: str


class ReasonView(TypedDict):
    key: str
    label: str


class AssetView(TypedDict):
    id: str
    kind: str
    kind_label: str
    name: str
    description: str
    detail: str
    plans: str


class PriceView(TypedDict):
    id: str
    label: str
    interval: str
    active: str
    subscribers: str


class GrantView(TypedDict):
    id: str
    label: str
    checked: str


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _verb(count: int, singular: str, plural_form: str) -> str:
    return singular if count == 1 else plural_form


def file_size(size: int | None) -> str:
    size = size or 0
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _flag(value: bool) -> str:
    return "yes" if value else ""


# --- the page ----------------------------------------------------------------------------------


def catalog(session: Session, clock: Clock, *, merchant_id: int) -> dict[str, Any]:
    """Everything the page shows, keyed by the state var that holds it."""
    settings = features.load(session, merchant_id)

    products, plans = [], []
    for product_row in catalog_overview.overview(session, merchant_id):
        product = product_row.product
        products.append(
            ProductView(
                id=str(product.id),
                name=product.name,
                description=product.description,
                active=_flag(product.active),
                plans=plural(len(product_row.plans), "plan"),
            )
        )
        plans += [_plan_view(product.id, plan_row) for plan_row in product_row.plans]
    return {
        "currency": catalog_admin.merchant_currency(session, merchant_id),
        "products": products,
        "plans": plans,
        "product_choices": [Choice(id=p["id"], name=p["name"]) for p in products if p["active"]],
        "offers": [
            OfferView(
                id=str(row.offer.id),
                name=row.offer.name,
                terms=f"{row.offer.percent_off}% off "
                f"{plural(row.offer.duration_cycles, 'renewal')}",
                reasons=", ".join(features.reason_label(settings, r) for r in row.offer.reasons)
                or "Any reason",
                redemptions=str(row.redemptions),
                active=_flag(row.offer.active),
            )
            for row in retention_offers.list_offers(session, merchant_id)
        ],
        "routes": [
            RouteView(
                reason=features.reason_label(settings, route.reason),
                offer=route.offer.name if route.offer and route.discount_routed else "No discount",
            )
            for route in retention_offers.routing(session, merchant_id)
        ],
        "reasons": [ReasonView(key=key, label=label) for key, label in features.reasons(settings)],
        "offers_shown": settings.enabled("cancel.retention_offers")
        and settings.enabled("subscriptions.cancel"),
        "assets": [_asset_view(row) for row in digital_admin.list_assets(session, merchant_id)],
    }


def _plan_view(product_id: int, plan_row: catalog_overview.PlanRow) -> PlanView:
    plan = plan_row.plan
    on_sale = [row for row in plan_row.prices if row.price.active]
    earlier = [row for row in plan_row.prices if not row.price.active and row.subscribers]
    return PlanView(
        id=str(plan.id),
        product_id=str(product_id),
        name=plan.name,
        description=plan.description,
        tier=str(plan.tier),
        features=" · ".join(plan.features or []),
        prices=" · ".join(row.label for row in on_sale) or "No price on sale",
        earlier="; ".join(
            f"{row.label} kept by {plural(row.subscribers, 'subscriber')}" for row in earlier
        ),
        subscribers=str(plan_row.subscribers),
        active=_flag(plan.active),
    )


def _asset_view(row: digital_admin.AssetRow) -> AssetView:
    asset = row.asset
    if asset.kind == "file":
        limit = f", {asset.download_limit} downloads each" if asset.download_limit else ""
        detail = f"{file_size(asset.file_size)}{limit} · downloaded {plural(row.downloads, 'time')}"
    elif asset.kind == "license":
        detail = f"{row.keys.available} of {plural(row.keys.total, 'key')} available"
    else:
        detail = asset.url or ""
    return AssetView(
        id=str(asset.id),
        kind=asset.kind,
        kind_label=KIND_LABELS.get(asset.kind, asset.kind),
        name=asset.name,
        description=asset.description,
        detail=detail,
        plans=", ".join(plan.name for plan in row.plans) or "Not granted to any plan",
    )


def currency(session: Session, clock: Clock, *, merchant_id: int) -> str:
    """The merchant's currency, that typed amounts are read in."""
    return catalog_admin.merchant_currency(session, merchant_id)


# --- the edit dialog ---------------------------------------------------------------------------


def price_rows(
    session: Session, clock: Clock, *, merchant_id: int, plan_id: int
) -> list[PriceView]:
    """Every price of one plan, on sale and archived, for the dialog's price list."""
    for product in catalog_overview.overview(session, merchant_id):
        for plan_row in product.plans:
            if plan_row.plan.id == plan_id:
                return [
                    PriceView(
                        id=str(row.price.id),
                        label=row.label,
                        interval=catalog_admin.INTERVAL_LABELS[row.price.interval],
                        active=_flag(row.price.active),
                        subscribers=plural(row.subscribers, "subscriber"),
                    )
                    for row in plan_row.prices
                ]
    return []


def _grant_rows(session: Session, merchant_id: int, asset_id: int) -> list[GrantView]:
    granted = {
        plan.id
        for row in digital_admin.list_assets(session, merchant_id)
        if row.asset.id == asset_id
        for plan in row.plans
    }
    rows = []
    for product in catalog_overview.overview(session, merchant_id):
        for plan_row in product.plans:
            plan = plan_row.plan
            if not plan.active and plan.id not in granted:
                continue  # archived plans only show while they still grant it
            rows.append(
                GrantView(
                    id=str(plan.id),
                    label=f"{product.product.name} · {plan.name}"
                    + ("" if plan.active else " (archived)"),
                    checked=_flag(plan.id in granted),
                )
            )
    return rows


class Editor(TypedDict):
    title: str
    values: dict[str, str]
    prices: list[PriceView]
    plans: list[GrantView]


def editor(session: Session, clock: Clock, *, merchant_id: int, kind: str, item_id: int) -> Editor:
    """The dialog's title, its fields' current values, and for prices / grants the list it shows.
    `kind` is one of product, plan, price, offer, asset, keys, grants."""
    prices: list[PriceView] = []
    plans: list[GrantView] = []
    if kind == "product":
        product = catalog_admin.get_product(session, merchant_id, item_id)
        title = f'Edit product "{product.name}"'
        values = {"name": product.name, "description": product.description}
    elif kind in ("plan", "price"):
        plan = catalog_admin.get_plan(session, merchant_id, item_id)
        title = f'{"Edit plan" if kind == "plan" else "Prices of"} "{plan.name}"'
        values = {
            "name": plan.name,
            "description": plan.description,
            "features": "\n".join(plan.features or []),
            "entitlements": entitlement_lines(plan.entitlements),
            "tier": str(plan.tier),
        }
        if kind == "price":
            prices = price_rows(session, clock, merchant_id=merchant_id, plan_id=plan.id)
    elif kind == "offer":
        offer = retention_offers.get_offer(session, merchant_id, item_id)
        title = f'Edit offer "{offer.name}"'
        values = {
            "name": offer.name,
            "percent_off": str(offer.percent_off),
            "duration_cycles": str(offer.duration_cycles),
            **{f"reason_{r}": "yes" for r in offer.reasons},
        }
    else:
        asset = digital_admin.get_asset(session, merchant_id, item_id)
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
            plans = _grant_rows(session, merchant_id, asset.id)
    return Editor(title=title, values=values, prices=prices, plans=plans)


# --- the archive confirmation -------------------------------------------------------------------


def archive_question(
    session: Session, clock: Clock, *, merchant_id: int, kind: str, item_id: int
) -> tuple[str, str]:
    """The confirmation's title and text for archiving a product, a plan or a price."""
    if kind == "product":
        product = catalog_admin.get_product(session, merchant_id, item_id)
        subscribers = catalog_admin.subscriber_count(session, product_id=product.id)
        return f'Archive product "{product.name}"?', (
            "Its plans stop being offered to customers. "
            f"{plural(subscribers, 'subscription')} on them "
            f"{_verb(subscribers, 'continues', 'continue')} unchanged. "
            "Archiving cannot be undone."
        )
    if kind == "plan":
        plan = catalog_admin.get_plan(session, merchant_id, item_id)
        subscribers = catalog_admin.subscriber_count(session, plan_id=plan.id)
        return f'Archive plan "{plan.name}"?', (
            "Customers can no longer switch to it. "
            f"{plural(subscribers, 'current subscriber')} "
            f"{_verb(subscribers, 'keeps', 'keep')} it at their price. "
            "Archiving cannot be undone."
        )
    price = catalog_admin.get_price(session, merchant_id, item_id)
    subscribers = catalog_admin.subscriber_count(session, price_id=price.id)
    return f"Stop selling {price_label(price.amount, price.currency, price.interval)}?", (
        f"New customers can't choose it. {plural(subscribers, 'subscriber')} "
        f"{_verb(subscribers, 'keeps', 'keep')} paying it."
    )


# --- the staged upload --------------------------------------------------------------------------


def discard_upload(session: Session, clock: Clock, *, merchant_id: int, relative_path: str) -> bool:
    """Delete an uploaded file no product was made of (see `digital_admin.discard_stored_file`)."""
    return digital_admin.discard_stored_file(session, merchant_id, relative_path)
