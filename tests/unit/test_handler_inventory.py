"""Every event handler of every state class in the app is either guarded or on the short,
reviewed list of public handlers below. A new unguarded handler fails this test, and so does a
staff handler whose declared staff role is missing from, or differs from, the reviewed table
STAFF_HANDLER_ROLES: a change of who may call what shows up in review as a change here."""

import pytest
import reflex as rx

import portal_app.portal_app  # noqa: F401  (registers every page and state)
from portal_app.services import staff_roles
from portal_app.state.guard import guarded
from tests.statekit import app_states

# (state class, handler) -> why it may be called by anyone
PUBLIC_HANDLERS = {
    ("PricingState", "load"): "the public plan list; reads the catalog only",
    ("LoginState", "load"): "explains why the sign-in page opened; reads the query string only",
    ("LoginState", "request_link"): "the sign-in form itself; throttled, same answer for all",
    ("MailboxState", "load"): "dev mailbox; returns nothing unless PORTAL_DEV_MAILBOX=1 and "
    "the socket is a direct loopback connection without proxy headers (dev_mailbox.py)",
    # Checkout: the unguessable checkout id in the route is the capability (like a hosted
    # checkout link); each handler re-reads the session by that id, throttles per client IP
    # (ratelimit checkout_ip) and re-derives a signed-in customer from the session cookie.
    ("CheckoutState", "load"): "reads one checkout session by its unguessable id",
    ("CheckoutState", "switch_interval"): "changes only that open session's interval; throttled",
    ("CheckoutState", "apply_code"): "a discount code on that open session; throttled",
    ("CheckoutState", "remove_code"): "takes the code off that open session; throttled",
    ("CheckoutState", "renew"): "opens a fresh session for an expired one's plan; throttled",
    ("CheckoutState", "confirm"): "pays that session once (claimed by a conditional UPDATE); "
    "an email with an account gets a sign-in link instead; throttled",
    ("CheckoutState", "card_mounted"): "a UI flag: Stripe's card field is on the page",
    ("CheckoutState", "card_collected"): "goes on with this tab's own pending confirm only (the "
    "gateway checks with Stripe that the setup finished and is this checkout's); as confirm",
}


