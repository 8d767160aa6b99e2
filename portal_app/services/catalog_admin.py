"""Merchant staff edit what they sell: products, plans ordered by tier, monthly and annual prices.

Prices are never edited. A new amount is a new price row and the old one is archived, so every
subscription on the old price keeps being billed what it signed up for (renewals read the
subscription's own price). Archiving hides a product, plan or price from customers choosing a
plan; nothing is deleted. Every change is validated whole (all problems in one message, nothing
written) and audited in the caller's transaction. `catalog.py` stays the read side the portal
uses."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Merchant, Plan, Price, Product, Subscription, SubscriptionStatus
from portal_app.money import format_money
from portal_app.services import audit
from portal_app.services.catalog_overview import (  # noqa: F401  (until the tests' lookups follow)
    PlanRow,
    PriceRow,
    editor_terms,
    overview,
    sale_terms,
)
from portal_app.services.catalog_rules import (
    TIER_MAX,
    TIER_MIN,
    Problems,
    Row,
    clean_entitlements,
    clean_feature_list,
    edit,
    flush_or_conflict,
    get_owned,
    get_plan,
    get_product,
    name_and_description,
    parse_entitlements,
    same_name,
    unique_slug,
)
from portal_app.services.errors import CatalogError, NotFound

INTERVAL_LABELS = {"month": "monthly", "year": "annual"}
TRIAL_DAYS_MAX = 365


class _Keep:
    """The default of an update's optional field: leave it as it is (None means "none")."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


# --- lookups (always scoped to the merchant: another merchant's id is "not found") --------------


def merchant_currency(session: Session, merchant_id: int) -> str:
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound("Merchant not found.")
    return merchant.default_currency


def _active_price(session: Session, plan_id: int, interval: str, currency: str) -> Price | None:
    return session.exec(
        select(Price).where(
            Price.plan_id == plan_id,
            Price.interval == interval,
            Price.currency == currency,
            Price.active.is_(True),
        )
    ).first()


def _check_editable(row: Product | Plan, kind: str) -> None:
    if not row.active:
        raise CatalogError(f"This {kind} is archived and can no longer be edited.", code="archived")


def _on_sale(session: Session, model: type[Row], merchant_id: int, row_id: int, kind: str) -> Row:
    """The merchant's product, plan or price about to be archived; one already off sale is
    refused."""
    row = get_owned(session, model, merchant_id, row_id, kind.capitalize())
    if not row.active:
        raise CatalogError(f"This {kind} is already archived.", code="already_archived")
    return row


def _archive(
    session, clock, actor, row: Product | Plan | Price, kind: str, *, also=(), **facts: Any
) -> None:
    """Take a product, plan or price off sale (never deleted), with the rows `also` going with it
    (a product's plans); `facts` are added to the event (how many subscribers keep it...)."""
    with audit.changing(
        session,
        clock,
        row,
        actor=actor,
        action=f"catalog.{kind}.archive",
        target_type=kind,
        before={"active": True},
    ) as change:
        for other in also:
            other.active = False
            session.add(other)
        row.active = False
        change.after = {"active": False, **facts}


# --- products -----------------------------------------------------------------------------------


def _clean_product(
    problems: Problems,
    session: Session,
    merchant_id: int,
    name: Any,
    description: Any,
    skip_id: int | None,
) -> tuple[str | None, str | None]:
    """The name and description, with their problems in `problems`: the name is not another
    product's on sale (`skip_id`: the product being edited)."""
    clean_name, clean_description = name_and_description(
        problems, name, description, label="Product name"
    )
    if clean_name is not None:
        for other in session.exec(
            select(Product).where(Product.merchant_id == merchant_id, Product.active.is_(True))
        ):
            if other.id != skip_id and same_name(other.name, clean_name):
                problems.add(f'A product named "{other.name}" already exists.')
    return clean_name, clean_description


def _flag(problems: Problems, value: Any, label: str) -> bool | None:
    """A yes/no field: a real boolean (a checkbox the state read), never a coerced text."""
    if not isinstance(value, bool):
        problems.add(f"{label} must be yes or no.")
        return None
    return value


def _product_sale_terms(
    problems: Problems, currency: str, one_time_amount: Any, shippable: Any
) -> dict[str, Any]:
    """The one-time price (None: not sold once) and whether it ships, for the fields given
    (`KEEP`: left out)."""
    terms: dict[str, Any] = {}
    if one_time_amount is not KEEP:
        terms["one_time_amount"] = problems.amount(
            one_time_amount, "One-time price", currency, required=False
        )
    if shippable is not KEEP:
        terms["shippable"] = _flag(problems, shippable, "Ships physical goods")
    return terms


