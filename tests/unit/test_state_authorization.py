"""Authorization at the state layer, without a browser: handlers are called the way Reflex calls
them, with the cookie header a socket would carry (or none, or someone else's)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

import portal_app.portal_app  # noqa: F401
from portal_app.models import Payment, RefusalTally
from portal_app.services import audit, auth, features
from portal_app.state import (
    CardsState,
    MerchantState,
    PortalState,
    SessionBindingMiddleware,
    SessionState,
)
from portal_app.state.guard import CLOCK
from tests import factories
from tests.statekit import call, connect, root_with, run


def _denials(engine):
    with Session(engine) as session:
        query = select(RefusalTally).where(RefusalTally.action == "authz.denied")
        return session.exec(query.order_by(RefusalTally.id)).all()


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
    assert denial.rule == "not_found:pay_invoice"
    assert denial.key_hint == f"customer:{app_db['alice'].id} 198.51.100.0/24"
    assert denial.sample == {"arguments": {"0": app_db["bob_invoice"].id}}


def test_malformed_ids_are_refused(app_db):
    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        return await call(root, CardsState, "make_default", "1 OR 1=1")

    assert "not valid" in str(run(scenario()))


async def _load_both(merchant_root, portal_root):
    """MerchantState.load on one tree, PortalState.load on the other: both results, then the
    merchant name and the customer name those states were left holding."""
    as_merchant = await call(merchant_root, MerchantState, "load")
    as_portal = await call(portal_root, PortalState, "load")
    merchant = await merchant_root.get_state(MerchantState)
    portal = await portal_root.get_state(PortalState)
    return as_merchant, as_portal, merchant.merchant_name, portal.customer_name


def test_roles_do_not_cross(app_db):
    customer_root = root_with(app_db["sessions"]["alice@example.com"])
    staff_root = root_with(staff_sid=app_db["sessions"]["staff"])
    as_customer, as_staff, leaked_merchant, leaked_customer = run(
        _load_both(customer_root, staff_root)
    )
    assert "/merchant/login?reason=missing" in str(as_customer) and leaked_merchant == ""
    assert "/login?reason=missing" in str(as_staff) and leaked_customer == ""


def test_a_session_under_the_other_roles_cookie_name_gets_nothing(app_db):
    """Each guard reads only its own cookie, and the session row's role must match it too."""

    customer_as_staff = root_with(staff_sid=app_db["sessions"]["alice@example.com"])
    staff_as_customer = root_with(app_db["sessions"]["staff"])
    as_staff, as_customer, leaked_merchant, leaked_customer = run(
        _load_both(customer_as_staff, staff_as_customer)
    )
    assert "/merchant/login?reason=wrong_role" in str(as_staff) and leaked_merchant == ""
    assert "/login?reason=wrong_role" in str(as_customer) and leaked_customer == ""


def test_one_connection_can_carry_both_sessions(app_db):
    """A staff member who is also a customer (or previews the portal) uses both at once."""

    async def scenario():
        root = root_with(
            app_db["sessions"]["alice@example.com"], staff_sid=app_db["sessions"]["staff"]
        )
        await call(root, MerchantState, "load")
        await call(root, PortalState, "load")
        await SessionBindingMiddleware().preprocess(app=None, state=root, event=None)
        merchant = await root.get_state(MerchantState)
        portal = await root.get_state(PortalState)
        return merchant.merchant_name, portal.customer_name

    merchant_name, customer_name = run(scenario())
    assert merchant_name == app_db["merchant"].name and customer_name == "Zoë Ångström"


async def _filled_by_both(app_db):
    """A state tree filled by a staff handler and a customer handler, on one connection."""
    root = root_with(app_db["sessions"]["alice@example.com"], staff_sid=app_db["sessions"]["staff"])
    await call(root, MerchantState, "load")
    await call(root, PortalState, "load")
    return root


async def _after_reconnect(root, **cookies):
    connect(root, **cookies)
    await SessionBindingMiddleware().preprocess(app=None, state=root, event=None)
    merchant = await root.get_state(MerchantState)
    portal = await root.get_state(PortalState)
    return merchant.merchant_name, portal.customer_name


