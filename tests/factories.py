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


def finalized_invoice(
    session: Session,
    clock: Clock,
    customer: Customer,
    lines: list | None = None,
    *,
    amount: int = 1500,
    currency: str = "USD",
):
    """An open invoice through the services: a manual draft ("Consulting", `amount`), finalized."""
    from portal_app.services import audit, invoices

    draft = invoices.create_draft(
        session,
        clock,
        customer=customer,
        currency=currency,
        lines=lines or [invoices.LineSpec("manual", "Consulting", amount)],
        billing_reason="manual",
    )
    return invoices.finalize(session, clock, draft, audit.SYSTEM)


def pay_invoice(session: Session, clock: Clock, gateway, customer: Customer, invoice, actor=None):
    """Pay `invoice` with the customer's default card (as the customer unless `actor` is given);
    returns the PaymentOutcome."""
    from portal_app.services import audit, invoices

    return invoices.pay(
        session,
        clock,
        gateway,
        customer_id=customer.id,
        invoice_id=invoice.id,
        payment_method_id=None,
        actor=actor or audit.Actor.customer(customer.id),
    )


def receipt_of(session: Session, invoice):
    """The receipt issued for `invoice` (exactly one)."""
    from portal_app.models import Receipt

    return session.exec(select(Receipt).where(Receipt.invoice_id == invoice.id)).one()


def refused(error: type[Exception], code: str):
    """`pytest.raises` for one rule's refusal: the error class and its `code` (not its wording)."""
    import pytest

    return pytest.raises(error, check=lambda exc: getattr(exc, "code", None) == code)


def subscribe(session: Session, clock: Clock, gateway, customer: Customer, price, actor=None):
    """A subscription through the service: its first period charged to the default card."""
    from portal_app.services import subscriptions

    return subscriptions.create(
        session,
        clock,
        gateway,
        customer_id=customer.id,
        price_id=price.id,
        actor=_as(customer, actor),
    )


def _as(customer: Customer, actor=None):
    """The actor of a customer's own request unless another is given."""
    from portal_app.services import audit

    return actor or audit.Actor.customer(customer.id)


def _of(customer: Customer, subscription) -> dict:
    """The ids a subscription service takes: the customer's, and their subscription's."""
    return {"customer_id": customer.id, "subscription_id": subscription.id}


def preview_change(session: Session, clock: Clock, customer: Customer, subscription, price, **how):
    """`plan_changes.preview_change` of the customer's `subscription` to `price` (`timing=`)."""
    from portal_app.services import plan_changes

    return plan_changes.preview_change(
        session, clock, **_of(customer, subscription), new_price_id=price.id, **how
    )


def change_plan(
    session: Session, clock: Clock, gateway, customer: Customer, subscription, price, **how
):
    """`plan_changes.change_plan` of the customer's `subscription` to `price`; `how`: timing,
    expected_version, actor (the customer by default)."""
    from portal_app.services import plan_changes

    how["actor"] = _as(customer, how.get("actor"))
    return plan_changes.change_plan(
        session, clock, gateway, **_of(customer, subscription), new_price_id=price.id, **how
    )


def cancel_subscription(
    session: Session, clock: Clock, customer: Customer, subscription, at_period_end=None, actor=None
):
    """`subscriptions.cancel` of the customer's `subscription` (`at_period_end`: None = policy)."""
    from portal_app.services import subscriptions

    return subscriptions.cancel(
        session,
        clock,
        **_of(customer, subscription),
        at_period_end=at_period_end,
        actor=_as(customer, actor),
    )


def pause_subscription(
    session: Session, clock: Clock, customer: Customer, subscription, resume_at, actor=None
):
    """`subscriptions.pause` of the customer's `subscription` until `resume_at` (None: open)."""
    from portal_app.services import subscriptions

    return subscriptions.pause(
        session,
        clock,
        **_of(customer, subscription),
        resume_at=resume_at,
        actor=_as(customer, actor),
    )


def run_threads(target, works: list, timeout: float = 120) -> None:
    """Run `target(index, work)` for every work at once, one thread each; fail if one hangs."""
    import threading

    threads = [threading.Thread(target=target, args=(i, w)) for i, w in enumerate(works)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"


# --- sign-in (services.magic_links, services.staff_auth) ----------------------------------------

STAFF_PASSWORD = "correct horse battery"


def make_staff(
    session: Session, clock: Clock, merchant: Merchant, email: str = "ops@example.com", **fields
):
    """A staff account through the service (argon2 hash, audited `staff.create`)."""
    from portal_app.services import audit, staff_auth

    fields.setdefault("password", STAFF_PASSWORD)
    return staff_auth.create_staff(
        session, clock, merchant_id=merchant.id, email=email, actor=audit.SYSTEM, **fields
    )


def staff_signed_in(
    session: Session,
    clock: Clock,
    merchant: Merchant,
    email: str = "ops@example.com",
    *,
    password: str = STAFF_PASSWORD,
    actor=None,
):
    """A password sign-in of a staff member: the service's `SignIn`."""
    from portal_app.services import audit, staff_auth

    return staff_auth.staff_sign_in(
        session,
        clock,
        merchant_id=merchant.id,
        email=email,
        password=password,
        actor=actor or audit.SYSTEM,
    )
