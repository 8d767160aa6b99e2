"""The front door: checkout sessions, discount codes, trials used, orders of one-time products."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import JSONDoc, UTCDateTime


class CheckoutStatus:
    OPEN = "open"
    COMPLETED = "completed"
    EXPIRED = "expired"


class CheckoutSession(SQLModel, table=True):
    """One visitor's way to a subscription (`mode` subscription, `price_id`) or a purchase
    (`mode` payment, `product_id`). The id is the unguessable part of `/checkout/<id>`. Confirm
    moves status open → completed with a conditional UPDATE in the transaction that creates what
    was bought, so a double click or a retry completes it once."""

    # (status, expires_at): the billing clock's expiry finds the open sessions past their time
    # off an index range, not by reading every session a merchant ever opened.
    __table_args__ = (
        sa.Index("ix_checkout_merchant_created", "merchant_id", "created_at"),
        sa.Index("ix_checkout_status_expires", "status", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    mode: str = Field(max_length=16)  # subscription | payment
    price_id: int | None = Field(default=None, foreign_key="price.id")
    product_id: int | None = Field(default=None, foreign_key="product.id")
    quantity: int = Field(default=1)
    status: str = Field(default=CheckoutStatus.OPEN, max_length=16)
    email: str = Field(default="", max_length=320)
    name: str = Field(default="", max_length=200)
    billing_address: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    shipping_address: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    # The existing customer it is for (a signed-in visitor, a staff link for a customer), or the
    # customer created at confirm.
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    promotion_code_id: int | None = Field(default=None, foreign_key="promotioncode.id")
    # The merchant's own id for the customer this checkout creates (set through the API).
    external_customer_id: str | None = Field(default=None, max_length=255)
    # None: the plan's own trial; a number (0 = none): set by staff or the API for this session.
    trial_days: int | None = Field(default=None)
    success_url: str = Field(default="", max_length=1000)
    source: str = Field(default="public", max_length=16)  # public | staff | api
    created_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    # Merchant-supplied string key/values, passed on to what the checkout creates.
    metadata_: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    email_given_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    subscription_id: int | None = Field(default=None, foreign_key="subscription.id")
    order_id: int | None = Field(default=None, foreign_key="order.id")
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")


class CouponDuration:
    ONCE = "once"
    REPEATING = "repeating"
    FOREVER = "forever"
    ALL = (ONCE, REPEATING, FOREVER)


class Coupon(SQLModel, table=True):
    """A discount: `percent_off` (1..100) or `amounts_off` ({"USD": 500}: a fixed amount per
    currency). `duration` once (the first invoice), repeating (`duration_cycles` invoices, the
    first included) or forever. `plan_ids` / `product_ids` empty: it applies to everything."""

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    name: str = Field(max_length=200)
    percent_off: int | None = Field(default=None)
    amounts_off: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    duration: str = Field(default=CouponDuration.ONCE, max_length=16)
    duration_cycles: int | None = Field(default=None)
    redeem_by: datetime | None = Field(default=None, sa_type=UTCDateTime)
    max_redemptions: int | None = Field(default=None)
    # Bumped by a conditional UPDATE (… WHERE times_redeemed < max_redemptions) at confirm.
    times_redeemed: int = Field(default=0)
    plan_ids: list[int] = Field(default_factory=list, sa_type=JSONDoc)
    product_ids: list[int] = Field(default_factory=list, sa_type=JSONDoc)
    active: bool = Field(default=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class PromotionCode(SQLModel, table=True):
    """The text a customer types, mapped to a coupon. Stored upper-case; matched case-blind."""

    __table_args__ = (sa.UniqueConstraint("merchant_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    coupon_id: int = Field(foreign_key="coupon.id", index=True)
    code: str = Field(max_length=64)
    active: bool = Field(default=True)
    max_redemptions: int | None = Field(default=None)
    times_redeemed: int = Field(default=0)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class CouponRedemption(SQLModel, table=True):
    """One use of a coupon, by one checkout (unique: a checkout redeems once)."""

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    coupon_id: int = Field(foreign_key="coupon.id", index=True)
    promotion_code_id: int | None = Field(default=None, foreign_key="promotioncode.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    checkout_id: str | None = Field(default=None, foreign_key="checkoutsession.id", unique=True)
    subscription_id: int | None = Field(default=None, foreign_key="subscription.id")
    order_id: int | None = Field(default=None, foreign_key="order.id")
    amount_off: int = Field(default=0)  # on the first invoice, minor units
    currency: str = Field(max_length=3)
    created_at: datetime = Field(sa_type=UTCDateTime)


class TrialUse(SQLModel, table=True):
    """One trial per customer and plan family (product), enforced by the primary key."""

    customer_id: int = Field(primary_key=True, foreign_key="customer.id")
    product_id: int = Field(primary_key=True, foreign_key="product.id")
    subscription_id: int = Field(foreign_key="subscription.id")
    started_at: datetime = Field(sa_type=UTCDateTime)


class OrderStatus:
    PAID = "paid"
    FULFILLED = "fulfilled"
    REFUNDED = "refunded"


class Order(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_order_merchant_created", "merchant_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    checkout_id: str | None = Field(default=None, max_length=64, unique=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    status: str = Field(default=OrderStatus.PAID, max_length=16)
    currency: str = Field(max_length=3)
    subtotal: int = Field(default=0)
    discount: int = Field(default=0)  # positive minor units taken off the subtotal
    total: int = Field(default=0)
    shipping_address: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    tracking_reference: str = Field(default="", max_length=200)
    metadata_: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    created_at: datetime = Field(sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fulfilled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refunded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1)


class OrderItem(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="order.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    description: str = Field(max_length=500)
    quantity: int = Field(default=1)
    unit_amount: int
    amount: int
