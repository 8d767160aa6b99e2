"""A support link made by staff opens a customer session marked as that staff member acting for
the customer: banner, audit events naming both, no email change; the link is never a
browser-visible var and is shown once."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from portal_app.models import AuditEvent, AuthSession, OutboxEmail, StaffUser
from portal_app.services import audit, auth, email_change, magic_links
from portal_app.state import MerchantCustomersState
from portal_app.state.guard import CLOCK
from portal_app.state.nav import NavState
from portal_app.state.profile import ProfileState
from tests.statekit import call, root_with, run


def _staff_id(app_db) -> int:
    with Session(app_db["engine"]) as session:
        return session.exec(select(StaffUser.id)).one()


def _visible(root) -> str:
    """Everything the browser could get of this state tree: the full dict and the delta."""
    return json.dumps([root.dict(), root.get_delta()], default=str)


def _make_link(app_db, customer) -> tuple[str, object, str]:
    """(link, the reveal handler's answer, what the browser could see after both handlers)."""

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        state = await root.get_state(MerchantCustomersState)
        state.record = {"id": str(customer.id), "email": customer.email}
        chained = await call(root, MerchantCustomersState, "create_portal_link")
        held, after_create = state._portal_link, _visible(root)
        shown = await call(root, MerchantCustomersState, "reveal_portal_link")
        after_create += _visible(root)
        assert state._portal_link == ""  # forgotten once shown
        again = await call(root, MerchantCustomersState, "reveal_portal_link")
        return held, chained, shown, again, after_create + _visible(root)

    held, chained, shown, again, visible = run(scenario())
    assert chained.fn.__name__ == "reveal_portal_link"  # create hands over to the one reveal
    assert "token=" in held
    return held, (shown, again), visible


def _acting_sid(app_db, customer) -> str:
    link, _, _ = _make_link(app_db, customer)
    with Session(app_db["engine"], expire_on_commit=False) as session:
        signed_in = magic_links.redeem_login_token(
            session,
            CLOCK,
            token=link.split("token=")[1],
            merchant_id=app_db["merchant"].id,
            actor=audit.Actor("anonymous", "", ip="198.51.100.7"),
        )
        session.commit()
    return signed_in.session_id


def test_the_link_is_never_a_browser_visible_var_and_is_shown_once(app_db):
    link, (shown, again), visible = _make_link(app_db, app_db["bob"])
    token = link.split("token=")[1]
    assert token not in visible  # not in any base var, not in the delta
    assert not {"portal_link", "_portal_link"} & set(MerchantCustomersState.base_vars)
    assert token in repr(shown)  # handed to the browser once, in an event …
    assert token not in repr(again)  # … and a second reveal has nothing to show
    assert "already shown" in repr(again)


def test_the_link_opens_a_session_marked_as_staff_acting(app_db):
    bob, staff_id = app_db["bob"], _staff_id(app_db)
    sid = _acting_sid(app_db, bob)
    with Session(app_db["engine"]) as session:
        row = session.exec(
            select(AuthSession).where(AuthSession.sid_hash == auth.keyed_hash(sid))
        ).one()
        assert (row.role, row.customer_id, row.acting_staff_id) == ("customer", bob.id, staff_id)
        assert row.expires_at - row.created_at <= auth.ACTING_SESSION_TTL
        sign_in = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "auth.sign_in", AuditEvent.customer_id == bob.id
            )
        ).all()[-1]
        assert (sign_in.actor_type, sign_in.actor_id) == ("merchant", str(staff_id))

    async def banner(customer_sid):
        root = root_with(customer_sid)
        await call(root, NavState, "load")
        return (await root.get_state(NavState)).acting_staff

    assert run(banner(sid)) == "ops@example.com"
    assert run(banner(app_db["sessions"]["bob@example.com"])) == ""  # bob's own session


def test_audit_events_of_the_session_name_the_staff_member_and_the_customer(app_db):
    bob, staff_id = app_db["bob"], _staff_id(app_db)
    sid = _acting_sid(app_db, bob)

    async def rename(customer_sid, name):
        root = root_with(customer_sid)
        await call(root, ProfileState, "load")
        await call(root, ProfileState, "save", {"name": name})

    run(rename(sid, "Bob (by support)"))
    run(rename(app_db["sessions"]["bob@example.com"], "Bob himself"))
    with Session(app_db["engine"]) as session:
        by_staff, by_bob = session.exec(
            select(AuditEvent).where(AuditEvent.action == "profile.update").order_by(AuditEvent.seq)
        ).all()
        assert (by_staff.actor_type, by_staff.actor_id, by_staff.customer_id) == (
            "merchant",
            str(staff_id),
            bob.id,
        )
        assert by_staff.after == {"name": "Bob (by support)"}
        assert (by_bob.actor_type, by_bob.actor_id, by_bob.customer_id) == (
            "customer",
            str(bob.id),
            bob.id,
        )
        assert audit.verify_chain(session, app_db["merchant"].id).ok


def test_the_session_cannot_change_the_email(app_db):
    sid = _acting_sid(app_db, app_db["bob"])

    async def scenario():
        root = root_with(sid)
        await call(root, ProfileState, "load")
        state = await root.get_state(ProfileState)
        gate_on_load = state.email_gate
        state.email_gate = ""  # a forged page that shows the form anyway
        await call(root, ProfileState, "change_email", {"new_email": "thief@example.com"})
        await call(root, ProfileState, "send_reauth_link")
        return gate_on_load, state.email_gate, state.reauth_message

    gate_on_load, gate, reauth_message = run(scenario())
    assert gate_on_load == gate == email_change.STAFF_ACTING_GATE
    assert "only the customer can change" in reauth_message
    with Session(app_db["engine"]) as session:
        kinds = set(session.exec(select(OutboxEmail.kind)).all())
        assert {"email_change", "email_change_cancel"}.isdisjoint(kinds)
        assert session.get(type(app_db["bob"]), app_db["bob"].id).email == "bob@example.com"


def test_demoting_the_member_ends_the_acting_session(app_db):
    sid = _acting_sid(app_db, app_db["bob"])
    with Session(app_db["engine"]) as session:
        staff = session.get(StaffUser, _staff_id(app_db))
        staff.role = "viewer"
        session.add(staff)
        session.commit()
        try:
            auth.load_session(session, CLOCK, sid, role="customer")
        except auth.SessionEnded as ended:
            assert ended.reason == "disabled"
        else:
            raise AssertionError("a viewer's acting session went on")


def test_a_customers_own_session_is_not_marked(app_db):
    with Session(app_db["engine"]) as session:
        assert (
            session.exec(select(AuthSession).where(AuthSession.acting_staff_id.is_not(None))).all()
            == []
        )


def test_the_session_cannot_sign_out_the_customers_other_devices(app_db):
    from portal_app.state import PortalState

    sid = _acting_sid(app_db, app_db["alice"])
    own_sid = app_db["sessions"]["alice@example.com"]
    with Session(app_db["engine"]) as session:
        own = session.exec(
            select(AuthSession).where(AuthSession.sid_hash == auth.keyed_hash(own_sid))
        ).one()

    async def scenario():
        root = root_with(sid)
        return await call(root, PortalState, "end_session", own.id)

    answer = run(scenario())
    assert "Only the customer can sign out" in str(answer)
    with Session(app_db["engine"]) as session:
        assert session.get(AuthSession, own.id).revoked_at is None
