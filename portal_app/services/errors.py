"""One error family per domain; `str(error)` is always safe to show a customer."""

from __future__ import annotations


class PortalError(Exception):
    """Base of every refusal a person may see. `code` is stable for tests and the UI."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class NotFound(PortalError):
    code = "not_found"


class ServiceUnavailable(PortalError):
    """The database or Redis could not be reached (restart, outage): the request was fine."""

    code = "unavailable"


class FeatureDisabled(PortalError):
    code = "feature_disabled"


class SettingsError(PortalError):
    code = "invalid_settings"


class SubscriptionError(PortalError):
    code = "subscription_error"


class ConcurrentChange(SubscriptionError):
    code = "conflict"


class InvoiceError(PortalError):
    code = "invoice_error"


class PaymentError(PortalError):
    code = "payment_error"


class PaymentInProgress(PaymentError):
    code = "payment_in_progress"


class GatewayUnavailable(PaymentError):
    """The payment gateway could not be reached or answered with a server error: nothing was
    decided, so the caller's transaction rolls back and the same idempotency key tries again."""

    code = "gateway_unavailable"


class CardError(PaymentError):
    """The gateway refused a card (bad number, expired, declined)."""

    code = "card_error"


class PaymentMethodError(PortalError):
    code = "payment_method_error"


class ProfileError(PortalError):
    code = "profile_error"


class CatalogError(PortalError):
    code = "catalog_error"


class CheckoutError(PortalError):
    code = "checkout"


class CouponError(PortalError):
    """A discount code that cannot be used; `code` says why (unknown, expired, exhausted,
    wrong_plan, wrong_currency)."""

    code = "coupon"


class TrialError(PortalError):
    code = "trial"


class OrderError(PortalError):
    code = "order"
