"""The Reflex app: `reflex run` imports `app` from here (app_name "portal_app"). Every page is
one row of `PAGES`: its path (from `portal_app.routes`), component, title and loaders."""

import reflex as rx

from portal_app import routes
from portal_app.http import hardening
from portal_app.http.routes import build_http_app
from portal_app.pages.checkout import checkout_page
from portal_app.pages.dev_mailbox import mailbox
from portal_app.pages.downloads import downloads_page
from portal_app.pages.invoices import invoice_detail_page, invoices_page
from portal_app.pages.login import login, merchant_login
from portal_app.pages.merchant_analytics import analytics_page
from portal_app.pages.merchant_audit import audit_log_page
from portal_app.pages.merchant_billing import billing_page
from portal_app.pages.merchant_catalog import catalog_page
from portal_app.pages.merchant_checkouts import checkouts_page
from portal_app.pages.merchant_customers import customer_detail_page, customers_page
from portal_app.pages.merchant_developers import developers_page
from portal_app.pages.merchant_home import merchant_home
from portal_app.pages.merchant_import import import_page
from portal_app.pages.merchant_invoices import invoices_list_page
from portal_app.pages.merchant_mailbox import mailbox_page
from portal_app.pages.merchant_orders import orders_list_page
from portal_app.pages.merchant_payments import payments_list_page
from portal_app.pages.merchant_settings import portal_settings_page
from portal_app.pages.merchant_staff import staff_page
from portal_app.pages.merchant_webhooks import webhooks_page
from portal_app.pages.notifications import notifications_page
from portal_app.pages.orders import orders_page
from portal_app.pages.payment_methods import new_card_page, payment_methods_page
from portal_app.pages.portal_home import portal_home
from portal_app.pages.pricing import landing
from portal_app.pages.profile import profile_page
from portal_app.pages.subscription_cancel import cancel_page
from portal_app.pages.subscriptions import subscriptions_page
from portal_app.state import (
    CancelFlowState,
    CardsState,
    DownloadsState,
    InvoicesState,
    LoginState,
    MailboxState,
    MerchantAuditState,
    MerchantBillingState,
    MerchantCustomersState,
    MerchantSettingsState,
    MerchantStaffState,
    MerchantState,
    NavState,
    PortalState,
    PreferencesState,
    PricingState,
    ProfileState,
    SessionBindingMiddleware,
    SubscriptionsState,
)
from portal_app.state.checkout import CheckoutState
from portal_app.state.failures import backend_exception_handler
from portal_app.state.merchant_analytics import MerchantAnalyticsState
from portal_app.state.merchant_catalog import MerchantCatalogState
from portal_app.state.merchant_catalog_coupons import MerchantCatalogCouponsState
from portal_app.state.merchant_checkouts import MerchantCheckoutsState
from portal_app.state.merchant_developers import MerchantDevelopersState
from portal_app.state.merchant_import import MerchantImportState
from portal_app.state.merchant_invoices import MerchantInvoicesState
from portal_app.state.merchant_mailbox import MerchantOutboxState
from portal_app.state.merchant_orders import MerchantOrdersState
from portal_app.state.merchant_payments import MerchantPaymentsState
from portal_app.state.merchant_webhooks import MerchantWebhooksState
from portal_app.state.orders import OrdersState

# Customer pages load the navigation (branding, visible sections) before their own data.
_PORTAL = (NavState.load,)

