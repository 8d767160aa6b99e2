"""The JSON shape of every object the merchant's code sees: the REST API's responses, and the
webhook payloads after it. One model per object, built from its rows here and nowhere else, so
a customer or an invoice looks the same in every response. Money is integer minor units with
its currency; times are UTC ISO 8601."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from portal_app import routes
from portal_app.config import load_settings
from portal_app.models import (
    CheckoutSession,
    CheckoutStatus,
    Coupon,
    Customer,
    Invoice,
    InvoiceLine,
    Order,
    OrderItem,
    Payment,
    Plan,
    Price,
    Product,
    PromotionCode,
    Subscription,
    WebhookEndpoint,
)
from portal_app.services import invoices as invoice_service


class ApiObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def _from_row(cls, row: Any, **derived: Any):
        """The object with each field copied from the row's attribute of the same name, except
        the `derived` ones (renamed, masked, or made from other rows)."""
        names = (name for name in cls.model_fields if name != "object" and name not in derived)
        return cls(**{name: getattr(row, name) for name in names}, **derived)


class Address(ApiObject):
    line1: str = ""
    line2: str = ""
    city: str = ""
    postal_code: str = ""
    state: str = ""
    country: str = ""


def _address(value: dict[str, Any] | None) -> Address | None:
    if not value:
        return None
    return Address(**{k: str(v or "") for k, v in value.items() if k in Address.model_fields})


def _metadata(value: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


class CustomerObject(ApiObject):
    object: Literal["customer"] = "customer"
    id: int
    external_id: str | None
    email: str | None
    name: str
    currency: str
    balance: int = Field(description="Credit the customer holds, minor units (applied first).")
    billing_address: Address | None
    shipping_address: Address | None
    custom_fields: dict[str, Any]
    metadata: dict[str, str]
    created_at: datetime
    deleted: bool

    @classmethod
    def of(cls, row: Customer) -> CustomerObject:
        return cls._from_row(
            row,
            email=None if row.deleted_at else row.email,
            balance=row.credit_balance,
            billing_address=_address(row.billing_address),
            shipping_address=_address(row.shipping_address),
            custom_fields=dict(row.custom_fields or {}),
            metadata=_metadata(row.metadata_),
            deleted=row.deleted_at is not None,
        )


class PriceObject(ApiObject):
    object: Literal["price"] = "price"
    id: int
    plan_id: int
    interval: Literal["month", "year"]
    amount: int
    currency: str
    active: bool

    @classmethod
    def of(cls, row: Price) -> PriceObject:
        return cls._from_row(row)


class PlanObject(ApiObject):
    object: Literal["plan"] = "plan"
    id: int
    product_id: int
    name: str
    slug: str | None
    description: str
    tier: int
    features: list[str]
    entitlements: dict[str, Any]
    trial_days: int
    trial_requires_card: bool
    public: bool
    active: bool
    prices: list[PriceObject]

    @classmethod
    def of(cls, row: Plan, prices: list[Price]) -> PlanObject:
        return cls._from_row(
            row,
            features=list(row.features or ()),
            entitlements=dict(row.entitlements or {}),
            prices=[PriceObject.of(p) for p in prices],
        )


class ProductObject(ApiObject):
    object: Literal["product"] = "product"
    id: int
    name: str
    slug: str | None
    description: str
    active: bool
    one_time_amount: int | None
    currency: str
    shippable: bool

    @classmethod
    def of(cls, row: Product) -> ProductObject:
        return cls._from_row(row)


class PromotionCodeObject(ApiObject):
    object: Literal["promotion_code"] = "promotion_code"
    id: int
    coupon_id: int
    code: str
    active: bool
    max_redemptions: int | None
    times_redeemed: int
    expires_at: datetime | None

    @classmethod
    def of(cls, row: PromotionCode) -> PromotionCodeObject:
        return cls._from_row(row)


class CouponObject(ApiObject):
    object: Literal["coupon"] = "coupon"
    id: int
    name: str
    percent_off: int | None
    amounts_off: dict[str, int]
    duration: Literal["once", "repeating", "forever"]
    duration_cycles: int | None
    redeem_by: datetime | None
    max_redemptions: int | None
    times_redeemed: int
    plan_ids: list[int]
    product_ids: list[int]
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, row: Coupon) -> CouponObject:
        return cls._from_row(
            row,
            amounts_off={str(k): int(v) for k, v in (row.amounts_off or {}).items()},
            plan_ids=list(row.plan_ids or ()),
            product_ids=list(row.product_ids or ()),
        )


class SubscriptionObject(ApiObject):
    object: Literal["subscription"] = "subscription"
    id: int
    customer_id: int
    plan_id: int
    price_id: int
    status: Literal["active", "trialing", "paused", "past_due", "canceled"]
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    paused_at: datetime | None
    resume_at: datetime | None
    trial_end: datetime | None
    coupon_id: int | None
    version: int = Field(description="Send it back as expected_version to refuse a stale change.")
    metadata: dict[str, str]
    created_at: datetime

    @classmethod
    def of(cls, row: Subscription) -> SubscriptionObject:
        return cls._from_row(
            row,
            metadata=_metadata(row.metadata_),
        )


class InvoiceLineObject(ApiObject):
    kind: str
    description: str
    amount: int
    period_start: datetime | None
    period_end: datetime | None

    @classmethod
    def of(cls, row: InvoiceLine) -> InvoiceLineObject:
        return cls._from_row(row)


class InvoiceObject(ApiObject):
    object: Literal["invoice"] = "invoice"
    id: int
    number: str | None = Field(description="Gapless per merchant, given at finalization.")
    customer_id: int
    subscription_id: int | None
    status: Literal["draft", "open", "paid", "void", "uncollectible"]
    billing_reason: str
    currency: str
    total: int
    amount_paid: int
    amount_due: int
    period_start: datetime | None
    period_end: datetime | None
    created_at: datetime
    finalized_at: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    attempt_count: int
    next_retry_at: datetime | None
    lines: list[InvoiceLineObject]

    @classmethod
    def of(cls, row: Invoice, lines: list[InvoiceLine]) -> InvoiceObject:
        return cls._from_row(
            row,
            number=invoice_service.display_number(row) if row.number is not None else None,
            lines=[InvoiceLineObject.of(line) for line in lines],
        )

    @classmethod
    def many(cls, session: Session, rows: list[Invoice]) -> list[InvoiceObject]:
        """Each invoice with its lines, in one query for all of them."""
        ids = [row.id for row in rows]
        lines: dict[int, list[InvoiceLine]] = {i: [] for i in ids}
        if ids:
            for line in session.exec(
                select(InvoiceLine)
                .where(InvoiceLine.invoice_id.in_(ids))
                .order_by(InvoiceLine.invoice_id, InvoiceLine.position, InvoiceLine.id)
            ):
                lines[line.invoice_id].append(line)
        return [cls.of(row, lines[row.id]) for row in rows]


class OrderItemObject(ApiObject):
    product_id: int
    description: str
    quantity: int
    unit_amount: int
    amount: int

    @classmethod
    def of(cls, row: OrderItem) -> OrderItemObject:
        return cls._from_row(row)


class OrderObject(ApiObject):
    object: Literal["order"] = "order"
    id: int
    customer_id: int
    checkout_id: str | None
    invoice_id: int | None
    status: Literal["paid", "fulfilled", "refunded"]
    currency: str
    subtotal: int
    discount: int
    total: int
    shipping_address: Address | None
    tracking_reference: str
    metadata: dict[str, str]
    created_at: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    refunded_at: datetime | None
    items: list[OrderItemObject]

    @classmethod
    def of(cls, row: Order, items: list[OrderItem]) -> OrderObject:
        return cls._from_row(
            row,
            shipping_address=_address(row.shipping_address),
            metadata=_metadata(row.metadata_),
            items=[OrderItemObject.of(item) for item in items],
        )


class CheckoutObject(ApiObject):
    object: Literal["checkout_session"] = "checkout_session"
    id: str
    url: str = Field(description="Send the buyer here.")
    mode: Literal["subscription", "payment"]
    status: Literal["open", "completed", "expired"]
    price_id: int | None
    product_id: int | None
    customer_id: int | None
    email: str
    trial_days: int | None
    promotion_code_id: int | None
    success_url: str
    metadata: dict[str, str]
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    subscription_id: int | None
    order_id: int | None
    invoice_id: int | None

    @classmethod
    def of(cls, row: CheckoutSession, url: str, status: str | None = None) -> CheckoutObject:
        return cls._from_row(
            row,
            url=url,
            status=status or row.status,
            metadata=_metadata(row.metadata_),
        )


def checkout_object(row: CheckoutSession, now: datetime) -> CheckoutObject:
    """Past its expiry an open session reads as expired, before the billing clock marks it."""
    due = row.status == CheckoutStatus.OPEN and now >= row.expires_at
    url = load_settings().public_url.rstrip("/") + routes.checkout(row.id)
    return CheckoutObject.of(row, url, CheckoutStatus.EXPIRED if due else row.status)


class PaymentObject(ApiObject):
    object: Literal["payment"] = "payment"
    id: int
    customer_id: int
    invoice_id: int
    amount: int
    currency: str
    status: str
    failure_code: str | None
    failure_message: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Payment) -> PaymentObject:
        return cls._from_row(row)


class WebhookEndpointObject(ApiObject):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: int
    url: str
    description: str
    event_types: list[str] = Field(description="The types sent here; empty: every type.")
    enabled: bool
    disabled_reason: str
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpoint) -> WebhookEndpointObject:
        return cls._from_row(
            row,
            event_types=list(row.event_types or ()),
        )


class WebhookEndpointWithSecret(WebhookEndpointObject):
    secret: str = Field(description="Shown once: when the endpoint is made and at each rotation.")


class GrantedBenefit(ApiObject):
    asset_id: int
    kind: str
    name: str


class ActiveSubscription(ApiObject):
    subscription: SubscriptionObject
    plan: PlanObject


class CustomerState(ApiObject):
    """What the customer has right now: the one call a merchant's app gates features on."""

    object: Literal["customer_state"] = "customer_state"
    customer: CustomerObject
    active_subscriptions: list[ActiveSubscription]
    entitlements: dict[str, Any] = Field(
        description="The entitlements of every live plan merged; on a clash the higher tier wins."
    )
    granted_benefits: list[GrantedBenefit]
    open_balance: int = Field(description="Amount due on open invoices, minor units.")
    currency: str
