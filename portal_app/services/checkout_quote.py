"""What a checkout session shows and will charge: the session read (and expired when due), the
first invoice as the engine will compute it (price, trial, discount code), and the page's view."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.models import (
    CheckoutSession,
    CheckoutStatus,
    Coupon,
    Customer,
    Merchant,
    Plan,
    Price,
    Product,
    PromotionCode,
)
from portal_app.money import format_money
from portal_app.services import (
    coupons,
    features,
    invoices,
    trials,
)
from portal_app.services.catalog import PriceInfo, annual_saving, period_end, price_info
from portal_app.services.errors import (
    CouponError,
    NotFound,
)

ID_PREFIX = "cs_"
ID_MAX = 64
INTERVALS = ("month", "year")
NOT_FOUND = "This checkout link is not valid."


@dataclass(frozen=True)
class QuoteLine:
    description: str
    amount: str
    amount_minor: int


@dataclass
class CheckoutView:
    """What the checkout page shows: display strings and flags only."""

    id: str
    status: str
    mode: str
    merchant_name: str
    title: str
    description: str
    features: list[str]
    interval: str
    can_switch_interval: bool
    other_interval: str
    other_interval_label: str
    price_label: str
    trial_label: str
    trial_days: int
    card_required: bool
    lines: list[QuoteLine]
    total: str
    due_today: str
    next_renewal: str
    code_applied: str
    code_problem: str
    email: str
    name: str
    billing_address: dict[str, Any]
    shipping_address: dict[str, Any]
    needs_billing_address: bool
    needs_shipping_address: bool
    customer_signed_in_email: str
    expires_at_label: str
    success_url: str
    quantity: int = 1


@dataclass
class Quote:
    """The first invoice as the engine will compute it, and what follows."""

    currency: str
    lines: list[invoices.LineSpec]
    discount: int
    total: int
    trial_days: int
    due_today: int
    next_renewal_at: datetime | None
    next_renewal_amount: int | None
    applied: coupons.AppliedCode | None = None
    coupon: Coupon | None = None
    code_problem: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def sold_once(product: Product | None) -> bool:
    return product is not None and product.active and product.one_time_amount is not None


def price_for(session: Session, plan: Plan, interval: str, currency: str | None) -> Price | None:
    prices = list(
        session.exec(
            select(Price)
            .where(Price.plan_id == plan.id, Price.interval == interval, Price.active)
            .order_by(Price.id)
        )
    )
    preferred = [p for p in prices if p.currency == currency]
    return (preferred or prices or [None])[0]


def load(session: Session, checkout_id: Any) -> CheckoutSession:
    if not isinstance(checkout_id, str) or not checkout_id.startswith(ID_PREFIX):
        raise NotFound(NOT_FOUND)
    if len(checkout_id) > ID_MAX:
        raise NotFound(NOT_FOUND)
    row = session.get(CheckoutSession, checkout_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


def expire_if_due(session: Session, clock: Clock, row: CheckoutSession) -> None:
    if row.status == CheckoutStatus.OPEN and clock.now() >= row.expires_at:
        session.execute(
            sa.update(CheckoutSession)
            .where(CheckoutSession.id == row.id, CheckoutSession.status == CheckoutStatus.OPEN)
            .values(status=CheckoutStatus.EXPIRED)
            .execution_options(synchronize_session=False)
        )
        session.refresh(row)


def _applied(session: Session, clock: Clock, row: CheckoutSession, plan_id, product_id, currency):
    """The session's code checked again now (it may have expired or run out since)."""
    if row.promotion_code_id is None:
        return None, None, ""
    promo = session.get(PromotionCode, row.promotion_code_id)
    try:
        applied = coupons.resolve_code(
            session,
            clock,
            merchant_id=row.merchant_id,
            code=promo.code,
            plan_id=plan_id,
            product_id=product_id,
            currency=currency,
        )
    except CouponError as exc:
        return None, None, str(exc)
    return applied, session.get(Coupon, applied.coupon_id), ""


def subscription_parts(session: Session, row: CheckoutSession) -> PriceInfo:
    return price_info(session, row.merchant_id, row.price_id)


def quote_for(
    session: Session, clock: Clock, row: CheckoutSession, customer_id: int | None
) -> Quote:
    now = clock.now()
    if row.mode == "subscription":
        info = subscription_parts(session, row)
        price = info.price
        currency = price.currency
        days = trials.trial_days_for(
            session, customer_id=customer_id, plan=info.plan, override=row.trial_days
        )
        applied, coupon, problem = _applied(session, clock, row, info.plan.id, None, currency)
        start = now + timedelta(days=days) if days else now
        end = period_end(start, price.interval)
        lines = [invoices.LineSpec("subscription", info.label, price.amount, start, end)]
        discount_line = (
            coupons.first_invoice_line(session, applied, price.amount, currency)
            if applied
            else None
        )
        if discount_line is not None:
            lines.append(discount_line)
        total = sum(line.amount for line in lines)
        renewal_amount = price.amount
        if coupon is not None and _reduces_second_invoice(coupon):
            renewal_amount = price.amount - coupons.discount_off(coupon, price.amount, currency)
        return Quote(
            currency=currency,
            lines=lines,
            discount=-(discount_line.amount if discount_line else 0),
            total=total,
            trial_days=days,
            due_today=0 if days else total,
            next_renewal_at=start if days else end,
            next_renewal_amount=total if days else renewal_amount,
            applied=applied,
            coupon=coupon,
            code_problem=problem,
        )
    product = session.get(Product, row.product_id)
    currency = product.currency
    quantity = row.quantity
    amount = product.one_time_amount * quantity
    label = product.name if quantity == 1 else f"{product.name} \u00d7 {quantity}"
    lines = [invoices.LineSpec("one_time", label, amount)]
    applied, coupon, problem = _applied(session, clock, row, None, product.id, currency)
    discount_line = (
        coupons.first_invoice_line(session, applied, amount, currency) if applied else None
    )
    if discount_line is not None:
        lines.append(discount_line)
    total = sum(line.amount for line in lines)
    return Quote(
        currency=currency,
        lines=lines,
        discount=-(discount_line.amount if discount_line else 0),
        total=total,
        trial_days=0,
        due_today=total,
        next_renewal_at=None,
        next_renewal_amount=None,
        applied=applied,
        coupon=coupon,
        code_problem=problem,
    )


