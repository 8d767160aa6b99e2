"""Every event handler of every state class in the app is either guarded or on the short,
reviewed list of public handlers below. A new unguarded handler fails this test."""

import pytest
import reflex as rx

import portal_app.portal_app  # noqa: F401  (registers every page and state)

# (state class, handler) -> why it may be called by anyone
PUBLIC_HANDLERS = {
    ("PricingState", "load"): "the public plan list; reads the catalog only",
    ("LoginState", "load"): "explains why the sign-in page opened; reads the query string only",
    ("LoginState", "request_link"): "the sign-in form itself; throttled, same answer for all",
    ("MailboxState", "load"): "dev mailbox; returns nothing unless PORTAL_DEV_MAILBOX=1",
}


def _app_states() -> list[type[rx.State]]:
    found, stack = [], list(rx.State.get_substates())
    while stack:
        cls = stack.pop()
        stack.extend(cls.get_substates())
        if cls.__module__.startswith("portal_app."):
            found.append(cls)
    return found


# Handlers Reflex gives every state.
FRAMEWORK_HANDLERS = {
    "setvar": "calls set_<var> methods only; the app defines none (asserted below), so it "
    "can set nothing",
}


def _own_handlers(cls) -> dict:
    return {
        name: handler
        for name, handler in cls.event_handlers.items()
        if name not in FRAMEWORK_HANDLERS
    }


@pytest.mark.parametrize("cls", _app_states(), ids=lambda cls: cls.__name__)
def test_app_defines_no_setters_for_setvar_to_reach(cls):
    ours = [k for k in cls.__mro__ if k.__module__.startswith("portal_app.")]
    assert not [name for k in ours for name in vars(k) if name.startswith("set_")]


def test_states_are_found():
    names = {cls.__name__ for cls in _app_states()}
    assert {"PortalState", "LoginState", "MerchantState", "SessionState"} <= names


@pytest.mark.parametrize("cls", _app_states(), ids=lambda cls: cls.__name__)
def test_every_handler_is_guarded_or_reviewed_public(cls):
    for name, handler in _own_handlers(cls).items():
        guard = getattr(handler.fn, "_portal_guard", None)
        assert guard is not None or (cls.__name__, name) in PUBLIC_HANDLERS, (
            f"{cls.__name__}.{name} is neither @guarded nor a reviewed public handler"
        )
        assert not name.startswith("set_"), f"{cls.__name__}.{name}: setters are client-callable"


def test_public_list_has_no_stale_entries():
    existing = {(cls.__name__, name) for cls in _app_states() for name in _own_handlers(cls)}
    assert set(PUBLIC_HANDLERS) <= existing


def test_merchant_handlers_require_staff_and_customer_handlers_customers():
    """Staff states live in `portal_app/state/merchant*.py` (the rule that keeps this list
    complete as the dashboard grows); every other private state serves customers."""
    from portal_app.state import (
        MerchantAuditState,
        MerchantBillingState,
        MerchantCustomersState,
        MerchantSettingsState,
        MerchantState,
        PrivateState,
    )
    from portal_app.state import merchant_billing_views as billing_views
    from portal_app.state.merchant_analytics import MerchantAnalyticsState
    from portal_app.state.merchant_catalog import MerchantCatalogState

    private = [cls for cls in _app_states() if issubclass(cls, PrivateState)]
    staff_states = [
        cls for cls in private if cls.__module__.rsplit(".", 1)[-1].startswith("merchant")
    ]
    assert {
        MerchantState,
        MerchantSettingsState,
        MerchantAuditState,
        MerchantBillingState,
        MerchantCustomersState,
        MerchantAnalyticsState,
        MerchantCatalogState,
        billing_views.MerchantInvoicesState,
        billing_views.MerchantPaymentsState,
        billing_views.MerchantOutboxState,
        billing_views.PortalPreviewState,
    } <= set(staff_states)
    for cls in staff_states:
        for name, handler in _own_handlers(cls).items():
            assert handler.fn._portal_guard[0] == "staff", f"{cls.__name__}.{name}"
    customer_states = [cls for cls in private if cls not in staff_states]
    assert len(customer_states) >= 4
    for cls in customer_states:
        for name, handler in _own_handlers(cls).items():
            assert handler.fn._portal_guard[0] == "customer", f"{cls.__name__}.{name}"


def test_binding_and_ids_never_reach_the_browser():
    """Backend-only vars are not part of what Reflex serialises for the client."""
    import json

    from portal_app.state import PortalState, SessionState

    root = rx.State(_reflex_internal_init=True)
    session_state = root.get_substate(SessionState.get_full_name().split(".")[1:])
    session_state._bound_customer_sid_hash = "secret-binding-value"
    session_state._bound_staff_sid_hash = "secret-staff-binding"
    assert "_bound_customer_sid_hash" not in SessionState.vars
    assert "_bound_staff_sid_hash" not in SessionState.vars
    serialised = json.dumps(root.dict(), default=str)
    assert "secret-binding-value" not in serialised and "secret-staff-binding" not in serialised
    assert not [n for n in PortalState.vars if n.endswith("_id") and not n.startswith("rx_")]
