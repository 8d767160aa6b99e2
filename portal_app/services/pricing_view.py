"""What the public pricing page shows: the demo merchant's active plans with monthly and annual
prices, and for each plan sold publicly (with public checkout on) its Subscribe links
`/buy/<slug>?interval=…`. Public (no principal), so `load` opens its own read-only unit of
work."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from portal_app import routes
from portal_app.db import read_scope
from portal_app.models import Merchant, Plan, Price, Product
from portal_app.money import format_money
from portal_app.services import features
from portal_app.services.catalog import annual_saving
from portal_app.services.demo import DEMO_SLUG


@dataclass
class PlanCard:
    id: str = ""
    name: str = ""
    product: str = ""
    description: str = ""
    features: str = ""
    entitlements: str = ""  # "Seats: 5 · Api access": what the plan gives, from its entitlements
    monthly: str = ""
    annual: str = ""
    savings: str = ""
    # "/buy/pro?interval=month": "" when the plan is not sold publicly or has no such price
    monthly_link: str = ""
    annual_link: str = ""
    trial: str = ""  # "14-day free trial", or ""


def _demo_merchant(session: Session) -> Merchant | None:
    merchant = session.exec(select(Merchant).where(Merchant.slug == DEMO_SLUG)).first()
    if merchant is None:
        merchant = session.exec(
            select(Merchant).where(Merchant.is_demo == True).order_by(Merchant.id)  # noqa: E712
        ).first()
    return merchant


def _savings_label(monthly: Price | None, annual: Price | None) -> str:
    percent = annual_saving(monthly, annual)
    return f"Save {percent}% yearly" if percent else ""


def pricing(session: Session) -> tuple[str, list[PlanCard]]:
    """(merchant name, one card of display strings per active plan); ("", []) if none seeded."""
    merchant = _demo_merchant(session)
    if merchant is None:
        return "", []
    rows = session.exec(
        select(Plan, Product)
        .join(Product, Product.id == Plan.product_id)
        .where(Plan.merchant_id == merchant.id, Plan.active, Product.active)
        .order_by(Product.name, Plan.tier, Plan.id)
    ).all()
    plan_ids = [plan.id for plan, _ in rows]
    prices: dict[tuple[int, str], list[Price]] = {}
    if plan_ids:
        for price in session.exec(
            select(Price).where(Price.plan_id.in_(plan_ids), Price.active).order_by(Price.id)
        ):
            prices.setdefault((price.plan_id, price.interval), []).append(price)

    def pick(plan_id: int, interval: str) -> Price | None:
        candidates = prices.get((plan_id, interval), [])
        preferred = [p for p in candidates if p.currency == merchant.default_currency]
        return (preferred or candidates or [None])[0]

    public_checkout = features.load(session, merchant.id).enabled("checkout.public")

    def link(plan: Plan, price: Price | None, interval: str) -> str:
        if not (public_checkout and plan.public and plan.slug) or price is None:
            return ""
        return routes.buy(plan.slug, interval)

    plans = []
    for plan, product in rows:
        monthly, annual = pick(plan.id, "month"), pick(plan.id, "year")
        plans.append(
            PlanCard(
                id=str(plan.id),
                name=plan.name,
                product=product.name,
                description=plan.description,
                features=" · ".join(plan.features or []),
                entitlements=entitlements_label(plan.entitlements),
                monthly=format_money(monthly.amount, monthly.currency) if monthly else "",
                annual=format_money(annual.amount, annual.currency) if annual else "",
                savings=_savings_label(monthly, annual),
                monthly_link=link(plan, monthly, "month"),
                annual_link=link(plan, annual, "year"),
                trial=f"{plan.trial_days}-day free trial" if plan.trial_days > 0 else "",
            )
        )
    return merchant.name, plans


def load() -> tuple[str, list[PlanCard]]:
    """`pricing` in its own read-only unit of work."""
    with read_scope() as session:
        return pricing(session)


ACRONYMS = {"api", "cli", "sso", "sla", "ip", "url", "gb", "tb"}


def entitlements_label(entitlements: dict | None) -> str:
    """`{"seats": 5, "api_access": true, "sso": false}` as "Seats: 5 · API access"."""
    parts = []
    for key, value in (entitlements or {}).items():
        words = [w.upper() if w in ACRONYMS else w for w in key.split("_") if w]
        label = " ".join(words)
        label = label[:1].upper() + label[1:]
        if value is True:
            parts.append(label)
        elif value is not False:
            parts.append(f"{label}: {value}")
    return " · ".join(parts)
