"""What the staff catalog screen reads: every product with its plans and prices and how many live
subscriptions sit on each, and the checkout columns and edit-dialog fields (trial, public sale,
one-time price, buy link) as the page shows them. `catalog_admin` makes the changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app import routes
from portal_app.clock import Clock
from portal_app.config import load_settings
from portal_app.models import Plan, Price, Product, Subscription, SubscriptionStatus
from portal_app.money import format_money, minor_unit_exponent
from portal_app.services.catalog_rules import get_plan, get_product


@dataclass(frozen=True)
class PriceRow:
    price: Price
    subscribers: int

    @property
    def label(self) -> str:
        return f"{format_money(self.price.amount, self.price.currency)}/{self.price.interval}"


@dataclass
class PlanRow:
    plan: Plan
    prices: list[PriceRow] = field(default_factory=list)

    @property
    def subscribers(self) -> int:
        return sum(row.subscribers for row in self.prices)


@dataclass
class ProductRow:
    product: Product
    plans: list[PlanRow] = field(default_factory=list)


def overview(session: Session, merchant_id: int) -> list[ProductRow]:
    """Every product of the merchant with its plans (by tier) and prices (on sale first), active
    and archived, with how many live subscriptions sit on each price. Four queries in all."""
    products = session.exec(
        select(Product).where(Product.merchant_id == merchant_id).order_by(Product.id)
    ).all()
    plans = session.exec(
        select(Plan).where(Plan.merchant_id == merchant_id).order_by(Plan.tier, Plan.id)
    ).all()
    prices = session.exec(
        select(Price)
        .where(Price.merchant_id == merchant_id)
        .order_by(Price.active.desc(), Price.interval, Price.id.desc())
    ).all()
    counts = dict(
        session.exec(
            select(Subscription.price_id, sa.func.count(Subscription.id))
            .where(
                Subscription.merchant_id == merchant_id,
                Subscription.status != SubscriptionStatus.CANCELED,
            )
            .group_by(Subscription.price_id)
        ).all()
    )
    by_product = {product.id: ProductRow(product) for product in products}
    by_plan = {}
    for plan in plans:
        row = PlanRow(plan)
        by_plan[plan.id] = row
        if plan.product_id in by_product:
            by_product[plan.product_id].plans.append(row)
    for price in prices:
        if price.plan_id in by_plan:
            by_plan[price.plan_id].prices.append(PriceRow(price, counts.get(price.id, 0)))
    return list(by_product.values())


# --- what checkout sells: the catalog page's extra columns and dialog fields ----------------------


def buy_link(slug: str | None) -> str:
    """The stable, shareable link to a plan's (or one-time product's) checkout,
    `<public url>/buy/<slug>` (http/checkout_links.py); "" without a slug."""
    return f"{load_settings().public_url}{routes.BUY}/{slug}" if slug else ""


def trial_label(plan: Plan) -> str:
    if not plan.trial_days:
        return "No trial"
    card = "card required" if plan.trial_requires_card else "no card needed"
    return f"{plan.trial_days}-day free trial, {card}"


def major_text(amount: int | None, currency: str) -> str:
    """Minor units as the amount a form shows ("4900" USD → "49.00"); "" for None."""
    if amount is None:
        return ""
    exponent = minor_unit_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def _yes(value: bool) -> str:
    return "yes" if value else ""


def sale_terms(session: Session, clock: Clock, *, merchant_id: int) -> dict[str, Any]:
    """For the catalog page, by id (text): each plan's trial, public sale and buy link
    (`plan_terms`), each product's one-time price, shipping and buy link (`product_terms`)."""
    plans = session.exec(select(Plan).where(Plan.merchant_id == merchant_id)).all()
    products = session.exec(select(Product).where(Product.merchant_id == merchant_id)).all()
    return {
        "plan_terms": {
            str(plan.id): {
                "trial": trial_label(plan),
                "public": _yes(plan.public),
                "buy_link": buy_link(plan.slug),
            }
            for plan in plans
        },
        "product_terms": {
            str(product.id): {
                "one_time": ""
                if product.one_time_amount is None
                else format_money(product.one_time_amount, product.currency),
                "shippable": _yes(product.shippable),
                "buy_link": buy_link(product.slug) if product.one_time_amount is not None else "",
            }
            for product in products
        },
    }


def editor_terms(
    session: Session, clock: Clock, *, merchant_id: int, kind: str, item_id: int
) -> dict[str, str]:
    """The edit dialog's extra fields for a plan or a product, as the form shows them."""
    if kind == "plan":
        plan = get_plan(session, merchant_id, item_id)
        return {
            "trial_days": str(plan.trial_days),
            "trial_requires_card": _yes(plan.trial_requires_card),
            "public": _yes(plan.public),
            "buy_link": buy_link(plan.slug),
        }
    if kind == "product":
        product = get_product(session, merchant_id, item_id)
        return {
            "one_time_amount": major_text(product.one_time_amount, product.currency),
            "shippable": _yes(product.shippable),
            "currency": product.currency,
            "buy_link": buy_link(product.slug) if product.one_time_amount is not None else "",
        }
    return {}