def create_product(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    name: Any,
    description: Any = "",
    one_time_amount: Any = None,
    shippable: Any = False,
    actor: audit.Actor,
) -> Product:
    """A product in the merchant's currency; `one_time_amount` (minor units) sells it once
    through checkout, `shippable` asks the buyer for a shipping address."""
    currency = merchant_currency(session, merchant_id)
    problems = Problems()
    clean_name, clean_description = _clean_product(
        problems, session, merchant_id, name, description, None
    )
    terms = _product_sale_terms(problems, currency, one_time_amount, shippable)
    problems.check()
    product = Product(
        merchant_id=merchant_id,
        name=clean_name,
        description=clean_description,
        slug=unique_slug(session, Product, merchant_id, clean_name),
        currency=currency,
        **terms,
    )
    with audit.changing(
        session, clock, product, actor=actor, action="catalog.product.create", target_type="product"
    ) as change:
        change.after = {"name": product.name, "description": product.description}
        if terms != {"one_time_amount": None, "shippable": False}:  # sold once, or it ships
            change.after.update(terms, currency=currency)
    return product


def update_product(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    product_id: int,
    name: Any,
    description: Any = "",
    one_time_amount: Any = KEEP,
    shippable: Any = KEEP,
    actor: audit.Actor,
) -> Product:
    """Name and description; the one-time price (None: no longer sold once; an order keeps
    the amount it was bought at) and shipping, unless left as `KEEP`. The slug never changes:
    links already shared keep working."""
    product = get_product(session, merchant_id, product_id)
    _check_editable(product, "product")
    problems = Problems()
    clean_name, clean_description = _clean_product(
        problems, session, merchant_id, name, description, product.id
    )
    terms = _product_sale_terms(problems, product.currency, one_time_amount, shippable)
    problems.check()
    values = {"name": clean_name, "description": clean_description, **terms}
    edit(session, clock, product, values, actor=actor, action="catalog.product.update")
    return product


def archive_product(
    session: Session, clock: Clock, *, merchant_id: int, product_id: int, actor: audit.Actor
) -> Product:
    """Take a product off sale with all its plans. Subscriptions on them go on as they are."""
    product = _on_sale(session, Product, merchant_id, product_id, "product")
    plans = session.exec(
        select(Plan).where(Plan.product_id == product.id, Plan.active.is_(True))
    ).all()
    archived = [plan.id for plan in plans]
    _archive(session, clock, actor, product, "product", also=plans, plans_archived=archived)
    return product


# --- plans --------------------------------------------------------------------------------------


def _plans_of(session: Session, product_id: int) -> list[Plan]:
    return list(session.exec(select(Plan).where(Plan.product_id == product_id)))


def _clean_plan_text(
    problems: Problems, name: Any, description: Any, features: Any
) -> tuple[str | None, str | None, list[str] | None]:
    """A plan's name, description and feature list, cleaned (None where `problems` has why)."""
    clean_name, clean_description = name_and_description(
        problems, name, description, label="Plan name"
    )
    return clean_name, clean_description, clean_feature_list(problems, features)


def _plan_sale_terms(
    problems: Problems, trial_days: Any, trial_requires_card: Any, public: Any
) -> dict[str, Any]:
    """The trial (days, 0 = none; whether a card is asked for up front) and whether public
    checkout sells the plan, for the fields given (`KEEP`: left out)."""
    terms: dict[str, Any] = {}
    if trial_days is not KEEP:
        terms["trial_days"] = problems.whole(
            trial_days, "Free trial (days)", low=0, high=TRIAL_DAYS_MAX
        )
    if trial_requires_card is not KEEP:
        terms["trial_requires_card"] = _flag(
            problems, trial_requires_card, "Card required for the trial"
        )
    if public is not KEEP:
        terms["public"] = _flag(problems, public, "Sold through public checkout")
    return terms


def _check_plan_name_and_tier(
    problems: Problems,
    siblings: list[Plan],
    name: str | None,
    tier: int | None,
    skip_id: int | None,
) -> None:
    for other in siblings:
        if other.id == skip_id:
            continue
        if name is not None and other.active and same_name(other.name, name):
            problems.add(f'This product already has a plan named "{other.name}".')
        if tier is not None and other.tier == tier:
            state = "" if other.active else " (archived)"
            problems.add(f'Tier {tier} is already used by "{other.name}"{state}.')


