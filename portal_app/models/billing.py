"""Subscriptions, scheduled changes, invoices, payments, receipts and payment methods."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import JSONDoc, UTCDateTime, unique_where


class SubscriptionStatus:
    ACTIVE = "active"
    TRIALING = "trialing"
    PAUSED = "paused"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    BILLABLE = (ACTIVE, PAST_DUE)


class Subscription(SQLModel, table=True):
    # The billing clock finds due work by these indexes, so its cost follows the due rows.
    __table_args__ = (
        sa.Index("ix_subscription_due", "status", "current_period_end"),
        sa.Index("ix_subscription_resume", "status", "resume_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    plan_id: int = Field(foreign_key="plan.id")
    price_id: int = Field(foreign_key="price.id")
    status: str = Field(default=SubscriptionStatus.ACTIVE, max_length=16)
    current_period_start: datetime = Field(sa_type=UTCDateTime)
    current_period_end: datetime = Field(sa_type=UTCDateTime)
    cancel_at_period_end: bool = Field(default=False)
    canceled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resume_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    discount_percent: int = Field(default=0)
    discount_cycles_remaining: int = Field(default=0)
    # A checkout's coupon, while it still reduces future invoices (services/coupons.py):
    # `coupon_cycles_remaining` renewals left for a repeating coupon; a forever coupon ignores it.
    coupon_id: int | None = Field(default=None, foreign_key="coupon.id")
    coupon_cycles_remaining: int = Field(default=0)
    # While trialing, the trial runs current_period_start → current_period_end == trial_end.
    trial_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    trial_notice_sent: bool = Field(default=False)
    # Optimistic lock: every change bumps it with a conditional UPDATE (see services/subscriptions).
    version: int = Field(default=1)
    metadata_: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)  # string → string
    created_at: datetime = Field(sa_type=UTCDateTime)


class ScheduledChange(SQLModel, table=True):
    """A plan or interval change that takes effect at the end of the current period."""

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    new_price_id: int = Field(foreign_key="price.id")
    effective_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="pending", max_length=16)  # pending | applied | canceled
    created_at: datetime = Field(sa_type=UTCDateTime)


class InvoiceStatus:
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class Invoice(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "number"),
        sa.Index("ix_invoice_retry", "status", "next_retry_at"),
        sa.Index("ix_invoice_customer", "customer_id", "created_at"),
        # The dashboard's invoice lists (services/merchant_billing.py) walk these in due-date
        # order instead of sorting every invoice of the merchant: one status, or all of them.
        sa.Index("ix_invoice_merchant_status_due", "merchant_id", "status", "due_at"),
        sa.Index("ix_invoice_merchant_due", "merchant_id", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id")
    subscription_id: int | None = Field(default=None, foreign_key="subscription.id", index=True)
    number: int | None = Field(default=None)  # gapless per merchant, set at finalization
    status: str = Field(default=InvoiceStatus.DRAFT, max_length=16)
    billing_reason: str = Field(default="manual", max_length=32)
    currency: str = Field(max_length=3)
    total: int = Field(default=0)  # sum of lines, minor units
    amount_paid: int = Field(default=0)
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    period_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    finalized_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempt_count: int = Field(default=0)
    next_retry_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replaces_invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    # The customer's bank opened a dispute on its payment (Stripe's charge.dispute.created).
    disputed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who it was issued to, copied from the customer at finalization (services/bill_to.py) and
    # frozen with the money columns: a later profile change never rewrites an issued invoice.
    # None only on a draft.
    bill_to: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)

    @property
    def amount_due(self) -> int:
        return self.total - self.amount_paid


class InvoiceLine(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    position: int = Field(default=0)
    kind: str = Field(max_length=24)  # subscription | proration | discount | credit | manual
    description: str = Field(max_length=500)
    amount: int  # minor units, signed
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    period_end: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PaymentMethod(SQLModel, table=True):
    """A saved card: only what a receipt may show, plus the gateway's token. Never a card number."""

    # At most one default card per customer, enforced by the database too.
    __table_args__ = (
        unique_where("uq_paymentmethod_one_default", "customer_id", where="is_default"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    gateway_token: str = Field(max_length=64, unique=True)
    brand: str = Field(max_length=16)
    last4: str = Field(max_length=4)
    exp_month: int
    exp_year: int
    is_default: bool = Field(default=False)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Payment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    payment_method_id: int | None = Field(default=None, foreign_key="paymentmethod.id")
    amount: int
    currency: str = Field(max_length=3)
    status: str = Field(max_length=16)  # succeeded | failed
    gateway_charge_id: str | None = Field(default=None, max_length=64)
    idempotency_key: str = Field(max_length=128, unique=True)
    failure_code: str | None = Field(default=None, max_length=64)
    failure_message: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Receipt(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("merchant_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    payment_id: int = Field(foreign_key="payment.id", unique=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    number: int
    amount: int
    currency: str = Field(max_length=3)
    card_brand: str = Field(default="", max_length=16)
    card_last4: str = Field(default="", max_length=4)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # The bill-to at the time of payment (services/bill_to.py); never changes afterwards.
    bill_to: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)


class CreditNote(SQLModel, table=True):
    """Money given back on a paid invoice: a refund of (part of) one payment through the gateway,
    numbered gaplessly per merchant (CN-000001). Never changes once written; the invoice's own
    money columns stay as issued (services/refunds.py)."""

    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "number"),
        # One credit note per refund request: a resubmitted form finds the first.
        sa.UniqueConstraint("payment_id", "request_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    number: int
    amount: int  # minor units given back, > 0
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=32)  # services.refunds.REASONS
    memo: str = Field(default="", max_length=500)
    request_key: str = Field(max_length=64)
    gateway_refund_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)


class SandboxCard(SQLModel, table=True):
    """The sandbox gateway's vault: a token and the test behaviour of the number it replaced."""

    token: str = Field(primary_key=True, max_length=64)
    brand: str = Field(max_length=16)
    last4: str = Field(max_length=4)
    exp_month: int
    exp_year: int
    behaviour: str = Field(default="succeed", max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)


class SandboxCharge(SQLModel, table=True):
    """The sandbox gateway's ledger; the idempotency key makes a retried charge return the first."""

    id: str = Field(primary_key=True, max_length=64)
    idempotency_key: str = Field(max_length=128, unique=True)
    token: str = Field(max_length=64)
    amount: int
    currency: str = Field(max_length=3)
    status: str = Field(max_length=16)
    failure_code: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # What refunds gave back of a succeeded charge (minor units, never above `amount`); each
    # refund is a row of its own here too, status "refunded", id "re_<charge>_<random>".
    refunded_amount: int = Field(default=0)


class StripeCustomer(SQLModel, table=True):
    """Our customer's Stripe customer, created on first need (services/stripe_gateway.py)."""

    customer_id: int = Field(primary_key=True, foreign_key="customer.id")
    stripe_id: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class StripeEvent(SQLModel, table=True):
    """A Stripe webhook event taken in: its id is the primary key, so a duplicate delivery finds
    its row and changes nothing again (services/stripe_events.py)."""

    id: str = Field(primary_key=True, max_length=64)
    type: str = Field(max_length=64)
    # What processing did: "applied", "ignored" (nothing of ours it touches) or "stale".
    outcome: str = Field(default="applied", max_length=16)
    received_at: datetime = Field(sa_type=UTCDateTime)