def _reduces_second_invoice(coupon: Coupon) -> bool:
    if coupon.duration == "forever":
        return True
    return coupon.duration == "repeating" and (coupon.duration_cycles or 0) > 1


def card_required(session: Session, row: CheckoutSession, quote: Quote) -> bool:
    """A purchase needs a card when something is due; a subscription always (it renews),
    except during a trial of a plan whose merchant lets it start without one."""
    if row.mode == "payment":
        return quote.due_today > 0
    if quote.trial_days:
        return subscription_parts(session, row).plan.trial_requires_card
    return True


def _savings(monthly: Price | None, annual: Price | None) -> str:
    percent = annual_saving(monthly, annual)
    return f"save {percent}%" if percent else ""


def view(
    session: Session, clock: Clock, checkout_id: Any, *, customer_id: int | None = None
) -> CheckoutView:
    """The page's view of a session; an open session past its expiry is marked expired here."""
    row = load(session, checkout_id)
    expire_if_due(session, clock, row)
    merchant = session.get(Merchant, row.merchant_id)
    settings = features.load(session, row.merchant_id)
    signed_in = session.get(Customer, customer_id) if customer_id else None
    if signed_in is not None and signed_in.merchant_id != row.merchant_id:
        signed_in = None
    quote = quote_for(session, clock, row, signed_in.id if signed_in else None)
    interval = other = other_label = ""
    can_switch = False
    title = description = ""
    perks: list[str] = []
    price_label = ""
    needs_shipping = False
    if row.mode == "subscription":
        info = subscription_parts(session, row)
        interval = info.price.interval
        title, description, perks = info.plan.name, info.plan.description, list(info.plan.features)
        price_label = formatting.price(info.price.amount, info.price.currency, interval)
        other = "year" if interval == "month" else "month"
        other_price = price_for(session, info.plan, other, info.price.currency)
        can_switch = other_price is not None and row.status == CheckoutStatus.OPEN
        if other_price is not None:
            monthly, annual = (
                (info.price, other_price) if interval == "month" else (other_price, info.price)
            )
            saving = _savings(monthly, annual)
            other_label = (
                f"Switch to annual billing{f' and {saving}' if saving else ''}"
                if other == "year"
                else "Switch to monthly billing"
            )
    else:
        product = session.get(Product, row.product_id)
        title, description = product.name, product.description
        price_label = format_money(product.one_time_amount, product.currency)
        needs_shipping = product.shippable
    lines = [
        QuoteLine(line.description, format_money(line.amount, quote.currency), line.amount)
        for line in quote.lines
    ]
    if row.mode == "subscription" and quote.next_renewal_at is not None:
        amount = format_money(quote.next_renewal_amount, quote.currency)
        when = formatting.date(quote.next_renewal_at)
        next_renewal = (
            f"First charge of {amount} on {when}, when the trial ends."
            if quote.trial_days
            else f"Renews on {when} at {amount}."
        )
    else:
        next_renewal = ""
    return CheckoutView(
        id=row.id,
        status=row.status,
        mode=row.mode,
        merchant_name=merchant.name,
        title=title,
        description=description,
        features=perks,
        interval=interval,
        can_switch_interval=can_switch,
        other_interval=other if can_switch else "",
        other_interval_label=other_label if can_switch else "",
        price_label=price_label,
        trial_label=f"{quote.trial_days}-day free trial" if quote.trial_days else "",
        trial_days=quote.trial_days,
        card_required=card_required(session, row, quote),
        lines=lines,
        total=format_money(quote.total, quote.currency),
        due_today=format_money(quote.due_today, quote.currency),
        next_renewal=next_renewal,
        code_applied=quote.applied.label if quote.applied else "",
        code_problem=quote.code_problem,
        email=signed_in.email if signed_in else row.email,
        name=row.name or (signed_in.name if signed_in else ""),
        billing_address=dict(row.billing_address or {}),
        shipping_address=dict(row.shipping_address or {}),
        needs_billing_address=bool(settings.enabled("checkout.require_billing_address")),
        needs_shipping_address=needs_shipping,
        customer_signed_in_email=signed_in.email if signed_in else "",
        expires_at_label=formatting.datetime_(row.expires_at),
        success_url=row.success_url,
        quantity=row.quantity,
    )
