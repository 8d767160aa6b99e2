"""Authorization at the state layer, without a browser: handlers are called the way Reflex calls
them, with the cookie header a socket would carry (or none, or someone else's)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

import portal_app.portal_app  # noqa: F401
from portal_app.models import AuditEvent, Payment
from portal_app.services import audit, auth, features
from portal_app.state import (
    CardsState,
    MerchantState,
    PortalState,
    SessionBindingMiddleware,
    SessionState,
)
from portal_app.state.guard import CLOCK
from tests.statekit import call, connect, root_with, run


def _denials(engine):
    with Session(engine) as session:
        return session.exec(select(AuditEvent).where(AuditEvent.action == "authz.denied")).all()


def test_no_cookie_gets_no_data_and_a_redirect(app_db):
    async def scenario():
        root = root_with(None)
        result = await call(root, PortalState, "load")
        portal = await root.get_state(PortalState)
        return result, portal.customer_name, portal.loaded

    result, name, loaded = run(scenario())
    assert "/login" in str(result) and name == "" and not loaded


def test_forged_session_id_gets_nothing(app_db):
    async def scenario():
        root = root_with("forged-" + "x" * 40)
        await call(root, PortalState, "load")
        return (await root.get_state(PortalState)).customer_name

    assert run(scenario()) == ""


def test_signed_in_customer_sees_own_data(app_db):
    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        await call(root, PortalState, "load")
        return await root.get_state(PortalState)

    portal = run(scenario())
    assert portal.customer_name == "Zoë Ångström" and portal.loaded
    assert portal.open_invoices == []  # Bob's invoice is not Alice's


def test_paying_someone_elses_invoice_is_refused_and_audited(app_db):
    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        return await call(root, PortalState, "pay_invoice", app_db["bob_invoice"].id)

    result = run(scenario())
    assert "Invoice not found" in str(result)
    with Session(app_db["engine"]) as session:
        assert session.exec(select(Payment)).all() == []
    denial = _denials(app_db["engine"])[-1]
    assert denial.customer_id == app_db["alice"].id
    assert denial.after["arguments"] == {"0": app_db["bob_invoice"].id}
    assert denial.ip == "198.51.100.7"


def test_malformed_ids_are_refused(app_db):
    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        return await call(root, CardsState, "make_default", "1 OR 1=1")

    assert "not valid" in str(run(scenario()))


def test_roles_do_not_cross(app_db):
    async def scenario():
        customer_root = root_with(app_db["sessions"]["alice@example.com"])
        staff_root = root_with(app_db["sessions"]["staff"])
        as_customer = await call(customer_root, MerchantState, "load")
        as_staff = await call(staff_root, PortalState, "load")
        merchant = await customer_root.get_state(MerchantState)
        return as_customer, as_staff, merchant.merchant_name

    as_customer, as_staff, leaked = run(scenario())
    assert "/merchant/login" in str(as_customer) and leaked == ""
    assert "/login" in str(as_staff)


def test_feature_off_is_refused_and_audited(app_db):
    with Session(app_db["engine"]) as session:
        features.save(session, CLOCK, app_db["merchant"].id, {"invoices.pay": False}, audit.SYSTEM)
        session.commit()

    async def scenario():
        root = root_with(app_db["sessions"]["bob@example.com"])
        return await call(root, PortalState, "pay_invoice", app_db["bob_invoice"].id)

    assert "not available" in str(run(scenario()))
    assert _denials(app_db["engine"])[-1].after["reason"] == "feature_disabled"


def test_private_state_is_wiped_when_the_cookie_changes(app_db):
    """A client reusing a closed tab's token (no cookie, or another cookie) gets nothing back."""

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        await call(root, PortalState, "load")
        before = (await root.get_state(PortalState)).customer_name
        connect(root, None)  # same state tree, new connection without the cookie
        await SessionBindingMiddleware().preprocess(app=None, state=root, event=None)
        portal = await root.get_state(PortalState)
        session_state = await root.get_state(SessionState)
        return before, portal.customer_name, portal.sessions, session_state.signed_in

    before, after, sessions, signed_in = run(scenario())
    assert before == "Zoë Ångström"
    assert (after, sessions, signed_in) == ("", [], False)


def test_signed_out_session_is_refused(app_db):
    with Session(app_db["engine"]) as session:
        auth.sign_out(session, CLOCK, app_db["sessions"]["alice@example.com"], audit.SYSTEM)
        session.commit()

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        result = await call(root, PortalState, "load")
        return result, (await root.get_state(PortalState)).customer_name

    result, name = run(scenario())
    assert "/login" in str(result) and name == ""


def test_setvar_cannot_set_vars(app_db):
    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        portal = await root.get_state(PortalState)
        with pytest.raises(AttributeError):
            PortalState.setvar.fn(portal, "customer_name", "Mallory")
        with pytest.raises(AttributeError):
            SessionState.setvar.fn(await root.get_state(SessionState), "signed_in", True)
        return portal.customer_name

    assert run(scenario()) == ""
