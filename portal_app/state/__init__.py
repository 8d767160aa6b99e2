"""Reflex state classes. Keep them thin: handlers check who is asking (`guard.guarded`), call
services and copy plain values (dicts of strings) into vars; ORM objects never live in state."""

from portal_app.state.billing_docs import InvoicesState
from portal_app.state.cancel_flow import CancelFlowState
from portal_app.state.cards import CardsState
from portal_app.state.downloads import DownloadsState
from portal_app.state.guard import PrivateState, SessionBindingMiddleware, SessionState
from portal_app.state.login import LoginState
from portal_app.state.mailbox import MailboxState
from portal_app.state.merchant import MerchantState
from portal_app.state.merchant_customers import MerchantCustomersState
from portal_app.state.merchant_settings import MerchantSettingsState
from portal_app.state.merchant_staff import MerchantStaffState
from portal_app.state.merchant_tools import MerchantAuditState, MerchantBillingState
from portal_app.state.nav import NavState
from portal_app.state.portal import PortalState
from portal_app.state.pricing import PricingState
from portal_app.state.profile_prefs import PreferencesState, ProfileState
from portal_app.state.subs import SubscriptionsState

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
