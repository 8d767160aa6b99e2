"""The public pricing page: the demo merchant's plans with monthly and annual prices."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from portal_app.db import read_scope
from portal_app.models import Merchant, Plan, Price, Product
from portal_app.money import format_money

log = logging.getLogger(__name__)

DEMO_SLUG = "acme"


def _demo_merchant(session: Session) -> Merchant | None:
    merchant = session.exec(select(Merchant).where(Merchant.slug == DEMO_SLUG)).first()
    if merchant is None:
        merchant = session.exec(
            select(Merchant).where(Merchant.is_demo == True).order_by(Merchant.id)  # noqa: E712
        ).first()
    return merchant


def _savings_label(monthly: Price | None, annual: Price | None) -> str:
    if monthly is None or annual is None or monthly.currency != annual.currency:
        return ""
    full_year = 12 * monthly.amount
    if full_year <= 0 or annual.amount >= full_year:
        return ""
    percent = round((full_year - annual.amount) * 100 / full_year)
    return f"Save {percent}% yearly" if percent > 0 else ""


def read_pricing(session: Session) -> tuple[str, list[dict[str, str]]]:
    """(merchant name, one dict of display strings per active plan); ("", []) if none seeded."""
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

    plans = []
    for plan, product in rows:
        monthly, annual = pick(plan.id, "month"), pick(plan.id, "year")
        plans.append(
            {
                "id": str(plan.id),
                "name": plan.name,
                "product": product.name,
                "description": plan.description,
                "features": " · ".join(plan.features or []),
                "monthly": format_money(monthly.amount, monthly.currency) if monthly else "",
                "annual": format_money(annual.amount, annual.currency) if annual else "",
                "savings": _savings_label(monthly, annual),
            }
        )
    return merchant.name, plans


def _load_from_db() -> tuple[str, list[dict[str, str]]]:
    with read_scope() as session:
        return read_pricing(session)


class PricingState(rx.State):
    merchant_name: str = ""
    plans: list[dict[str, str]] = []
    loaded: bool = False
    error: str = ""

    @rx.event
    async def load(self):
        """On page load: read the catalog off the event loop, keep only display strings."""
        try:
            name, plans = await asyncio.to_thread(_load_from_db)
        except SQLAlchemyError:
            log.exception("could not read the catalog")
            self.merchant_name, self.plans = "", []
            self.error = "The catalog is unavailable right now. Please try again later."
        else:
            self.merchant_name, self.plans, self.error = name, plans, ""
        self.loaded = True