# (state class, staff handler) -> the lowest staff role that may call it (services/staff_roles:
# viewer < support < admin < owner). Reads are viewer; closing a dialog or resetting UI is
# viewer too (a member demoted while a dialog is open can still close it); a handler that opens
# a change (an editor, a confirmation, a preset's diff) needs the change's role; writes are
# admin unless the issue gives them to support (portal links, preview as customer); staff
# management is owner. Exports of personal data in bulk (the audit log's CSV: IP addresses,
# customer ids) are admin: above what viewer and support need to do their work.
STAFF_HANDLER_ROLES = {
    ("MerchantCatalogCouponsState", "load"): "viewer",
    ("MerchantCatalogCouponsState", "create_coupon"): "admin",
    ("MerchantCatalogCouponsState", "add_code"): "admin",
    ("MerchantCatalogCouponsState", "switch"): "admin",
    ("MerchantCatalogCouponsState", "confirm_off"): "admin",
    ("MerchantCatalogCouponsState", "keep_it"): "viewer",
    ("MerchantCatalogCouponsState", "confirm_visibility"): "viewer",
    ("MerchantCheckoutsState", "load"): "viewer",
    ("MerchantCheckoutsState", "show"): "viewer",
    ("MerchantCheckoutsState", "go_to_page"): "viewer",
    # A payment link for a customer, like a portal link: support's work.
    ("MerchantCheckoutsState", "create_link"): "support",
    ("MerchantOrdersState", "load"): "viewer",
    ("MerchantOrdersState", "show"): "viewer",
    ("MerchantOrdersState", "go_to_page"): "viewer",
    ("MerchantOrdersState", "open_order"): "viewer",
    ("MerchantOrdersState", "close_order"): "viewer",
    # Shipping an order is support's work; giving money back is admin's.
    ("MerchantOrdersState", "fulfil"): "support",
    ("MerchantOrdersState", "refund"): "admin",
    ("MerchantState", "load"): "viewer",
    ("MerchantAnalyticsState", "load"): "viewer",
    # Settings → Customer Portal
    ("MerchantSettingsState", "load"): "viewer",
    ("MerchantSettingsState", "save"): "admin",
    ("MerchantSettingsState", "preview_preset"): "admin",
    ("MerchantSettingsState", "apply_preset"): "admin",
    ("MerchantSettingsState", "close_preset"): "viewer",
    ("MerchantSettingsState", "ask_restore"): "admin",
    ("MerchantSettingsState", "keep_it"): "viewer",
    ("MerchantSettingsState", "confirm_visibility"): "viewer",
    ("MerchantSettingsState", "restore_version"): "admin",
    ("MerchantSettingsState", "add_item"): "admin",
    ("MerchantSettingsState", "add_reason"): "admin",
    ("MerchantSettingsState", "reword_reason"): "admin",
    ("MerchantSettingsState", "move_reason"): "admin",
    ("MerchantSettingsState", "remove_reason"): "admin",
    ("MerchantSettingsState", "builtin_reasons"): "admin",
    ("MerchantSettingsState", "upload_logo"): "admin",
    ("MerchantSettingsState", "remove_logo"): "admin",
    ("MerchantSettingsState", "remove_item"): "admin",
    ("MerchantSettingsState", "export_settings"): "viewer",
    ("MerchantSettingsState", "upload_settings"): "admin",
    ("MerchantSettingsState", "apply_import"): "admin",
    ("MerchantSettingsState", "cancel_import"): "viewer",
    ("PortalPreviewState", "open_preview"): "support",
    # Customers
    ("MerchantCustomersState", "load"): "viewer",
    ("MerchantCustomersState", "search"): "viewer",
    ("MerchantCustomersState", "go_to_page"): "viewer",
    ("MerchantCustomersState", "create_portal_link"): "support",
    ("MerchantCustomersState", "reveal_portal_link"): "support",
    # Invoices, payments, mailbox
    ("MerchantInvoicesState", "load"): "viewer",
    ("MerchantInvoicesState", "show"): "viewer",
    ("MerchantInvoicesState", "toggle_sort"): "viewer",
    ("MerchantInvoicesState", "go_to_page"): "viewer",
    ("MerchantPaymentsState", "load"): "viewer",
    ("MerchantPaymentsState", "show"): "viewer",
    ("MerchantPaymentsState", "go_to_page"): "viewer",
    ("MerchantPaymentsState", "open_refund"): "admin",
    ("MerchantPaymentsState", "close_refund"): "admin",
    ("MerchantPaymentsState", "refund"): "admin",
    ("MerchantOutboxState", "load"): "viewer",
    ("MerchantOutboxState", "show"): "viewer",
    ("MerchantOutboxState", "go_to_page"): "viewer",
    ("MerchantOutboxState", "open_message"): "viewer",  # sign-in mail stays sealed
    ("MerchantOutboxState", "close_message"): "viewer",
    ("MerchantOutboxState", "retry_failed"): "admin",
    # Audit log and billing clock
    ("MerchantAuditState", "load"): "viewer",
    ("MerchantAuditState", "search"): "viewer",
    ("MerchantAuditState", "go_to_page"): "viewer",
    ("MerchantAuditState", "export"): "admin",
    ("MerchantAuditState", "start_full_check"): "admin",  # reads the whole chain: costly
    ("MerchantAuditState", "full_check_step"): "admin",
    ("MerchantBillingState", "load"): "viewer",
    ("MerchantBillingState", "start_advance"): "admin",
    ("MerchantBillingState", "advance"): "admin",
    ("MerchantBillingState", "run_now"): "admin",  # charges what is due
    # Catalog
    ("MerchantCatalogState", "load"): "viewer",
    ("MerchantCatalogState", "create_product"): "admin",
    ("MerchantCatalogState", "create_plan"): "admin",
    ("MerchantCatalogState", "open_editor"): "admin",
    ("MerchantCatalogState", "close_editor"): "viewer",
    ("MerchantCatalogState", "editor_visibility"): "viewer",
    ("MerchantCatalogState", "save_editor"): "admin",
    ("MerchantCatalogState", "ask_archive"): "admin",
    ("MerchantCatalogState", "keep_it"): "viewer",
    ("MerchantCatalogState", "confirm_visibility"): "viewer",
    ("MerchantCatalogState", "confirm_archive"): "admin",
    ("MerchantCatalogState", "create_offer"): "admin",
    ("MerchantCatalogState", "switch_offer"): "admin",
    ("MerchantCatalogState", "upload_file"): "admin",
    ("MerchantCatalogState", "discard_upload"): "admin",
    ("MerchantCatalogState", "create_file_asset"): "admin",
    ("MerchantCatalogState", "create_license_asset"): "admin",
    ("MerchantCatalogState", "create_link_asset"): "admin",
    # Staff (owner only; `open` only tells a lower role that the page is the owners')
    ("MerchantStaffState", "open"): "viewer",
    ("MerchantStaffState", "load"): "owner",
    ("MerchantStaffState", "invite"): "owner",
    ("MerchantStaffState", "resend_invite"): "owner",
    ("MerchantStaffState", "change_role"): "owner",
    ("MerchantStaffState", "ask"): "owner",
    ("MerchantStaffState", "cancel_confirm"): "owner",
    ("MerchantStaffState", "confirm_visibility"): "owner",
    ("MerchantStaffState", "confirm"): "owner",
    ("MerchantStaffState", "show_sessions"): "owner",
    ("MerchantStaffState", "sessions_visibility"): "owner",
    ("MerchantStaffState", "end_session"): "owner",
    ("MerchantStaffState", "unlock"): "owner",
    # Developers: API keys (owners and admins; `open` tells a lower role the page is theirs)
    ("MerchantDevelopersState", "open"): "viewer",
    ("MerchantDevelopersState", "load"): "admin",
    ("MerchantDevelopersState", "create"): "admin",
    ("MerchantDevelopersState", "close_new_key"): "admin",
    ("MerchantDevelopersState", "ask_revoke"): "admin",
    ("MerchantDevelopersState", "revoke_visibility"): "admin",
    ("MerchantDevelopersState", "revoke"): "admin",
    # Webhooks (owners and admins; `open` tells a lower role the page is theirs)
    ("MerchantWebhooksState", "open"): "viewer",
    **{
        ("MerchantWebhooksState", name): "admin"
        for name in (
            "load",
            "create",
            "close_secret",
            "show",
            "filter_type",
            "filter_status",
            "refresh",
            "switch_endpoint",
            "send_test",
            "replay",
            "ask",
            "confirm_visibility",
            "confirm",
        )
    },
    # Customers → Import from CSV
    ("MerchantImportState", "open"): "viewer",
    ("MerchantImportState", "load"): "admin",
    ("MerchantImportState", "upload"): "admin",
    ("MerchantImportState", "run_import"): "admin",
    ("MerchantImportState", "discard"): "admin",
}


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


