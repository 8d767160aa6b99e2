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
        return cls(
            id=row.id,
            external_id=row.external_id,
            email=None if row.deleted_at else row.email,
            name=row.name,
            currency=row.currency,
            balance=row.credit_balance,
            billing_address=_address(row.billing_address),
            shipping_address=_address(row.shipping_address),
            custom_fields=dict(row.custom_fields or {}),
            metadata=_metadata(row.metadata_),
            created_at=row.created_at,
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
        return cls(
            id=row.id,
            plan_id=row.plan_id,
            interval=row.interval,
            amount=row.amount,
            currency=row.currency,
            active=row.active,
        )


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
        return cls(
            id=row.id,
            product_id=row.product_id,
            name=row.name,
            slug=row.slug,
            description=row.description,
            tier=row.tier,
            features=list(row.features or ()),
            entitlements=dict(row.entitlements or {}),
            trial_days=row.trial_days,
            trial_requires_card=row.trial_requires_card,
            public=row.public,
            active=row.active,
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
        return cls(
            id=row.id,
            name=row.name,
            slug=row.slug,
            description=row.description,
            active=row.active,
            one_time_amount=row.one_time_amount,
            currency=row.currency,
            shippable=row.shippable,
        )


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
        return cls(
            id=row.id,
            coupon_id=row.coupon_id,
            code=row.code,
            active=row.active,
            max_redemptions=row.max_redemptions,
            times_redeemed=row.times_redeemed,
            expires_at=row.expires_at,
        )


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
        return cls(
            id=row.id,
            name=row.name,
            percent_off=row.percent_off,
            amounts_off={str(k): int(v) for k, v in (row.amounts_off or {}).items()},
            duration=row.duration,
            duration_cycles=row.duration_cycles,
            redeem_by=row.redeem_by,
            max_redemptions=row.max_redemptions,
            times_redeemed=row.times_redeemed,
            plan_ids=list(row.plan_ids or ()),
            product_ids=list(row.product_ids or ()),
            active=row.active,
            created_at=row.created_at,
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
        return cls(
            id=row.id,
            customer_id=row.customer_id,
            plan_id=row.plan_id,
            price_id=row.price_id,
            status=row.status,
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            cancel_at_period_end=row.cancel_at_period_end,
            canceled_at=row.canceled_at,
            ended_at=row.ended_at,
            paused_at=row.paused_at,
            resume_at=row.resume_at,
            trial_end=row.trial_end,
            coupon_id=row.coupon_id,
            version=row.version,
            metadata=_metadata(row.metadata_),
            created_at=row.created_at,
        )


class InvoiceLineObject(ApiObject):
    kind: str
    description: str
    amount: int
    period_start: datetime | None
    period_end: datetime | None

    @classmethod
    def of(cls, row: InvoiceLine) -> InvoiceLineObject:
        return cls(
            kind=row.kind,
            description=row.description,
            amount=row.amount,
            period_start=row.period_start,
            period_end=row.period_end,
        )


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
        return cls(
            id=row.id,
            number=invoice_service.display_number(row) if row.number is not None else None,
            customer_id=row.customer_id,
            subscription_id=row.subscription_id,
            status=row.status,
            billing_reason=row.billing_reason,
            currency=row.currency,
            total=row.total,
            amount_paid=row.amount_paid,
            amount_due=row.amount_due,
            period_start=row.period_start,
            period_end=row.period_end,
            created_at=row.created_at,
            finalized_at=row.finalized_at,
            due_at=row.due_at,
            paid_at=row.paid_at,
            voided_at=row.voided_at,
            attempt_count=row.attempt_count,
            next_retry_at=row.next_retry_at,
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
        return cls(
            product_id=row.product_id,
            description=row.description,
            quantity=row.quantity,
            unit_amount=row.unit_amount,
            amount=row.amount,
        )


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
        return cls(
            id=row.id,
            customer_id=row.customer_id,
            checkout_id=row.checkout_id,
            invoice_id=row.invoice_id,
            status=row.status,
            currency=row.currency,
            subtotal=row.subtotal,
            discount=row.discount,
            total=row.total,
            shipping_address=_address(row.shipping_address),
            tracking_reference=row.tracking_reference,
            metadata=_metadata(row.metadata_),
            created_at=row.created_at,
            paid_at=row.paid_at,
            fulfilled_at=row.fulfilled_at,
            refunded_at=row.refunded_at,
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
        return cls(
            id=row.id,
            url=url,
            mode=row.mode,
            status=status or row.status,
            price_id=row.price_id,
            product_id=row.product_id,
            customer_id=row.customer_id,
            email=row.email,
            trial_days=row.trial_days,
            promotion_code_id=row.promotion_code_id,
            success_url=row.success_url,
            metadata=_metadata(row.metadata_),
            created_at=row.created_at,
            expires_at=row.expires_at,
            completed_at=row.completed_at,
            subscription_id=row.subscription_id,
            order_id=row.order_id,
            invoice_id=row.invoice_id,
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
        return cls(
            id=row.id,
            customer_id=row.customer_id,
            invoice_id=row.invoice_id,
            amount=row.amount,
            currency=row.currency,
            status=row.status,
            failure_code=row.failure_code,
            failure_message=row.failure_message,
            created_at=row.created_at,
        )


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
        return cls(
            id=row.id,
            url=row.url,
            description=row.description,
            event_types=list(row.event_types or ()),
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            created_at=row.created_at,
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
