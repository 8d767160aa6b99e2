"""What a merchant sells: products, plans ordered by tier, and monthly/annual prices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import JSONDoc, UTCDateTime, unique_where


class Product(SQLModel, table=True):
    """A product: sold by subscription through its plans, and/or once at `one_time_amount`
    (None: not sold once). An order keeps the amount it was bought at, so editing it is safe."""

    __table_args__ = (sa.UniqueConstraint("merchant_id", "slug"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    active: bool = Field(default=True)
    # The stable part of `/buy/<slug>` for a one-time purchase.
    slug: str | None = Field(default=None, max_length=80)
    one_time_amount: int | None = Field(default=None)  # minor units
    currency: str = Field(default="USD", max_length=3)
    shippable: bool = Field(default=False)


class Plan(SQLModel, table=True):
    """A plan of a product. `tier` orders plans: a higher tier is an upgrade."""

    __table_args__ = (
        sa.UniqueConstraint("product_id", "tier"),
        sa.UniqueConstraint("merchant_id", "slug"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    tier: int = Field(default=0)
    features: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    active: bool = Field(default=True)
    # The stable, shareable part of `/buy/<slug>?interval=month|year`.
    slug: str | None = Field(default=None, max_length=80)
    # Sold through public checkout (the landing page and `/buy/…`); staff links work either way.
    public: bool = Field(default=True)
    trial_days: int = Field(default=0)
    trial_requires_card: bool = Field(default=True)
    # Merchant-defined keys the merchant's app gates features on (`seats: 5`, `api: true`),
    # returned by the API's customer state for every live subscription on this plan.
    entitlements: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)


class Price(SQLModel, table=True):
    """An amount for a plan and billing interval. Never edited once created: a new amount is a
    new row and the old one is archived (`active` false), so subscriptions on it keep paying what
    they signed up for. Hence one *active* price per plan, interval and currency."""

    __table_args__ = (
        unique_where(
            "uq_price_active_plan_interval_currency",
            "plan_id",
            "interval",
            "currency",
            where="active",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    interval: str = Field(max_length=8)  # "month" | "year"
    amount: int  # minor units
    currency: str = Field(max_length=3)
    active: bool = Field(default=True)


class RetentionOffer(SQLModel, table=True):
    """A discount offered in the cancellation flow, routed by cancellation reason."""

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    name: str = Field(max_length=200)
    percent_off: int  # 1..100
    duration_cycles: int  # how many renewals the discount applies to
    reasons: list[str] = Field(default_factory=list, sa_type=JSONDoc)  # empty = any reason
    active: bool = Field(default=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
