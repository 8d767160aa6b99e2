"""Customers of a merchant, their preferences and the cancellation-flow record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import JSONDoc, UTCDateTime


class Customer(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "email"),
        # The merchant's own id for this customer (REST API upsert); NULLs never collide.
        sa.UniqueConstraint("merchant_id", "external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    currency: str = Field(default="USD", max_length=3)
    # Credit from downgrades (negative prorations), applied to the next invoices; minor units.
    credit_balance: int = Field(default=0)
    billing_address: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    shipping_address: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    custom_fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    external_id: str | None = Field(default=None, max_length=255)
    metadata_: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)  # string → string
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Deleted through the API: personal data anonymised, invoices kept.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotificationPreference(SQLModel, table=True):
    customer_id: int = Field(primary_key=True, foreign_key="customer.id")
    receipts: bool = Field(default=True)
    invoice_reminders: bool = Field(default=True)
    renewal_notices: bool = Field(default=True)
    marketing: bool = Field(default=False)


class CancellationAttempt(SQLModel, table=True):
    """One pass through the cancellation flow; `outcome` lets the merchant measure the save rate."""

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    reason: str = Field(default="", max_length=64)
    comment: str = Field(default="", max_length=2000)
    offer_id: int | None = Field(default=None, foreign_key="retentionoffer.id")
    # The offer kinds first shown, best first ("pause,discount"); "" until offers were shown.
    offers_shown: str = Field(default="", max_length=64)
    # started | saved_discount | saved_pause | saved_downgrade | canceled | abandoned
    outcome: str = Field(default="started", max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RetentionRedemption(SQLModel, table=True):
    """At most one retention discount per customer, enforced by the primary key."""

    customer_id: int = Field(primary_key=True, foreign_key="customer.id")
    offer_id: int = Field(foreign_key="retentionoffer.id")
    subscription_id: int = Field(foreign_key="subscription.id")
    redeemed_at: datetime = Field(sa_type=UTCDateTime)
