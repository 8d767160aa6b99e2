"""The Reflex app: `reflex run` imports `app` from here (app_name "portal_app")."""

import reflex as rx

from portal_app.http import hardening
from portal_app.http.routes import build_http_app
from portal_app.pages import landing, login, mailbox, merchant_home, merchant_login, portal_home
from portal_app.pages.account_pages import new_card_page, payment_methods_page, subscriptions_page
from portal_app.pages.cancel_page import cancel_page
from portal_app.pages.document_pages import downloads_page, invoice_detail_page, invoices_page
from portal_app.pages.merchant_pages import (
    audit_log_page,
    billing_page,
    customer_detail_page,
    customers_page,
    portal_settings_page,
)
from portal_app.pages.profile_pages import notifications_page, profile_page
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
    MerchantState,
    NavState,
    PortalState,
    PreferencesState,
    PricingState,
    ProfileState,
    SessionBindingMiddleware,
    SubscriptionsState,
)
from portal_app.state.failures import backend_exception_handler

# Our routes first (they win over pages of the same path), then the hardening middleware around
# everything: security headers on every response, /_upload bodies checked before they are read.
app = rx.App(
    api_transformer=[build_http_app(), hardening.wrap],
    backend_exception_handler=backend_exception_handler,
)
app.add_middleware(SessionBindingMiddleware())
app.add_page(
    landing,
    route="/",
    title="Plans and pricing · Portal",
    description="Plans and prices",
    on_load=PricingState.load,
)
app.add_page(login, route="/login", title="Sign in · Portal", on_load=LoginState.load)
app.add_page(mailbox, route="/dev/mailbox", title="Dev mailbox · Portal", on_load=MailboxState.load)
app.add_page(
    portal_home,
    route="/portal",
    title="Your account · Portal",
    on_load=[NavState.load, PortalState.load],
)
for route, page, title, loader in (
    ("/subscriptions", subscriptions_page, "Subscriptions", SubscriptionsState.load),
    ("/subscriptions/[id]/change", subscriptions_page, "Change plan", SubscriptionsState.load),
    ("/payment-methods", payment_methods_page, "Payment methods", CardsState.load),
    ("/payment-methods/new", new_card_page, "Add a card", CardsState.load),
    ("/invoices", invoices_page, "Invoices", InvoicesState.load),
    ("/invoices/[id]", invoice_detail_page, "Invoice", InvoicesState.load),
    ("/downloads", downloads_page, "Downloads", DownloadsState.load),
    ("/subscriptions/[id]/cancel", cancel_page, "Cancel subscription", CancelFlowState.load),
    ("/profile", profile_page, "Profile", ProfileState.load),
    ("/notifications", notifications_page, "Notifications", PreferencesState.load),
):
    app.add_page(page, route=route, title=f"{title} · Portal", on_load=[NavState.load, loader])
app.add_page(
    portal_settings_page,
    route="/merchant/settings/portal",
    title="Portal settings · Portal",
    on_load=MerchantSettingsState.load,
)
app.add_page(
    audit_log_page,
    route="/merchant/audit",
    title="Audit log · Portal",
    on_load=MerchantAuditState.load,
)
app.add_page(
    billing_page,
    route="/merchant/billing",
    title="Billing · Portal",
    on_load=MerchantBillingState.load,
)
for route, page in (
    ("/merchant/customers", customers_page),
    ("/merchant/customers/[id]", customer_detail_page),
):
    app.add_page(page, route=route, title="Customers · Portal", on_load=MerchantCustomersState.load)
app.add_page(
    merchant_login,
    route="/merchant/login",
    title="Merchant sign-in · Portal",
    on_load=LoginState.load,
)
app.add_page(
    merchant_home, route="/merchant", title="Dashboard · Portal", on_load=MerchantState.load
)

# Merchant dashboard: invoices, payments and the mailbox (the outbox with delivery status).
from portal_app.pages.merchant_billing_pages import (  # noqa: E402
    invoices_list_page,
    mailbox_page,
    payments_list_page,
)
from portal_app.state.merchant_billing_views import (  # noqa: E402
    MerchantInvoicesState,
    MerchantOutboxState,
    MerchantPaymentsState,
)

for route, page, title, loader in (
    ("/merchant/invoices", invoices_list_page, "Invoices", MerchantInvoicesState.load),
    ("/merchant/payments", payments_list_page, "Payments", MerchantPaymentsState.load),
    ("/merchant/mailbox", mailbox_page, "Mailbox", MerchantOutboxState.load),
):
    app.add_page(page, route=route, title=f"{title} · Portal", on_load=loader)

# Merchant dashboard: analytics (MRR, new vs churned, cancellation reasons, retention, pauses).
from portal_app.pages.analytics_page import analytics_page  # noqa: E402
from portal_app.state.merchant_analytics import MerchantAnalyticsState  # noqa: E402

app.add_page(
    analytics_page,
    route="/merchant/analytics",
    title="Analytics · Portal",
    on_load=MerchantAnalyticsState.load,
)

# Merchant dashboard: the catalog (products, plans and prices, retention offers, digital products).
from portal_app.pages.catalog_pages import catalog_page  # noqa: E402
from portal_app.state.merchant_catalog import MerchantCatalogState  # noqa: E402

app.add_page(
    catalog_page,
    route="/merchant/catalog",
    title="Catalog · Portal",
    on_load=MerchantCatalogState.load,
)

# Merchant dashboard: staff (owners only): members, roles, invitations, sessions.
from portal_app.pages.merchant_staff import staff_page  # noqa: E402
from portal_app.state import MerchantStaffState  # noqa: E402

app.add_page(
    staff_page,
    route="/merchant/staff",
    title="Staff · Portal",
    on_load=MerchantStaffState.open,
)