def next_tier(session: Session, product_id: int) -> int:
    """One above the highest tier the product has used, archived plans included."""
    highest = session.exec(select(sa.func.max(Plan.tier)).where(Plan.product_id == product_id))
    value = highest.one()
    return 0 if value is None else value + 1


def create_plan(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    product_id: int,
    name: Any,
    description: Any = "",
    features: Any = None,
    tier: Any = None,
    monthly_amount: Any = None,
    annual_amount: Any = None,
    trial_days: Any = 0,
    trial_requires_card: Any = True,
    public: Any = True,
    actor: audit.Actor,
) -> Plan:
    """A plan with a monthly and/or an annual price in the merchant's currency. `tier` orders
    plans (higher = upgrade); by default the new plan goes above every existing one. A trial of
    `trial_days` (0..365), with or without a card up front; `public`: sold through public
    checkout (staff links sell it either way). Its slug (`/buy/<slug>`) is set here, once."""
    product = get_product(session, merchant_id, product_id)
    if not product.active:
        raise CatalogError("This product is archived: plans can't be added to it.", code="archived")
    currency = merchant_currency(session, merchant_id)
    problems = Problems()
    clean_name, clean_description, clean_features = _clean_plan_text(
        problems, name, description, features
    )
    if tier is None:
        clean_tier = next_tier(session, product.id)
    else:
        clean_tier = problems.whole(tier, "Tier", low=TIER_MIN, high=TIER_MAX)
    monthly = problems.amount(monthly_amount, "Monthly price", currency, required=False)
    annual = problems.amount(annual_amount, "Annual price", currency, required=False)
    if monthly_amount is None and annual_amount is None:
        problems.add("Give the plan a monthly price, an annual price or both.")
    terms = _plan_sale_terms(problems, trial_days, trial_requires_card, public)
    _check_plan_name_and_tier(
        problems, _plans_of(session, product.id), clean_name, clean_tier, None
    )
    problems.check()
    plan = Plan(
        merchant_id=merchant_id,
        product_id=product.id,
        name=clean_name,
        description=clean_description,
        tier=clean_tier,
        features=clean_features,
        slug=unique_slug(session, Plan, merchant_id, clean_name),
        **terms,
    )
    with audit.changing(
        session, clock, plan, actor=actor, action="catalog.plan.create", target_type="plan"
    ) as change:
        session.add(plan)
        flush_or_conflict(
            session, f"Tier {clean_tier} was just taken by another change. Try again."
        )
        prices = []
        for interval, amount in (("month", monthly), ("year", annual)):
            if amount is not None:
                price = Price(
                    merchant_id=merchant_id,
                    plan_id=plan.id,
                    interval=interval,
                    amount=amount,
                    currency=currency,
                )
                session.add(price)
                prices.append(price)
        flush_or_conflict(session, "The prices changed at the same time. Try again.")
        change.after = {
            "product_id": product.id,
            "name": plan.name,
            "tier": plan.tier,
            "features": plan.features,
            "slug": plan.slug,
            **terms,
            "prices": [
                {"id": p.id, "interval": p.interval, "amount": p.amount, "currency": p.currency}
                for p in prices
            ],
        }
    return plan


def update_plan(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    plan_id: int,
    name: Any,
    description: Any = "",
    features: Any = None,
    tier: Any,
    trial_days: Any = KEEP,
    trial_requires_card: Any = KEEP,
    public: Any = KEEP,
    entitlements: Any = KEEP,
    actor: audit.Actor,
) -> Plan:
    """Name, description, features and tier; the trial terms, public sale and entitlements
    (the editor's `key: value` lines or a dict) unless left as `KEEP` (a new trial length
    applies to checkouts from now on, never to trials running). Prices change through
    `set_price`; the slug never changes."""
    plan = get_plan(session, merchant_id, plan_id)
    _check_editable(plan, "plan")
    problems = Problems()
    clean_name, clean_description, clean_features = _clean_plan_text(
        problems, name, description, features
    )
    clean_tier = problems.whole(tier, "Tier", low=TIER_MIN, high=TIER_MAX)
    terms = _plan_sale_terms(problems, trial_days, trial_requires_card, public)
    if entitlements is not KEEP:
        terms["entitlements"] = clean_entitlements(problems, parse_entitlements(entitlements))
    _check_plan_name_and_tier(
        problems, _plans_of(session, plan.product_id), clean_name, clean_tier, plan.id
    )
    problems.check()
    values = {
        "name": clean_name,
        "description": clean_description,
        "features": clean_features,
        "tier": clean_tier,
        **terms,
    }
    edit(
        session,
        clock,
        plan,
        values,
        actor=actor,
        action="catalog.plan.update",
        conflict=f"Tier {clean_tier} was just taken by another change. Try again.",
    )
    return plan


