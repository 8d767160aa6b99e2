"""Reflex state classes. Keep them thin: handlers check who is asking (`guard.guarded`), call
services and copy plain values (dicts of strings) into vars; ORM objects never live in state."""

from portal_app.state.guard import PrivateState, SessionBindingMiddleware, SessionState
from portal_app.state.login import LoginState
from portal_app.state.mailbox import MailboxState
from portal_app.state.merchant import MerchantState
from portal_app.state.portal import PortalState
from portal_app.state.pricing import PricingState

__all__ = [
    "LoginState",
    "MailboxState",
    "MerchantState",
    "PortalState",
    "PricingState",
    "PrivateState",
    "SessionBindingMiddleware",
    "SessionState",
]
