"""What a confirmed checkout creates, inside `checkout.confirm`'s unit of work: the customer (or
the signed-in one), the subscription (trialing or charged at once) or the paid order of a
one-time product, and the welcome mail with its portal sign-in link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_app import routes
from portal_app.clock import Clock
from portal_app.models import (
    CheckoutSession,
    Coupon,
    Customer,
    Invoice,
    Merchant,
    Product,
    Subscription,
    SubscriptionStatus,
)
from portal_app.services import (
    audit,
    auth,
    coupons,
    invoices,
    magic_links,
    mailer,
    orders,
    payment_methods,
    subscriptions,
    trials,
)
from portal_app.services.catalog import PriceInfo
from portal_app.services.checkout_quote import Quote, sold_once, subscription_parts
from portal_app.services.errors import (
    CheckoutError,
    PaymentError,
)
from portal_app.services.gateway import PaymentGateway


def customer_for(
    session: Session,
    clock: Clock,
    row: CheckoutSession,
    signed_in: Customer | None,
    email: str,
    name: str,
    billing: dict,
    shipping: dict,
    currency: str,
) -> tuple[Customer, bool]:
    """The signed-in customer, or a new one. An email that already has an account never gets a
    second one: that visitor signs in first."""
    if signed_in is not None:
        return signed_in, False
    existing = session.exec(
        select(Customer).where(Customer.merchant_id == row.merchant_id, Customer.email == email)
    ).first()
    if existing is not None:
        raise CheckoutError(
            "This email already has an account. Sign in to continue with it.",
            code="email_exists",
        )
    customer = Customer(
        merchant_id=row.merchant_id,
        email=email,
        name=name,
        currency=currency,
        billing_address=billing,
        shipping_address=shipping,
        external_id=row.external_customer_id,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:
        # A concurrent checkout just created this email's account.
        raise CheckoutError(
            "This email already has an account. Sign in to continue with it.",
            code="email_exists",
        ) from None
    audit.record_for_customer(
        session,
        clock,
        customer,
        actor=audit.Actor("system", "checkout"),
        action="customer.create",
        after={"source": "checkout", "checkout_id": row.id},
    )
    return customer, True


def subscribe(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    row: CheckoutSession,
    customer: Customer,
    quote: Quote,
    actor: audit.Actor,
    obligation: str,
) -> tuple[Subscription, int | None]:
    info = subscription_parts(session, row)
    if not (info.price.active and info.plan.active):
        raise CheckoutError("That plan is no longer offered.", code="unavailable")
    if quote.trial_days:
        subscription = _start_trial(session, clock, customer, info, quote, actor)
        _carry_metadata(session, row, subscription)
        return subscription, None
    discount = [line for line in quote.lines if line.kind == "discount"]
    subscription = subscriptions.create(
        session,
        clock,
        gateway,
        customer_id=customer.id,
        price_id=info.price.id,
        actor=actor,
        discount_lines=discount,
        obligation=obligation,
    )
    if quote.coupon is not None:
        coupons.attach(subscription, quote.coupon)
        session.add(subscription)
    _carry_metadata(session, row, subscription)
    invoice_id = session.exec(
        select(Invoice.id)
        .where(Invoice.subscription_id == subscription.id)
        .order_by(Invoice.id.desc())
    ).first()
    return subscription, invoice_id


def _carry_metadata(session: Session, row: CheckoutSession, subscription: Subscription) -> None:
    """The checkout's metadata (set through the API) goes on to what it created."""
    if row.metadata_:
        subscription.metadata_ = dict(row.metadata_)
        session.add(subscription)


def _start_trial(
    session: Session,
    clock: Clock,
    customer: Customer,
    info: PriceInfo,
    quote: Quote,
    actor: audit.Actor,
) -> Subscription:
    """A trialing subscription: nothing charged now; a coupon is kept for the first paid invoice
    (the trial's conversion), so it reduces as many paid invoices as it would have otherwise."""
    now = clock.now()
    subscription = Subscription(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        plan_id=info.plan.id,
        price_id=info.price.id,
        status=SubscriptionStatus.TRIALING,
        current_period_start=now,
        current_period_end=now + timedelta(days=quote.trial_days),
        created_at=now,
    )
    if quote.coupon is not None:
        subscription.coupon_id = quote.coupon.id
        subscription.coupon_cycles_remaining = _paid_invoices_reduced(quote.coupon)
    with subscriptions.changing(
        session, clock, subscription, actor, "subscription.create", claim=False, snapshot=None
    ) as change:
        session.add(subscription)
        session.flush()
        trials.start(
            session, clock, subscription=subscription, plan=info.plan, days=quote.trial_days
        )
        change.after = {
            "status": subscription.status,
            "price_id": subscription.price_id,
            "trial_end": subscription.trial_end,
        }
    return subscription


def _paid_invoices_reduced(coupon: Coupon) -> int:
    if coupon.duration == "repeating":
        return max(int(coupon.duration_cycles or 1), 1)
    return 1


def buy(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    row: CheckoutSession,
    customer: Customer,
    product: Product,
    quote: Quote,
    shipping: dict,
    actor: audit.Actor,
    obligation: str,
) -> tuple[Any, int]:
    if not sold_once(product):
        raise CheckoutError("That product is no longer on sale.", code="unavailable")
    invoice = invoices.create_draft(
        session,
        clock,
        customer=customer,
        currency=quote.currency,
        lines=quote.lines,
        billing_reason="one_time",
        apply_credit=False,
    )
    invoices.finalize(session, clock, invoice, actor)
    if invoice.status != "paid":
        card = payment_methods.default_card(session, customer.id)
        outcome = invoices.collect(
            session, clock, gateway, invoice, card, actor, obligation=obligation
        )
        if not outcome.succeeded:
            raise PaymentError(f"{outcome.message} Nothing was charged.", code="declined")
    order = orders.create_paid(
        session,
        clock,
        customer=customer,
        checkout_id=row.id,
        invoice=invoice,
        items=[
            orders.OrderItemSpec(
                product_id=product.id,
                description=product.name,
                quantity=row.quantity,
                unit_amount=product.one_time_amount,
            )
        ],
        discount=quote.discount,
        shipping_address=shipping,
        metadata=dict(row.metadata_ or {}),
        actor=actor,
    )
    return order, invoice.id


def welcome(
    session: Session, clock: Clock, row: CheckoutSession, customer: Customer, created: bool
) -> None:
    """One welcome mail per completed checkout, with a sign-in link to the portal."""
    merchant = session.get(Merchant, row.merchant_id)
    token = magic_links.issue_token(
        session,
        clock,
        customer=customer,
        purpose="login",
        return_to=routes.PORTAL_HOME,
        ttl=auth.PORTAL_LINK_TTL,
        void_older=False,
    )
    what = "your subscription is set up" if row.mode == "subscription" else "we received your order"
    greeting = "Welcome" if created else "Thank you"
    mailer.queue(
        session,
        clock,
        customer=customer,
        kind="welcome",
        subject=f"{greeting} to {merchant.name}",
        body=(
            f"Hello {customer.name or customer.email},\n\n"
            f"Thank you — {what}. Your billing portal shows your subscriptions, invoices and "
            f"receipts. This link signs you in (it works once, for "
            f"{int(auth.PORTAL_LINK_TTL.total_seconds() // 60)} minutes):\n\n"
            f"{magic_links.verify_link(token)}\n\n"
            "Later, sign in with your email address on the portal's sign-in page."
        ),
    )
