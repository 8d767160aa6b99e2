"""Preview as customer: staff open the portal as a stand-in customer of their own merchant, to
see it the way customers do, without ever getting a session for a real customer.

The stand-in is one customer per merchant at a reserved address (`PREVIEW_EMAIL`; `.invalid` can
never receive mail, RFC 6761), created on first use. Its creation is recorded in the audit chain,
and a preview link is issued only for the customer at that address whose creation event names it
(same id, same creation time), so a real customer who somehow holds the address is refused. The
link itself is an ordinary one-time portal link (`portal_links.issue_support_link`: single use,
hashed, audited). Customer lists, counts, money views and analytics leave the stand-in out with
`not_preview`.

So the preview shows the portal as a demo customer sees it, the stand-in gets a sandbox test card
and a subscription on the merchant's cheapest active monthly price, through the same services a
customer uses (so there is a real invoice and receipt), in the transaction that creates it; a
stand-in left without a live subscription (canceled in an earlier preview) gets one again at the
next preview. A merchant without such a price keeps an empty portal."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.db import dialect_insert
from portal_app.models import AuditEvent, Customer, Merchant, Price, Subscription
from portal_app.models.billing import SubscriptionStatus
from portal_app.services import (
    audit,
    catalog,
    features,
    payment_methods,
    portal_links,
    subscriptions,
)
from portal_app.services.errors import PortalError
from portal_app.services.gateway import PaymentGateway

PREVIEW_EMAIL = "preview@portal-preview.invalid"
PREVIEW_NAME = "Preview customer"
CREATED_ACTION = "portal_preview.customer_created"
# The sandbox gateway's always-succeeding Visa (services/sandbox_gateway.py), as the demo seed uses.
TEST_CARD_NUMBER = "4242424242424242"
TEST_CARD_CVC = "123"
NO_PRICE_NOTE = (
    "You have no active monthly price, so the preview customer has no subscription, invoices "
    "or cards."
)
NO_CARDS_NOTE = (
    "Adding cards is turned off in your portal settings, so the preview customer has no card "
    "and no subscription."
)


class PreviewError(PortalError):
    code = "preview_error"


def preview_customer_id(merchant_id: int):
    """The stand-in's id as an inline scalar subquery (NULL when it does not exist yet)."""
    return (
        select(Customer.id)
        .where(Customer.merchant_id == merchant_id, Customer.email == PREVIEW_EMAIL)
        .scalar_subquery()
    )


def not_preview(customer_id_column, merchant_id: int):
    """A WHERE condition that leaves the stand-in's rows out of a list, a count or a sum."""
    return customer_id_column != sa.func.coalesce(preview_customer_id(merchant_id), 0)


def is_preview_customer(session: Session, customer: Customer) -> bool:
    """The customer is the stand-in: the reserved address and a creation event naming it."""
    if customer.email != PREVIEW_EMAIL:
        return False
    created = session.exec(
        select(AuditEvent.after).where(
            AuditEvent.merchant_id == customer.merchant_id,
            AuditEvent.customer_id == customer.id,
            AuditEvent.action == CREATED_ACTION,
            AuditEvent.target_id == str(customer.id),
        )
    ).first()
    return bool(created) and created.get("created_at") == customer.created_at.isoformat()


def ensure_preview_customer(
    session: Session, clock: Clock, *, merchant_id: int, actor: audit.Actor
) -> Customer:
    """The merchant's stand-in, created (and audited) on first use. Two staff asking at once
    create one: the insert skips a row another transaction already made."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise PreviewError("Merchant not found.", code="not_found")
    now = clock.now()
    inserted = session.execute(
        _insert_ignore_returning_id(
            session,
            merchant_id=merchant_id,
            email=PREVIEW_EMAIL,
            name=PREVIEW_NAME,
            currency=merchant.default_currency,
            credit_balance=0,
            billing_address={},
            shipping_address={},
            custom_fields={},
            created_at=now,
        )
    ).first()
    customer = session.exec(
        select(Customer).where(Customer.merchant_id == merchant_id, Customer.email == PREVIEW_EMAIL)
    ).one()
    if inserted is not None:
        with audit.changing(
            session,
            clock,
            customer,
            actor=actor,
            action=CREATED_ACTION,
            target_type="customer",
            customer_id=customer.id,
        ) as change:
            change.after = {"email": PREVIEW_EMAIL, "created_at": customer.created_at.isoformat()}
        return customer
    if not is_preview_customer(session, customer):
        raise PreviewError(
            f"A customer already uses the preview address {PREVIEW_EMAIL}, so the preview is "
            "not available. Nothing was changed.",
            code="preview_conflict",
        )
    return customer


def cheapest_monthly_price(session: Session, merchant_id: int, currency: str) -> Price | None:
    """The merchant's cheapest active monthly price in `currency` on an active plan (the lowest
    id among equals), or None."""
    monthly = [
        info.price
        for info in catalog.active_prices(session, merchant_id)
        if info.price.interval == "month" and info.price.currency == currency
    ]
    return min(monthly, key=lambda price: (price.amount, price.id), default=None)


def ensure_demo_subscription(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer: Customer,
    actor: audit.Actor,
) -> str:
    """Give the stand-in a test card (when it has none) and a subscription on the cheapest
    monthly price (when it has no live one), through the customer-facing services, which audit
    each step. Returns "" when the stand-in has a live subscription, else why it has none.

    The stand-in's row is locked first (PostgreSQL; SQLite serialises writers at BEGIN), so two
    staff previewing at once run one after the other and the second finds the first's
    subscription."""
    session.exec(select(Customer.id).where(Customer.id == customer.id).with_for_update()).one()
    live = session.exec(
        select(Subscription.id).where(
            Subscription.customer_id == customer.id,
            Subscription.status != SubscriptionStatus.CANCELED,
        )
    ).first()
    if live is not None:
        return ""
    price = cheapest_monthly_price(session, customer.merchant_id, customer.currency)
    if price is None:
        return NO_PRICE_NOTE
    if payment_methods.default_card(session, customer.id) is None:
        if not features.load(session, customer.merchant_id).enabled("payment_methods.add"):
            return NO_CARDS_NOTE
        payment_methods.add_card(
            session,
            clock,
            gateway,
            customer_id=customer.id,
            number=TEST_CARD_NUMBER,
            exp_month=12,
            exp_year=clock.now().year + 2,
            cvc=TEST_CARD_CVC,
            actor=actor,
        )
    subscriptions.create(
        session, clock, gateway, customer_id=customer.id, price_id=price.id, actor=actor
    )
    return ""


@dataclass(frozen=True)
class PreviewLink:
    url: str
    note: str  # "" when the stand-in has a subscription to show; else why it has none


def issue_preview_link(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    merchant_id: int,
    actor: audit.Actor,
) -> PreviewLink:
    """A one-time portal link for the merchant's stand-in, never for anyone else, with its demo
    card and subscription in place. Takes no customer id on purpose: the customer is found here,
    from the merchant alone."""
    customer = ensure_preview_customer(session, clock, merchant_id=merchant_id, actor=actor)
    note = ensure_demo_subscription(session, clock, gateway, customer=customer, actor=actor)
    url = portal_links.issue_support_link(
        session, clock, merchant_id=merchant_id, customer_id=customer.id, actor=actor
    )
    return PreviewLink(url, note)


def _insert_ignore_returning_id(session: Session, **values):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: a row only when this call created it."""
    insert = dialect_insert(session.get_bind().dialect.name)
    return (
        insert(Customer.__table__)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(Customer.__table__.c.id)
    )
