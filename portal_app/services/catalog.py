"""Read access to the catalog: prices with their plans, and how two prices relate."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from portal_app.clock import add_months
from portal_app.models import Plan, Price
from portal_app.services.errors import NotFound

INTERVAL_MONTHS = {"month": 1, "year": 12}


@dataclass(frozen=True)
class PriceInfo:
    price: Price
    plan: Plan

    @property
    def label(self) -> str:
        return f"{self.plan.name} ({'monthly' if self.price.interval == 'month' else 'annual'})"


def price_info(session: Session, merchant_id: int, price_id: int) -> PriceInfo:
    """A price of this merchant, active or not (existing subscriptions may sit on retired ones)."""
    price = session.get(Price, price_id)
    if price is None or price.merchant_id != merchant_id:
        raise NotFound("That plan does not exist.")
    return PriceInfo(price, session.get(Plan, price.plan_id))


def period_end(start, interval: str):
    return add_months(start, INTERVAL_MONTHS[interval])


def direction(old: PriceInfo, new: PriceInfo) -> str:
    """upgrade | downgrade | interval | same — by plan tier first, then billing interval."""
    if old.plan.product_id != new.plan.product_id:
        return "other_product"
    if new.plan.tier > old.plan.tier:
        return "upgrade"
    if new.plan.tier < old.plan.tier:
        return "downgrade"
    if new.price.interval != old.price.interval:
        return "interval"
    return "same"


def active_prices(session: Session, merchant_id: int) -> list[PriceInfo]:
    rows = session.exec(
        select(Price, Plan)
        .join(Plan, Plan.id == Price.plan_id)
        .where(Price.merchant_id == merchant_id, Price.active.is_(True), Plan.active.is_(True))
        .order_by(Plan.product_id, Plan.tier, Price.interval)
    ).all()
    return [PriceInfo(price, plan) for price, plan in rows]


def annual_saving(monthly: Price | None, annual: Price | None) -> int:
    """Whole percent a year costs less paid annually than as twelve months (0: none, or the two
    prices are not comparable)."""
    if monthly is None or annual is None or monthly.currency != annual.currency:
        return 0
    full_year = 12 * monthly.amount
    if full_year <= 0 or annual.amount >= full_year:
        return 0
    return max(round((full_year - annual.amount) * 100 / full_year), 0)
