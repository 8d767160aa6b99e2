"""Staff → Developers through its state: an admin creates a key with chosen permissions (its
secret shown once, only its hash kept) and revokes it behind the confirmation; a viewer sees the
"admins only" note and can neither create nor revoke; bad input writes nothing."""

from __future__ import annotations

from sqlmodel import Session, select

from portal_app.models import ApiKey
from portal_app.services import api_keys
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_developers import MerchantDevelopersState as Dev
from tests.statekit import call, run
from tests.unit.helpers_staff import staff_as, staff_page, viewer_is_refused

FORM = {
    "name": "Backend",
    "scope_customers": "write",
    "scope_invoices": "read",
    "scope_checkouts": "none",
    "scope_subscriptions": "none",
    "scope_orders": "none",
    "scope_catalog": "none",
    "scope_portal_sessions": "none",
}


def _keys(app_db) -> list[ApiKey]:
    with Session(app_db["engine"]) as session:
        return list(session.exec(select(ApiKey)))


def test_an_admin_creates_a_scoped_key_shown_once_and_revokes_it(app_db):
    admin = staff_as(app_db, "admin")

    async def scenario():
        root, state = await staff_page(admin, Dev, "open", "load")
        version = str(state.form_version)
        await call(root, Dev, "create", {**FORM, "form_version": version})
        secret, rows = state.new_key, list(state.keys)
        await call(root, Dev, "create", {**FORM, "form_version": version})  # a double click
        assert len(state.keys) == 1
        await call(root, Dev, "close_new_key", False)
        after_close = state.new_key
        await call(root, Dev, "ask_revoke", rows[0]["id"])
        asked = state.revoke_name
        await call(root, Dev, "revoke")
        return secret, rows, after_close, asked, list(state.keys)

    secret, rows, after_close, asked, revoked_rows = run(scenario())
    assert secret.startswith("sk_portal_") and after_close == ""
    assert rows[0]["permissions"] == "Customers: read and write · Invoices: read"
    assert rows[0]["last_used"] == "Never" and asked == "Backend"
    assert revoked_rows[0]["status"] == "revoked"
    [key] = _keys(app_db)
    assert key.scopes == ["customers:read", "customers:write", "invoices:read"]
    assert secret not in (key.key_hash, key.prefix) and key.revoked_at is not None
    with Session(app_db["engine"]) as session:
        assert api_keys.authenticate_api_key(session, CLOCK, secret) is None


def test_a_key_needs_a_name_and_a_permission(app_db):
    admin = staff_as(app_db, "admin")

    async def scenario():
        root, state = await staff_page(admin, Dev, "load")
        await call(root, Dev, "create", {**FORM, "name": "  "})
        no_name = state.create_error
        nothing = {k: ("none" if k.startswith("scope_") else v) for k, v in FORM.items()}
        await call(root, Dev, "create", nothing)
        no_scope = state.create_error
        await call(root, Dev, "create", {**FORM, "scope_orders": "admin"})
        return no_name, no_scope, state.create_error, state.new_key

    no_name, no_scope, bad_level, shown = run(scenario())
    assert "name" in no_name and "permission" in no_scope and "none, read" in bad_level
    assert shown == "" and _keys(app_db) == []


def test_a_viewer_cannot_see_create_or_revoke_keys(app_db):
    assert viewer_is_refused(app_db, Dev, FORM).keys == []
    assert _keys(app_db) == []
