"""Every page path, once: links, redirects, `app.add_page` and both navigations read them here,
so a route is renamed in one place. HTTP endpoints (`/auth/...`, `/files/...`, `/api/...`) live
with their handlers in `portal_app/http/`."""

from __future__ import annotations

from dataclasses import dataclass

# --- public ---
PRICING = "/"
LOGIN = "/login"
DEV_MAILBOX = "/dev/mailbox"
CHECKOUT = "/checkout/[id]"
# an HTTP route (portal_app/http/checkout_links.py): /buy/<plan slug>?interval=month|year
BUY = "/buy"

# --- the customer portal ---
PORTAL_HOME = "/portal"
SUBSCRIPTIONS = "/subscriptions"
SUBSCRIPTION_CHANGE = "/subscriptions/[id]/change"
SUBSCRIPTION_CANCEL = "/subscriptions/[id]/cancel"
PAYMENT_METHODS = "/payment-methods"
PAYMENT_METHOD_NEW = "/payment-methods/new"
INVOICES = "/invoices"
INVOICE = "/invoices/[id]"
ORDERS = "/orders"
DOWNLOADS = "/downloads"
PROFILE = "/profile"
NOTIFICATIONS = "/notifications"

# --- the merchant dashboard ---
MERCHANT_LOGIN = "/merchant/login"
MERCHANT_HOME = "/merchant"
MERCHANT_SETTINGS = "/merchant/settings/portal"
MERCHANT_CATALOG = "/merchant/catalog"
MERCHANT_CUSTOMERS = "/merchant/customers"
MERCHANT_CUSTOMER = "/merchant/customers/[id]"
MERCHANT_INVOICES = "/merchant/invoices"
MERCHANT_PAYMENTS = "/merchant/payments"
MERCHANT_ANALYTICS = "/merchant/analytics"
MERCHANT_MAILBOX = "/merchant/mailbox"
MERCHANT_AUDIT = "/merchant/audit"
MERCHANT_STAFF = "/merchant/staff"
MERCHANT_BILLING = "/merchant/billing"
MERCHANT_CHECKOUTS = "/merchant/checkouts"
MERCHANT_ORDERS = "/merchant/orders"
MERCHANT_DEVELOPERS = "/merchant/developers"
MERCHANT_WEBHOOKS = "/merchant/webhooks"
MERCHANT_IMPORT = "/merchant/import"


def path(route: str, **params: int | str) -> str:
    """A concrete path for a dynamic route: `path(INVOICE, id=7)` is "/invoices/7"."""
    for name, value in params.items():
        route = route.replace(f"[{name}]", str(value))
    if "[" in route:
        raise ValueError(f"{route}: a parameter is missing")
    return route


def subscription_change(subscription_id: int | str) -> str:
    return path(SUBSCRIPTION_CHANGE, id=subscription_id)


def subscription_cancel(subscription_id: int | str) -> str:
    return path(SUBSCRIPTION_CANCEL, id=subscription_id)


def invoice(invoice_id: int | str) -> str:
    return path(INVOICE, id=invoice_id)


def merchant_customer(customer_id: int | str) -> str:
    return path(MERCHANT_CUSTOMER, id=customer_id)


def checkout(checkout_id: str) -> str:
    return path(CHECKOUT, id=checkout_id)


def buy(slug: str, interval: str) -> str:
    """The shareable link of a plan: "/buy/pro?interval=month"."""
    return f"{BUY}/{slug}?interval={interval}"


@dataclass(frozen=True)
class Section:
    """One navigation entry. `feature`: the toggle that must be on (a tuple: any one of them),
    None for always shown. Hiding is for the eye; every service refuses a disabled feature."""

    label: str
    path: str
    icon: str = ""
    feature: str | tuple[str, ...] | None = None


# The customer portal's navigation, in order. Downloads shows when any digital feature is on
# (`services.digital.PORTAL_FEATURES`, spelled out so this module imports nothing;
# tests/unit/test_routes.py checks the two agree).
PORTAL_SECTIONS = (
    Section("Overview", PORTAL_HOME, "layout-dashboard"),
    Section("Subscriptions", SUBSCRIPTIONS, "repeat", "subscriptions.view"),
    Section("Invoices", INVOICES, "receipt", "invoices.view"),
    Section("Orders", ORDERS, "package", "orders.view"),
    Section("Payment methods", PAYMENT_METHODS, "credit-card", "payment_methods.view"),
    Section(
        "Downloads",
        DOWNLOADS,
        "download",
        ("digital.downloads", "digital.license_keys", "digital.links", "digital.history"),
    ),
    Section("Profile", PROFILE, "user"),
    Section("Notifications", NOTIFICATIONS, "bell", "notifications.manage"),
)

# The merchant dashboard's navigation, in order (Staff is shown to owners only).
MERCHANT_SECTIONS = (
    Section("Overview", MERCHANT_HOME),
    Section("Portal settings", MERCHANT_SETTINGS),
    Section("Catalog", MERCHANT_CATALOG),
    Section("Customers", MERCHANT_CUSTOMERS),
    Section("Invoices", MERCHANT_INVOICES),
    Section("Payments", MERCHANT_PAYMENTS),
    Section("Checkouts", MERCHANT_CHECKOUTS),
    Section("Orders", MERCHANT_ORDERS),
    Section("Analytics", MERCHANT_ANALYTICS),
    Section("Mailbox", MERCHANT_MAILBOX),
    Section("Audit log", MERCHANT_AUDIT),
    Section("Staff", MERCHANT_STAFF),
    Section("Developers", MERCHANT_DEVELOPERS),
    Section("Webhooks", MERCHANT_WEBHOOKS),
    Section("Billing clock", MERCHANT_BILLING),
)