def archive_plan(
    session: Session, clock: Clock, *, merchant_id: int, plan_id: int, actor: audit.Actor
) -> Plan:
    """Stop offering a plan. Its subscribers keep it, at their price, until they change."""
    plan = _on_sale(session, Plan, merchant_id, plan_id, "plan")
    _archive(
        session, clock, actor, plan, "plan", subscribers=subscriber_count(session, plan_id=plan.id)
    )
    return plan


# --- prices -------------------------------------------------------------------------------------


def set_price(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    plan_id: int,
    interval: Any,
    amount: Any,
    actor: audit.Actor,
) -> Price:
    """Offer the plan at `amount` per `interval` from now on: a new price row. An active price
    for the same interval is archived, never changed, so its subscribers keep paying it."""
    plan = get_plan(session, merchant_id, plan_id)
    if not plan.active:
        raise CatalogError("This plan is archived: its prices can't change.", code="archived")
    currency = merchant_currency(session, merchant_id)
    problems = Problems()
    if interval not in INTERVAL_LABELS:
        problems.add("Choose monthly or annual.")
    clean_amount = problems.amount(amount, "Price", currency, required=True)
    problems.check()
    old = _active_price(session, plan.id, interval, currency)
    if old is not None and old.amount == clean_amount:
        raise CatalogError(
            f"The {INTERVAL_LABELS[interval]} price is already "
            f"{format_money(clean_amount, currency)}.",
            code="unchanged",
        )
    price = Price(
        merchant_id=merchant_id,
        plan_id=plan.id,
        interval=interval,
        amount=clean_amount,
        currency=currency,
    )
    with audit.changing(
        session,
        clock,
        price,
        actor=actor,
        action="catalog.price.create",
        target_type="price",
        before=None if old is None else {"price_id": old.id, "amount": old.amount, "active": False},
    ) as change:
        if old is not None:
            old.active = False
            session.add(old)
            session.flush()  # the partial unique index allows one active price per interval
        session.add(price)
        flush_or_conflict(session, "The price was changed at the same time. Reload and try again.")
        change.after = {
            "plan_id": plan.id,
            "interval": interval,
            "amount": clean_amount,
            "currency": currency,
            "replaces": None if old is None else old.id,
            "subscribers_keeping_old_price": 0
            if old is None
            else subscriber_count(session, price_id=old.id),
        }
    return price


def archive_price(
    session: Session, clock: Clock, *, merchant_id: int, price_id: int, actor: audit.Actor
) -> Price:
    """Stop selling one price. A plan keeps at least one price on sale: archive the plan to take
    it off sale entirely."""
    price = _on_sale(session, Price, merchant_id, price_id, "price")
    plan = session.get(Plan, price.plan_id)
    if plan.active:
        others = session.exec(
            select(sa.func.count(Price.id)).where(
                Price.plan_id == plan.id, Price.active.is_(True), Price.id != price.id
            )
        ).one()
        if others == 0:
            raise CatalogError(
                f'This is the last price of "{plan.name}" on sale. Archive the plan instead.',
                code="last_price",
            )
    subscribers = subscriber_count(session, price_id=price.id)
    _archive(session, clock, actor, price, "price", subscribers=subscribers)
    return price


def subscriber_count(
    session: Session,
    *,
    price_id: int | None = None,
    plan_id: int | None = None,
    product_id: int | None = None,
) -> int:
    """Subscriptions that have not ended on this price (or plan, or product)."""
    query = select(sa.func.count(Subscription.id)).where(
        Subscription.status != SubscriptionStatus.CANCELED
    )
    if price_id is not None:
        query = query.where(Subscription.price_id == price_id)
    if plan_id is not None:
        query = query.where(Subscription.plan_id == plan_id)
    if product_id is not None:
        query = query.join(Plan, Plan.id == Subscription.plan_id).where(
            Plan.product_id == product_id
        )
    return session.exec(query).one()
