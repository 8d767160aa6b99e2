"""Builders for test data. Rows are inserted directly; the behaviour under test goes through
the services."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from portal_app.clock import Clock, add_months
from portal_app.models import (
    Customer,
    Merchant,
    PaymentMethod,
    Plan,
    Price,
    Product,
    Subscription,
)

PLAN_PRICES = {"Basic": (1000, 10000), "Pro": (2000, 20000), "Business": (5000, 50000)}


@dataclass
class Catalog:
    merchant: Merchant
    product: Product
    plans: dict[str, Plan]
    monthly: dict[str, Price]
    annual: dict[str, Price]


def make_merchant(session: Session, clock: Clock, slug: str = "acme") -> Merchant:
    merchant = Merchant(slug=slug, name=f"{slug.title()} Inc.", created_at=clock.now())
    session.add(merchant)
    session.flush()
    return merchant


def make_catalog(session: Session, clock: Clock, slug: str = "acme") -> Catalog:
    merchant = make_merchant(session, clock, slug)
    product = Product(merchant_id=merchant.id, name="Cloud")
    session.add(product)
    session.flush()
    plans, monthly, annual = {}, {}, {}
    for tier, (name, (month_amount, year_amount)) in enumerate(PLAN_PRICES.items()):
        plan = Plan(merchant_id=merchant.id, product_id=product.id, name=name, tier=tier)
        session.add(plan)
        session.flush()
        plans[name] = plan
        monthly[name] = Price(
            merchant_id=merchant.id,
            plan_id=plan.id,
            interval="month",
            amount=month_amount,
            currency="USD",
        )
        annual[name] = Price(
            merchant_id=merchant.id,
            plan_id=plan.id,
            interval="year",
            amount=year_amount,
            currency="USD",
        )
        session.add_all([monthly[name], annual[name]])
    session.flush()
    return Catalog(merchant, product, plans, monthly, annual)


def make_customer(
    session: Session, clock: Clock, merchant: Merchant, email: str = "zoe@example.com"
) -> Customer:
    customer = Customer(
        merchant_id=merchant.id, email=email, name="Zoë Ångström", created_at=clock.now()
    )
    session.add(customer)
    session.flush()
    return customer


def make_card(
    session: Session,
    clock: Clock,
    customer: Customer,
    *,
    token: str = "tok_test",
    last4: str = "4242",
    default: bool = True,
) -> PaymentMethod:
    """A saved card row without going through the gateway (for tests of other rules)."""
    card = PaymentMethod(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        gateway_token=token,
        brand="visa",
        last4=last4,
        exp_month=12,
        exp_year=clock.now().year + 3,
        is_default=default,
        created_at=clock.now(),
    )
    session.add(card)
    session.flush()
    return card


def make_subscription_row(
    session: Session, clock: Clock, customer: Customer, price: Price, status: str = "active"
) -> Subscription:
    now = clock.now()
    subscription = Subscription(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        plan_id=price.plan_id,
        price_id=price.id,
        status=status,
        current_period_start=now,
        current_period_end=add_months(now, 1 if price.interval == "month" else 12),
        created_at=now,
    )
    session.add(subscription)
    session.flush()
    return subscription


def add_gateway_card(
    session: Session,
    clock: Clock,
    gateway,
    customer: Customer,
    number: str = "4242424242424242",
    default: bool = True,
) -> PaymentMethod:
    """A saved card vaulted through the sandbox gateway, so charges behave like the number's."""
    card = gateway.tokenize(session, clock, number, 12, clock.now().year + 2, "123")
    if default:
        for other in session.exec(
            select(PaymentMethod).where(PaymentMethod.customer_id == customer.id)
        ):
            other.is_default = False
            session.add(other)
    method = PaymentMethod(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        gateway_token=card.token,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        is_default=default,
        created_at=clock.now(),
    )
    session.add(method)
    session.flush()
    return method
