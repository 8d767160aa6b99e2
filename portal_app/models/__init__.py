"""Every table, imported in one place so alembic and `SQLModel.metadata` see them all."""

from portal_app.models.audit import AuditChainHead, AuditCheckpoint, AuditEvent, RefusalTally
from portal_app.models.auth import ApiKey, AuthSession, LoginToken, StaffInvite, StaffUser
from portal_app.models.billing import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    Receipt,
    SandboxCard,
    SandboxCharge,
    ScheduledChange,
    Subscription,
    SubscriptionStatus,
)
from portal_app.models.catalog import Plan, Price, Product, RetentionOffer
from portal_app.models.commerce import (
    CheckoutSession,
    CheckoutStatus,
    Coupon,
    CouponDuration,
    CouponRedemption,
    Order,
    OrderItem,
    OrderStatus,
    PromotionCode,
    TrialUse,
)
from portal_app.models.customer import (
    CancellationAttempt,
    Customer,
    NotificationPreference,
    RetentionRedemption,
)
from portal_app.models.digital import (
    AssetGrant,
    DigitalAsset,
    DownloadCount,
    DownloadEvent,
    LicenseKey,
)
from portal_app.models.merchant import InvoiceCounter, Merchant, PortalSettings
from portal_app.models.messaging import OutboxEmail
from portal_app.models.staff_link import StaffSignInLink

__all__ = [
    "ApiKey",
    "AssetGrant",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "AuthSession",
    "CancellationAttempt",
    "CheckoutSession",
    "CheckoutStatus",
    "Coupon",
    "CouponDuration",
    "CouponRedemption",
    "Customer",
    "DigitalAsset",
    "DownloadCount",
    "DownloadEvent",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "InvoiceStatus",
    "LicenseKey",
    "LoginToken",
    "Merchant",
    "NotificationPreference",
    "Order",
    "OrderItem",
    "OrderStatus",
    "OutboxEmail",
    "Payment",
    "PaymentMethod",
    "Plan",
    "PortalSettings",
    "Price",
    "Product",
    "PromotionCode",
    "Receipt",
    "RefusalTally",
    "RetentionOffer",
    "RetentionRedemption",
    "SandboxCard",
    "SandboxCharge",
    "ScheduledChange",
    "StaffInvite",
    "StaffSignInLink",
    "StaffUser",
    "Subscription",
    "SubscriptionStatus",
    "TrialUse",
]
