"""Dunning: charging an invoice as the billing clock, and what follows a decline. The subscription
goes past due and the invoice gets its retries on the merchant's schedule (days after it was
finalized); after the last one the merchant chose to leave it open or to mark it uncollectible and
end the subscription. Every step is dated when it was due, so a late run writes what an on-time
one would have."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock, FixedClock
from portal_app.models import Customer, Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from portal_app.services import (
    audit,
    features,
    invoices,
    mailer,
    payment_methods,
    subscriptions,
    webhook_events,
)
from portal_app.services.gateway import PaymentGateway
from portal_app.services.subscriptions import end_now


def collect(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    invoice: Invoice,
    *,
    obligation: str | None = None,
):
    """Charge the invoice to its customer's default card, as the billing clock."""
    card = payment_methods.default_card(session, invoice.customer_id)
    return invoices.collect(
        session, clock, gateway, invoice, card, audit.SYSTEM, obligation=obligation
    )


def schedule_retry(
    session: Session,
    clock: Clock,
    subscription: Subscription,
    invoice: Invoice,
    customer: Customer,
    *,
    mail: bool = True,
) -> None:
    """After a renewal's decline: past due, the first retry scheduled, the customer told."""
    subscription.status = SubscriptionStatus.PAST_DUE
    session.add(subscription)
    retry_days = features.load(session, invoice.merchant_id)["billing.retry_days"]
    invoice.next_retry_at = invoice.finalized_at + timedelta(days=retry_days[0])
    session.add(invoice)
    if mail:
        subject, body = invoices.failure_mail(invoice, None)
        mailer.queue(
            session, clock, customer=customer, kind="invoice_reminder", subject=subject, body=body
        )


def retry(session: Session, gateway: PaymentGateway, invoice_id: int) -> str:
    """One due retry of an open invoice, dated when it was due: "recovered" (paid; the
    subscription is active again once nothing is left open), "retrying" (the next one is
    scheduled) or "gave_up" (no retry left: the invoice stays open, or, as the merchant chose, is
    uncollectible and its subscription ends)."""
    invoice = session.get(Invoice, invoice_id)
    event_clock = FixedClock(invoice.next_retry_at)
    outcome = collect(session, event_clock, gateway, invoice)
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    if outcome.succeeded:
        if subscription is not None:
            clear_past_due(session, subscription, event_clock.now())
        return "recovered"
    settings = features.load(session, invoice.merchant_id)
    retry_days = settings["billing.retry_days"]
    if invoice.attempt_count <= len(retry_days):
        invoice.next_retry_at = invoice.finalized_at + timedelta(
            days=retry_days[invoice.attempt_count - 1]
        )
        session.add(invoice)
        return "retrying"
    invoice.next_retry_at = None
    if settings["billing.after_final_failure"] != "cancel":
        session.add(invoice)
        return "gave_up"
    with audit.changing(
        session, event_clock, invoice, actor=audit.SYSTEM, action="invoice.uncollectible"
    ) as change:
        invoice.status = InvoiceStatus.UNCOLLECTIBLE
        if subscription is not None and subscription.status != SubscriptionStatus.CANCELED:
            # The event is the invoice's; the subscription ends with it, its version moved on.
            subscriptions.claim(session, subscription, None)
            end_now(session, subscription, event_clock.now())
            session.add(subscription)
        change.after = {"subscription_ended": subscription is not None}
    return "gave_up"


def clear_past_due(session: Session, subscription: Subscription, at: datetime) -> None:
    """Active again once nothing is left open (the merchant's app hears it)."""
    if subscription.status != SubscriptionStatus.PAST_DUE:
        return
    still_open = session.exec(
        select(sa.func.count(Invoice.id)).where(
            Invoice.subscription_id == subscription.id, Invoice.status == InvoiceStatus.OPEN
        )
    ).one()
    if still_open == 0:
        subscription.status = SubscriptionStatus.ACTIVE
        session.add(subscription)
        session.flush()
        for type_, kind, object_id in (
            ("subscription.activated", "subscription", subscription.id),
            ("customer.state_changed", "customer", subscription.customer_id),
        ):
            webhook_events.emit(
                session,
                at,
                merchant_id=subscription.merchant_id,
                type_=type_,
                kind=kind,
                object_ids=[object_id],
                customer_of={object_id: subscription.customer_id},
            )