# (path, component, title, on_load handlers)
PAGES = (
    (routes.PRICING, landing, "Plans and pricing", (PricingState.load,)),
    (routes.LOGIN, login, "Sign in", (LoginState.load,)),
    (routes.DEV_MAILBOX, mailbox, "Dev mailbox", (MailboxState.load,)),
    (routes.CHECKOUT, checkout_page, "Checkout", (CheckoutState.load,)),
    (routes.PORTAL_HOME, portal_home, "Your account", (*_PORTAL, PortalState.load)),
    (
        routes.SUBSCRIPTIONS,
        subscriptions_page,
        "Subscriptions",
        (*_PORTAL, SubscriptionsState.load),
    ),
    (
        routes.SUBSCRIPTION_CHANGE,
        subscriptions_page,
        "Change plan",
        (*_PORTAL, SubscriptionsState.load),
    ),
    (routes.PAYMENT_METHODS, payment_methods_page, "Payment methods", (*_PORTAL, CardsState.load)),
    (
        routes.PAYMENT_METHOD_NEW,
        new_card_page,
        "Add a card",
        (*_PORTAL, CardsState.load, CardsState.open_card_form),
    ),
    (routes.INVOICES, invoices_page, "Invoices", (*_PORTAL, InvoicesState.load)),
    (routes.INVOICE, invoice_detail_page, "Invoice", (*_PORTAL, InvoicesState.load)),
    (routes.ORDERS, orders_page, "Orders", (*_PORTAL, OrdersState.load)),
    (routes.DOWNLOADS, downloads_page, "Downloads", (*_PORTAL, DownloadsState.load)),
    (
        routes.SUBSCRIPTION_CANCEL,
        cancel_page,
        "Cancel subscription",
        (*_PORTAL, CancelFlowState.load),
    ),
    (routes.PROFILE, profile_page, "Profile", (*_PORTAL, ProfileState.load)),
    (routes.NOTIFICATIONS, notifications_page, "Notifications", (*_PORTAL, PreferencesState.load)),
    (routes.MERCHANT_LOGIN, merchant_login, "Merchant sign-in", (LoginState.load,)),
    (routes.MERCHANT_HOME, merchant_home, "Dashboard", (MerchantState.load,)),
    (
        routes.MERCHANT_SETTINGS,
        portal_settings_page,
        "Portal settings",
        (MerchantSettingsState.load,),
    ),
    (routes.MERCHANT_AUDIT, audit_log_page, "Audit log", (MerchantAuditState.load,)),
    (routes.MERCHANT_BILLING, billing_page, "Billing", (MerchantBillingState.load,)),
    (routes.MERCHANT_CUSTOMERS, customers_page, "Customers", (MerchantCustomersState.load,)),
    (routes.MERCHANT_CUSTOMER, customer_detail_page, "Customers", (MerchantCustomersState.load,)),
    (routes.MERCHANT_INVOICES, invoices_list_page, "Invoices", (MerchantInvoicesState.load,)),
    (routes.MERCHANT_PAYMENTS, payments_list_page, "Payments", (MerchantPaymentsState.load,)),
    (routes.MERCHANT_CHECKOUTS, checkouts_page, "Checkouts", (MerchantCheckoutsState.load,)),
    (routes.MERCHANT_ORDERS, orders_list_page, "Orders", (MerchantOrdersState.load,)),
    (routes.MERCHANT_MAILBOX, mailbox_page, "Mailbox", (MerchantOutboxState.load,)),
    (routes.MERCHANT_ANALYTICS, analytics_page, "Analytics", (MerchantAnalyticsState.load,)),
    (
        routes.MERCHANT_CATALOG,
        catalog_page,
        "Catalog",
        (MerchantCatalogState.load, MerchantCatalogCouponsState.load),
    ),
    (routes.MERCHANT_STAFF, staff_page, "Staff", (MerchantStaffState.open,)),
    (routes.MERCHANT_IMPORT, import_page, "Import customers", (MerchantImportState.open,)),
    (
        routes.MERCHANT_DEVELOPERS,
        developers_page,
        "Developers",
        (MerchantDevelopersState.open,),
    ),
    (routes.MERCHANT_WEBHOOKS, webhooks_page, "Webhooks", (MerchantWebhooksState.open,)),
)

# Our routes first (they win over pages of the same path), then the hardening middleware around
# everything: security headers on every response, /_upload bodies checked before they are read.
app = rx.App(
    api_transformer=[build_http_app(), hardening.wrap],
    backend_exception_handler=backend_exception_handler,
)
app.add_middleware(SessionBindingMiddleware())
for path, component, title, loaders in PAGES:
    app.add_page(
        component,
        route=path,
        title=f"{title} · Portal",
        description="Plans and prices" if path == routes.PRICING else None,
        on_load=list(loaders) if len(loaders) > 1 else loaders[0],
    )
