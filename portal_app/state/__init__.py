"""Reflex state classes. Keep them thin: handlers check who is asking (`guard.guarded`), call
services and copy plain values (dicts of strings) into vars; ORM objects never live in state."""

from portal_app.state.dev_mailbox import MailboxState
from portal_app.state.downloads import DownloadsState
from portal_app.state.guard import PrivateState, SessionBindingMiddleware, SessionState
from portal_app.state.invoices import InvoicesState
from portal_app.state.login import LoginState
from portal_app.state.merchant_audit import MerchantAuditState
from portal_app.state.merchant_billing import MerchantBillingState
from portal_app.state.merchant_customers import MerchantCustomersState
from portal_app.state.merchant_home import MerchantState
from portal_app.state.merchant_settings import MerchantSettingsState
from portal_app.state.merchant_staff import MerchantStaffState
from portal_app.state.nav import NavState
from portal_app.state.notifications import PreferencesState
from portal_app.state.payment_methods import CardsState
from portal_app.state.portal_home import PortalState
from portal_app.state.pricing import PricingState
from portal_app.state.profile import ProfileState
from portal_app.state.subscription_cancel import CancelFlowState
from portal_app.state.subscriptions import SubscriptionsState

__all__ = [
    "CancelFlowState",
    "CardsState",
    "DownloadsState",
    "InvoicesState",
    "LoginState",
    "MailboxState",
    "MerchantAuditState",
    "MerchantBillingState",
    "MerchantCustomersState",
    "MerchantSettingsState",
    "MerchantStaffState",
    "MerchantState",
    "NavState",
    "PortalState",
    "PreferencesState",
    "PricingState",
    "PrivateState",
    "ProfileState",
    "SessionBindingMiddleware",
    "SessionState",
    "SubscriptionsState",
]