@pytest.mark.parametrize("cls", app_states(), ids=lambda cls: cls.__name__)
def test_app_defines_no_setters_for_setvar_to_reach(cls):
    ours = [k for k in cls.__mro__ if k.__module__.startswith("portal_app.")]
    assert not [name for k in ours for name in vars(k) if name.startswith("set_")]


def test_states_are_found():
    names = {cls.__name__ for cls in app_states()}
    assert {"PortalState", "LoginState", "MerchantState", "SessionState"} <= names


@pytest.mark.parametrize("cls", app_states(), ids=lambda cls: cls.__name__)
def test_every_handler_is_guarded_or_reviewed_public(cls):
    for name, handler in _own_handlers(cls).items():
        guard = getattr(handler.fn, "_portal_guard", None)
        assert guard is not None or (cls.__name__, name) in PUBLIC_HANDLERS, (
            f"{cls.__name__}.{name} is neither @guarded nor a reviewed public handler"
        )
        assert not name.startswith("set_"), f"{cls.__name__}.{name}: setters are client-callable"


def test_public_list_has_no_stale_entries():
    existing = {(cls.__name__, name) for cls in app_states() for name in _own_handlers(cls)}
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
    from portal_app.state.merchant_analytics import MerchantAnalyticsState
    from portal_app.state.merchant_catalog import MerchantCatalogState
    from portal_app.state.merchant_invoices import MerchantInvoicesState
    from portal_app.state.merchant_mailbox import MerchantOutboxState
    from portal_app.state.merchant_payments import MerchantPaymentsState
    from portal_app.state.merchant_portal_preview import PortalPreviewState

    private = [cls for cls in app_states() if issubclass(cls, PrivateState)]
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
        MerchantInvoicesState,
        MerchantPaymentsState,
        MerchantOutboxState,
        PortalPreviewState,
    } <= set(staff_states)
    for cls in staff_states:
        for name, handler in _own_handlers(cls).items():
            assert handler.fn._portal_guard[0] == "staff", f"{cls.__name__}.{name}"
    customer_states = [cls for cls in private if cls not in staff_states]
    assert len(customer_states) >= 4
    for cls in customer_states:
        for name, handler in _own_handlers(cls).items():
            assert handler.fn._portal_guard[0] == "customer", f"{cls.__name__}.{name}"