@pytest.mark.parametrize(
    "cookies",
    [
        {"customer_sid": "alice"},  # the staff cookie is gone
        {"customer_sid": "alice", "staff_sid": "bob"},  # another session as the staff cookie
        {"staff_sid": "staff"},  # the customer cookie is gone
        {"customer_sid": "bob", "staff_sid": "staff"},  # another customer session
        {"customer_sid": "staff", "staff_sid": "alice"},  # the two swapped
    ],
)
def test_state_is_wiped_when_either_bound_cookie_changes(app_db, cookies):
    names = {"alice": "alice@example.com", "bob": "bob@example.com", "staff": "staff"}
    sids = {key: app_db["sessions"][names[who]] for key, who in cookies.items()}

    async def scenario():
        root = await _filled_by_both(app_db)
        before = (
            (await root.get_state(MerchantState)).merchant_name,
            (await root.get_state(PortalState)).customer_name,
        )
        return before, await _after_reconnect(root, **sids)

    before, after = run(scenario())
    assert before == (app_db["merchant"].name, "Zoë Ångström")
    assert after == ("", "")


def test_a_cookie_of_an_unbound_role_does_not_wipe(app_db):
    """A tab bound to a staff session keeps its state when a customer cookie appears (the
    preview tab redeemed its link) — the staff cookie is still the one it was bound to."""

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantState, "load")
        return await _after_reconnect(
            root,
            customer_sid=app_db["sessions"]["alice@example.com"],
            staff_sid=app_db["sessions"]["staff"],
        )

    merchant_name, customer_name = run(scenario())
    assert merchant_name == app_db["merchant"].name and customer_name == ""


def test_a_staff_guard_rebinding_to_another_staff_session_wipes(app_db):
    """No middleware pass in between (as in a unit call): the guard itself refuses to mix."""

    async def scenario():
        root = await _filled_by_both(app_db)
        with Session(app_db["engine"]) as session:
            other = factories.staff_signed_in(session, CLOCK, app_db["merchant"])
            session.commit()
        connect(root, app_db["sessions"]["alice@example.com"], staff_sid=other.session_id)
        await call(root, MerchantState, "load")  # guard only, no middleware
        return (await root.get_state(PortalState)).customer_name

    assert run(scenario()) == ""  # the customer data went with the old staff binding


def test_feature_off_is_refused_and_audited(app_db):
    with Session(app_db["engine"]) as session:
        features.save(session, CLOCK, app_db["merchant"].id, {"invoices.pay": False}, audit.SYSTEM)
        session.commit()

    async def scenario():
        root = root_with(app_db["sessions"]["bob@example.com"])
        return await call(root, PortalState, "pay_invoice", app_db["bob_invoice"].id)

    assert "not available" in str(run(scenario()))
    assert _denials(app_db["engine"])[-1].rule == "feature_disabled:pay_invoice"


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


def test_database_work_runs_off_the_event_loop_with_the_principal(app_db, monkeypatch):
    """The session check and a plain handler's body run in worker threads (the loop serves other
    tabs meanwhile), and the handler still sees who is asking."""
    import threading

    from portal_app.services import payment_methods
    from portal_app.state import guard

    seen = {}
    check_session, list_cards = guard._check_session, payment_methods.list_cards

    def spy_check(*args, **kwargs):
        seen["check"] = threading.get_ident()
        return check_session(*args, **kwargs)

    def spy_list(session, customer_id, *args, **kwargs):
        seen["handler"] = threading.get_ident()
        seen["principal"] = guard.current().customer_id
        return list_cards(session, customer_id, *args, **kwargs)

    monkeypatch.setattr(guard, "_check_session", spy_check)
    monkeypatch.setattr(payment_methods, "list_cards", spy_list)

    async def scenario():
        seen["loop"] = threading.get_ident()
        root = root_with(app_db["sessions"]["alice@example.com"])
        await call(root, CardsState, "load")

    run(scenario())
    assert seen["check"] != seen["loop"] and seen["handler"] != seen["loop"]
    assert seen["principal"] == app_db["alice"].id
