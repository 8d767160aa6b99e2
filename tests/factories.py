"""Builders for test data. Rows are inserted directly; the behaviour under test goes through
the services."""

from __future__ import annotations

import secrets
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
        plan = Plan(
            merchant_id=merchant.id, product_id=product.id, name=name, tier=tier, slug=name.lower()
        )
        session.add(plan)
        session.flush()
        plans[name] = plan
        for prices, interval, amount in (
            (monthly, "month", month_amount),
            (annual, "year", year_amount),
        ):
            prices[name] = make_price(session, plan, amount, interval=interval)
    return Catalog(merchant, product, plans, monthly, annual)


def make_product(
    session: Session,
    merchant: Merchant,
    name: str = "Sticker pack",
    slug: str = "stickers",
    amount: int = 1200,
    **fields,
) -> Product:
    """A product sold once (`/buy/<slug>`), in USD unless `fields` say otherwise."""
    product = Product(
        merchant_id=merchant.id, name=name, slug=slug, one_time_amount=amount, **fields
    )
    session.add(product)
    session.flush()
    return product


def make_price(
    session: Session, plan: Plan, amount: int, currency: str = "USD", interval: str = "month"
) -> Price:
    price = Price(
        merchant_id=plan.merchant_id,
        plan_id=plan.id,
        interval=interval,
        amount=amount,
        currency=currency,
    )
    session.add(price)
    session.flush()
    return price


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
    brand: str = "visa",
    exp_month: int = 12,
    exp_year: int | None = None,
) -> PaymentMethod:
    """A saved card row without going through the gateway (for tests of other rules); it
    expires in December three years on unless told."""
    card = PaymentMethod(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        gateway_token=token,
        brand=brand,
        last4=last4,
        exp_month=exp_month,
        exp_year=exp_year or clock.now().year + 3,
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
    return make_card(
        session,
        clock,
        customer,
        token=card.token,
        last4=card.last4,
        default=default,
        brand=card.brand,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
    )


def draft_invoice(
    session: Session,
    clock: Clock,
    customer: Customer,
    lines: list | None = None,
    *,
    amount: int = 1500,
    currency: str = "USD",
):
    """A manual draft through the service: `lines`, or one line ("Consulting", `amount`)."""
    from portal_app.services import invoices

    return invoices.create_draft(
        session,
        clock,
        customer=customer,
        currency=currency,
        lines=lines or [invoices.LineSpec("manual", "Consulting", amount)],
        billing_reason="manual",
    )


def finalized_invoice(
    session: Session, clock: Clock, customer: Customer, lines: list | None = None, **draft
):
    """An open invoice through the services: `draft_invoice` (`amount`, `currency` as there),
    finalized."""
    from portal_app.services import audit, invoices

    made = draft_invoice(session, clock, customer, lines, **draft)
    return invoices.finalize(session, clock, made, audit.SYSTEM)


def pay_invoice(
    session: Session, clock: Clock, gateway, customer: Customer, invoice, actor=None, *, card=None
):
    """Pay `invoice` with `card` or else the customer's default card (as the customer unless
    `actor` is given); returns the PaymentOutcome."""
    from portal_app.services import invoices

    return invoices.pay(
        session,
        clock,
        gateway,
        customer_id=customer.id,
        invoice_id=invoice.id,
        payment_method_id=card.id if card else None,
        actor=_as(customer, actor),
    )


def receipt_of(session: Session, invoice):
    """The receipt issued for `invoice` (exactly one)."""
    from portal_app.models import Receipt

    return session.exec(select(Receipt).where(Receipt.invoice_id == invoice.id)).one()


def payment_of(session: Session, invoice):
    """The payment made for `invoice` (exactly one)."""
    from portal_app.models import Payment

    return session.exec(select(Payment).where(Payment.invoice_id == invoice.id)).one()


def paid_with_a_new_card(session: Session, clock: Clock, contract, customer: Customer, amount):
    """An invoice of `amount` paid with a good card added on the contract's gateway: the
    invoice and its payment."""
    contract.add_card(session, clock, customer)
    invoice = finalized_invoice(session, clock, customer, amount=amount)
    assert pay_invoice(session, clock, contract.gateway, customer, invoice).succeeded
    return invoice, payment_of(session, invoice)


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


def fulfil_order(session: Session, clock: Clock, order, tracking="", merchant_id=None):
    """`orders.mark_fulfilled` of `order` by its merchant's staff (`merchant_id`: another's)."""
    from portal_app.services import audit, orders

    return orders.mark_fulfilled(
        session,
        clock,
        merchant_id=merchant_id or order.merchant_id,
        order_id=order.id,
        tracking_reference=tracking,
        actor=audit.Actor.merchant(1),
    )


def refund_order(session: Session, clock: Clock, gateway, order, merchant_id=None):
    """`orders.mark_refunded` of `order` by its merchant's staff (`merchant_id`: another's)."""
    from portal_app.services import audit, orders

    return orders.mark_refunded(
        session,
        clock,
        gateway,
        merchant_id=merchant_id or order.merchant_id,
        order_id=order.id,
        actor=audit.Actor.merchant(1),
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


def reactivate_subscription(
    session: Session, clock: Clock, gateway, customer: Customer, subscription, actor=None
):
    """`subscriptions.reactivate` of the customer's `subscription` (its cancel undone)."""
    from portal_app.services import subscriptions

    return subscriptions.reactivate(
        session, clock, gateway, **_of(customer, subscription), actor=_as(customer, actor)
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


def race(engine, works: list, *, hold_connection_first: bool = False):
    """Run each work(session) in its own thread with its own engine (its own connection), all
    released at once by a barrier; each commits its own transaction. Returns (outcomes, pids):
    one outcome per work (its return value or the exception it raised) and, on PostgreSQL with
    `hold_connection_first`, the server process of every connection (all open at the same time)."""
    import threading

    import sqlalchemy as sa

    from portal_app.db import make_engine

    barrier = threading.Barrier(len(works))
    outcomes: list = [None] * len(works)
    pids: set[int] = set()
    lock = threading.Lock()
    postgres = engine.dialect.name == "postgresql"
    url = engine.url.render_as_string(hide_password=False)

    def run(index, work):
        own = make_engine(url)
        try:
            with Session(own, expire_on_commit=False) as s:
                if postgres and hold_connection_first:
                    # connect before the barrier: every worker holds a live connection at once
                    pid = s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                    with lock:
                        pids.add(pid)
                barrier.wait(60)
                try:
                    outcomes[index] = work(s)
                    s.commit()
                except Exception as exc:  # collected and asserted on by the caller
                    s.rollback()
                    outcomes[index] = exc
        finally:
            own.dispose()

    run_threads(run, works)
    return outcomes, pids


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


def staff_with_role(engine, clock: Clock, merchant: Merchant, role: str) -> str:
    """A new staff member of `merchant` with `role`, signed in (committed): their session id."""
    email = f"{role}-{secrets.token_hex(3)}@example.com"
    with Session(engine) as session:
        make_staff(session, clock, merchant, email=email, role=role)
        sid = staff_signed_in(session, clock, merchant, email=email).session_id
        session.commit()
    return sid


def login_link(
    session: Session,
    clock: Clock,
    merchant_id: int,
    email: str,
    return_to: str = "/portal",
    actor=None,
) -> str:
    """A sign-in link's token through the service (requested as the system unless `actor`)."""
    from portal_app.services import audit, magic_links

    return magic_links.request_login_link(
        session,
        clock,
        merchant_id=merchant_id,
        email=email,
        return_to=return_to,
        actor=actor or audit.SYSTEM,
    )


def customer_signed_in(session: Session, clock: Clock, customer: Customer, return_to="/portal"):
    """A customer signed in through their own link: the service's `SignIn` (`.session_id`)."""
    from portal_app.services import audit, magic_links

    token = login_link(session, clock, customer.merchant_id, customer.email, return_to)
    return magic_links.redeem_login_token(
        session, clock, token=token, merchant_id=customer.merchant_id, actor=audit.SYSTEM
    )


def renewal_invoices(session: Session) -> list:
    """Every renewal (`subscription_cycle`) invoice, by number."""
    from portal_app.models import Invoice

    query = select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
    return list(session.exec(query.order_by(Invoice.number)))


def as_customer(service, session: Session, clock: Clock, customer: Customer, *args, **kwargs):
    """A customer's own request to a service taking `customer_id` and `actor`:
    `service(session, clock, *args, customer_id=customer.id, actor=the customer, **kwargs)`."""
    kwargs["actor"] = _as(customer, kwargs.get("actor"))
    return service(session, clock, *args, customer_id=customer.id, **kwargs)


def saved_settings(engine, merchant_id: int):
    """The merchant's settings as saved (`features.load` in a session of its own)."""
    from portal_app.services import features

    with Session(engine) as session:
        return features.load(session, merchant_id)


def audit_events(session: Session, action: str) -> list:
    """The audit events recorded for `action`."""
    from portal_app.models import AuditEvent

    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))