def _staff_handlers() -> dict[tuple[str, str], object]:
    """Every handler behind a staff guard, wherever its state lives."""
    return {
        (cls.__name__, name): handler.fn
        for cls in app_states()
        for name, handler in _own_handlers(cls).items()
        if getattr(handler.fn, "_portal_guard", ("",))[0] == "staff"
    }


def unreviewed_staff_roles(handlers: dict, reviewed: dict) -> list[str]:
    """What differs between the roles the staff handlers declare and the reviewed table."""
    problems = []
    for key, fn in sorted(handlers.items()):
        declared = getattr(fn, "_portal_staff_role", None)
        if declared not in staff_roles.STAFF_ROLES:
            problems.append(f"{key[0]}.{key[1]} declares no staff role ({declared!r})")
        elif key not in reviewed:
            problems.append(f"{key[0]}.{key[1]} ({declared}) is not in STAFF_HANDLER_ROLES")
        elif reviewed[key] != declared:
            problems.append(f"{key[0]}.{key[1]} declares {declared}, reviewed: {reviewed[key]}")
    problems += [
        f"{s}.{h} is reviewed but no such staff handler"
        for s, h in reviewed.keys() - handlers.keys()
    ]
    return problems


def test_every_staff_handler_declares_the_reviewed_role():
    handlers = _staff_handlers()
    assert len(handlers) >= 50 and ("MerchantSettingsState", "save") in handlers
    assert unreviewed_staff_roles(handlers, STAFF_HANDLER_ROLES) == []


def test_the_role_check_catches_a_missing_a_changed_and_a_stale_role():
    """The comparison itself can fail: a handler without a role, one whose role was lowered,
    and a table row for a handler that is gone."""
    handlers = dict(_staff_handlers())

    def bare(self):
        return None

    def lowered(self):
        return None

    lowered._portal_staff_role = "viewer"
    handlers[("MerchantSettingsState", "save")] = bare  # as if the guard forgot the role
    handlers[("MerchantCatalogState", "create_plan")] = lowered  # admin lowered to viewer
    del handlers[("MerchantBillingState", "run_now")]
    problems = unreviewed_staff_roles(handlers, STAFF_HANDLER_ROLES)
    assert problems == [
        "MerchantCatalogState.create_plan declares viewer, reviewed: admin",
        "MerchantSettingsState.save declares no staff role (None)",
        "MerchantBillingState.run_now is reviewed but no such staff handler",
    ]


def test_customer_handlers_declare_no_staff_role():
    for cls in app_states():
        for name, handler in _own_handlers(cls).items():
            if getattr(handler.fn, "_portal_guard", ("",))[0] == "customer":
                assert handler.fn._portal_staff_role is None, f"{cls.__name__}.{name}"


def test_a_staff_guard_without_a_role_fails_at_definition():
    with pytest.raises(ValueError, match="staff_role"):
        guarded("staff")
    with pytest.raises(ValueError, match="staff_role"):
        guarded("staff", staff_role="superuser")
    with pytest.raises(ValueError, match="staff_role"):
        guarded("customer", staff_role="viewer")
    assert guarded("staff", staff_role="owner") and guarded("customer")


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
