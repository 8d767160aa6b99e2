"""Staff management (service level): invitations, roles, disabling, sessions, the last-owner rule
and scoping to the owner's merchant; then the state layer's owner-only refusal."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.models import AuditEvent, AuthSession, OutboxEmail, StaffInvite, StaffUser
from portal_app.services import audit, auth, sealing, staff, staff_auth
from portal_app.services.auth import AuthError, SessionEnded
from portal_app.services.errors import NotFound
from portal_app.services.staff import LastOwner, StaffError
from tests import factories

PASSWORD = "correct horse battery"
ANON = audit.Actor("anonymous", "", ip="203.0.113.9", user_agent="pytest")


def _staff(session, clock, merchant, email, role="owner"):
    return factories.make_staff(session, clock, merchant, email, password=PASSWORD, role=role)


def _sign_in(session, clock, merchant, email):
    return factories.staff_signed_in(
        session, clock, merchant, email, password=PASSWORD, actor=ANON
    ).session_id


@pytest.fixture
def team(session, clock, catalog):
    """An owner, an admin and a viewer of merchant acme."""
    merchant = catalog.merchant
    owner = _staff(session, clock, merchant, "owner@acme.example")
    admin = _staff(session, clock, merchant, "admin@acme.example", "admin")
    viewer = _staff(session, clock, merchant, "viewer@acme.example", "viewer")
    return merchant, owner, admin, viewer


def _as(member) -> audit.Actor:
    return audit.Actor.merchant(member.id, ip="203.0.113.9")


def _events(session, action):
    return session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


def _manage(service, session, clock, merchant, member, by, **change):
    """A staff service on `member` of the merchant (change_role, disable, enable), as `by`."""
    return service(
        session, clock, merchant_id=merchant.id, staff_id=member.id, actor=_as(by), **change
    )


def _invite(session, clock, merchant, owner, email="new@acme.example", role="support"):
    return staff.invite(
        session,
        clock,
        merchant_id=merchant.id,
        email=email,
        role=role,
        actor=_as(owner),
        invited_by=owner.id,
    )


# --- listing ------------------------------------------------------------------------------------


def test_list_shows_members_invites_and_session_counts(session, clock, team):
    merchant, owner, admin, viewer = team
    _sign_in(session, clock, merchant, admin.email)
    _sign_in(session, clock, merchant, admin.email)
    _invite(session, clock, merchant, owner)
    _manage(staff.disable, session, clock, merchant, viewer, owner)
    rows = {m.email: m for m in staff.list_members(session, clock, merchant.id)}
    assert rows["owner@acme.example"].status == "active"
    assert rows["owner@acme.example"].last_sign_in is None
    assert rows["admin@acme.example"].open_sessions == 2
    assert rows["admin@acme.example"].last_sign_in == clock.now()
    assert rows["viewer@acme.example"].status == "disabled"
    invited = rows["new@acme.example"]
    assert (invited.kind, invited.status, invited.role) == ("invite", "invited", "support")
    assert invited.expires_at == clock.now() + timedelta(hours=72)


# --- invitations --------------------------------------------------------------------------------


def test_invite_is_a_sealed_one_time_link_stored_as_keyed_hash(session, clock, team):
    merchant, owner, _admin, _viewer = team
    token = _invite(session, clock, merchant, owner)
    assert len(token) >= 43  # token_urlsafe(32): 256 bits
    row = session.exec(select(StaffInvite)).one()
    assert row.token_hash == auth.keyed_hash(token) != token
    assert row.expires_at - row.created_at == timedelta(hours=72)
    mail = session.exec(select(OutboxEmail)).one()
    assert (mail.kind, mail.to_address, mail.customer_id) == (
        "staff_invite",
        "new@acme.example",
        None,
    )
    assert token not in mail.body and sealing.is_sealed(mail.body)
    assert f"/auth/staff/invite?token={token}" in sealing.unseal(mail.body)
    event = _events(session, "staff.invited")[-1]
    assert event.actor_id == str(owner.id) and token not in str(event.after)
    assert event.after["role"] == "support"


def test_accepting_sets_the_password_and_signs_in_once(session, clock, team):
    merchant, owner, _admin, _viewer = team
    token = _invite(session, clock, merchant, owner)
    assert staff.peek_invite(session, clock, token).email == "new@acme.example"
    signed_in = staff.accept_invite(
        session, clock, token=token, password="a brand new passphrase", name="Nia", actor=ANON
    )
    member = session.exec(select(StaffUser).where(StaffUser.email == "new@acme.example")).one()
    assert (member.role, member.name) == ("support", "Nia")
    row = auth.load_session(session, clock, signed_in.session_id, role="staff")
    assert row.staff_id == member.id and row.staff_role == "support"
    assert staff.peek_invite(session, clock, token) is None
    with factories.refused(StaffError, "invite_used"):
        staff.accept_invite(session, clock, token=token, password="another passphrase!", actor=ANON)
    assert len(session.exec(select(StaffUser).where(StaffUser.email == member.email)).all()) == 1
    # The new member signs in with the password they chose.
    assert staff_auth.staff_sign_in(
        session,
        clock,
        merchant_id=merchant.id,
        email=member.email,
        password="a brand new passphrase",
        actor=ANON,
    )


def test_weak_password_is_refused_and_leaves_the_invite_usable(session, clock, team):
    merchant, owner, _admin, _viewer = team
    token = _invite(session, clock, merchant, owner)
    with factories.refused(AuthError, "weak_password"):
        staff.accept_invite(session, clock, token=token, password="short", actor=ANON)
    assert staff.peek_invite(session, clock, token) is not None
    assert (
        session.exec(select(StaffUser).where(StaffUser.email == "new@acme.example")).first() is None
    )


def test_invite_expires_after_72_hours(session, clock, team):
    merchant, owner, _admin, _viewer = team
    token = _invite(session, clock, merchant, owner)
    clock.advance(timedelta(hours=72))
    assert staff.peek_invite(session, clock, token) is None
    with factories.refused(StaffError, "invite_used"):
        staff.accept_invite(session, clock, token=token, password=PASSWORD, actor=ANON)
    assert not [m for m in staff.list_members(session, clock, merchant.id) if m.kind == "invite"]


def test_re_invite_voids_the_older_link(session, clock, team):
    merchant, owner, _admin, _viewer = team
    first = _invite(session, clock, merchant, owner, role="viewer")
    second = _invite(session, clock, merchant, owner, role="admin")
    assert staff.peek_invite(session, clock, first) is None
    with pytest.raises(StaffError):
        staff.accept_invite(session, clock, token=first, password=PASSWORD, actor=ANON)
    staff.accept_invite(session, clock, token=second, password=PASSWORD, actor=ANON)
    member = session.exec(select(StaffUser).where(StaffUser.email == "new@acme.example")).one()
    assert member.role == "admin"
    assert _events(session, "staff.invited")[-1].after["voided_invites"] == 1


def test_revoked_invite_no_longer_works(session, clock, team):
    merchant, owner, _admin, _viewer = team
    token = _invite(session, clock, merchant, owner)
    invite_id = session.exec(select(StaffInvite.id)).one()
    staff.revoke_invite(
        session, clock, merchant_id=merchant.id, invite_id=invite_id, actor=_as(owner)
    )
    assert staff.peek_invite(session, clock, token) is None
    with pytest.raises(NotFound):
        staff.revoke_invite(
            session, clock, merchant_id=merchant.id, invite_id=invite_id, actor=_as(owner)
        )


@pytest.mark.parametrize(
    ("email", "role", "code"),
    [
        ("not-an-email", "viewer", "bad_email"),
        ("new@acme.example", "superuser", "bad_role"),
        ("ADMIN@acme.example", "viewer", "already_member"),
    ],
)
def test_bad_invitations_are_refused_and_change_nothing(session, clock, team, email, role, code):
    merchant, owner, _admin, _viewer = team
    with factories.refused(StaffError, code):
        _invite(session, clock, merchant, owner, email=email, role=role)
    assert session.exec(select(StaffInvite)).all() == []
    assert session.exec(select(OutboxEmail)).all() == []
    assert _events(session, "staff.invited") == []


def test_twenty_concurrent_acceptances_make_one_account(engine, session, clock, team):
    merchant, owner, _admin, _viewer = team
    token = _invite(session, clock, merchant, owner)
    session.commit()

    def accept(s):
        return staff.accept_invite(s, clock, token=token, password=PASSWORD, actor=ANON)

    outcomes, _ = factories.race(engine, [accept] * 20)
    results = [
        str(o) if isinstance(o, StaffError) else repr(o) if isinstance(o, Exception) else "ok"
        for o in outcomes
    ]
    # the link itself refuses them (not the unique email behind it)
    assert sorted(results) == sorted(["ok"] + [staff.USED_OR_EXPIRED] * 19)
    with Session(engine) as s:
        assert (
            len(s.exec(select(StaffUser).where(StaffUser.email == "new@acme.example")).all()) == 1
        )


# --- roles and the last owner -------------------------------------------------------------------


def test_change_role_is_audited_with_before_and_after(session, clock, team):
    merchant, owner, admin, _viewer = team
    _manage(staff.change_role, session, clock, merchant, admin, owner, role="support")
    assert session.get(StaffUser, admin.id).role == "support"
    event = _events(session, "staff.role_changed")[-1]
    assert (event.before, event.after, event.target_id) == (
        {"role": "admin"},
        {"role": "support"},
        str(admin.id),
    )
    with factories.refused(StaffError, "bad_role"):
        _manage(staff.change_role, session, clock, merchant, admin, owner, role="god")


def test_the_last_owner_cannot_be_demoted_or_disabled(session, clock, team):
    merchant, owner, admin, _viewer = team
    audited = len(session.exec(select(AuditEvent)).all())
    for change in (
        lambda: _manage(staff.change_role, session, clock, merchant, owner, owner, role="admin"),
        lambda: _manage(staff.disable, session, clock, merchant, owner, owner),
    ):
        with pytest.raises(LastOwner, match="last owner"):
            change()
    member = session.get(StaffUser, owner.id)
    assert (member.role, member.disabled_at) == ("owner", None)
    assert len(session.exec(select(AuditEvent)).all()) == audited
    # With a second owner, either may step down; then the other is the last one again.
    _manage(staff.change_role, session, clock, merchant, admin, owner, role="owner")
    _manage(staff.disable, session, clock, merchant, owner, owner)
    with pytest.raises(LastOwner):
        _manage(staff.change_role, session, clock, merchant, admin, admin, role="viewer")


def test_a_disabled_owner_does_not_count_as_an_owner(session, clock, team):
    merchant, owner, admin, _viewer = team
    _manage(staff.change_role, session, clock, merchant, admin, owner, role="owner")
    _manage(staff.disable, session, clock, merchant, admin, owner)
    with pytest.raises(LastOwner):
        _manage(staff.disable, session, clock, merchant, owner, owner)


def test_two_concurrent_demotions_leave_one_owner(engine, session, clock, team, monkeypatch):
    """Two owners demote each other at once: the team lock makes the second see one owner.
    The count is slowed down so that, without the lock, both would count two owners."""
    merchant, owner, admin, _viewer = team
    _manage(staff.change_role, session, clock, merchant, admin, owner, role="owner")
    session.commit()
    counted = staff.active_owner_count

    def slow_count(s, merchant_id):
        found = counted(s, merchant_id)
        time.sleep(0.5)
        return found

    monkeypatch.setattr(staff, "active_owner_count", slow_count)
    barrier = threading.Barrier(2)
    results = []

    def demote(_index, work):
        target, by = work
        barrier.wait()
        with Session(engine, expire_on_commit=False) as s:
            try:
                _manage(staff.change_role, s, clock, merchant, target, by, role="admin")
                s.commit()
                results.append("ok")
            except LastOwner:
                s.rollback()
                results.append("last_owner")

    factories.run_threads(demote, [(owner, admin), (admin, owner)], timeout=60)
    assert sorted(results) == ["last_owner", "ok"]
    with Session(engine) as s:
        assert staff.active_owner_count(s, merchant.id) == 1


# --- disabling and sessions ---------------------------------------------------------------------


def test_disable_ends_every_session_at_once_and_blocks_sign_in(session, clock, team):
    merchant, owner, admin, _viewer = team
    first = _sign_in(session, clock, merchant, admin.email)
    second = _sign_in(session, clock, merchant, admin.email)
    ended = _manage(staff.disable, session, clock, merchant, admin, owner)
    assert ended == 2
    for sid in (first, second):
        with pytest.raises(SessionEnded) as refused:
            auth.load_session(session, clock, sid, role="staff")
        assert refused.value.reason == "disabled"
    rows = session.exec(select(AuthSession).where(AuthSession.staff_id == admin.id)).all()
    assert all(r.revoked_at == clock.now() and r.revoked_reason == "disabled" for r in rows)
    with factories.refused(AuthError, "bad_credentials"):
        _sign_in(session, clock, merchant, admin.email)
    event = _events(session, "staff.disabled")[-1]
    assert event.after == {"status": "disabled", "sessions_ended": 2}
    # Enabled again: signs in afresh, the old sessions stay ended.
    _manage(staff.enable, session, clock, merchant, admin, owner)
    assert _sign_in(session, clock, merchant, admin.email)
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, first, role="staff")
    assert len(_events(session, "staff.enabled")) == 1


def test_disable_twice_and_enable_an_active_member_are_refused(session, clock, team):
    merchant, owner, admin, _viewer = team
    _manage(staff.disable, session, clock, merchant, admin, owner)
    with pytest.raises(StaffError, match="already disabled"):
        _manage(staff.disable, session, clock, merchant, admin, owner)
    with pytest.raises(StaffError, match="already active"):
        _manage(staff.enable, session, clock, merchant, owner, owner)
    assert len(_events(session, "staff.disabled")) == 1


def test_list_and_end_one_or_all_sessions(session, clock, team):
    merchant, owner, admin, _viewer = team
    first = _sign_in(session, clock, merchant, admin.email)
    clock.advance(timedelta(minutes=1))
    second = _sign_in(session, clock, merchant, admin.email)
    listed = staff.list_sessions(session, clock, merchant_id=merchant.id, staff_id=admin.id)
    assert [s.id for s in listed] == [
        auth.load_session(session, clock, sid, role="staff").id for sid in (second, first)
    ]

    def end_older_session():
        """The owner ends the admin's older session."""
        staff.end_session(
            session,
            clock,
            merchant_id=merchant.id,
            staff_id=admin.id,
            session_row_id=listed[1].id,
            actor=_as(owner),
        )

    end_older_session()
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, first, role="staff")
    auth.load_session(session, clock, second, role="staff")
    with pytest.raises(NotFound):  # already ended
        end_older_session()
    assert (
        staff.end_all_sessions(
            session, clock, merchant_id=merchant.id, staff_id=admin.id, actor=_as(owner)
        )
        == 1
    )
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, second, role="staff")
    assert staff.list_sessions(session, clock, merchant_id=merchant.id, staff_id=admin.id) == []
    assert len(_events(session, "staff.session_ended")) == 1
    assert len(_events(session, "staff.sessions_ended")) == 1


# --- scoping ------------------------------------------------------------------------------------


def test_an_owner_of_one_merchant_cannot_touch_another_merchants_staff(session, clock, team):
    merchant, owner, _admin, _viewer = team
    other = factories.make_merchant(session, clock, "globex")
    stranger = _staff(session, clock, other, "boss@globex.example")
    _staff(session, clock, other, "second@globex.example")
    sid = _sign_in(session, clock, other, stranger.email)
    sid_row = auth.load_session(session, clock, sid, role="staff").id
    stranger_invite = _invite(session, clock, other, stranger, email="x@globex.example")
    invite_id = session.exec(
        select(StaffInvite.id).where(StaffInvite.merchant_id == other.id)
    ).one()
    mine = {"session": session, "clock": clock, "merchant_id": merchant.id, "actor": _as(owner)}
    for attempt in (
        lambda: staff.change_role(**mine, staff_id=stranger.id, role="viewer"),
        lambda: staff.disable(**mine, staff_id=stranger.id),
        lambda: staff.enable(**mine, staff_id=stranger.id),
        lambda: staff.end_all_sessions(**mine, staff_id=stranger.id),
        lambda: staff.end_session(**mine, staff_id=stranger.id, session_row_id=sid_row),
        lambda: staff.end_session(**mine, staff_id=owner.id, session_row_id=sid_row),
        lambda: staff.revoke_invite(**mine, invite_id=invite_id),
        lambda: staff.list_sessions(session, clock, merchant_id=merchant.id, staff_id=stranger.id),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert session.get(StaffUser, stranger.id).role == "owner"
    auth.load_session(session, clock, sid, role="staff")
    assert staff.peek_invite(session, clock, stranger_invite) is not None
    assert {m.email for m in staff.list_members(session, clock, merchant.id)}.isdisjoint(
        {"boss@globex.example", "second@globex.example", "x@globex.example"}
    )
    assert (
        session.exec(
            select(sa.func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.merchant_id == merchant.id,
                AuditEvent.action.like("staff.%"),
                AuditEvent.action != "staff.create",
            )
        ).one()
        == 0
    )


# --- the invitation link over HTTP ------------------------------------------------------------


@pytest.fixture
def site(site_engine):
    from starlette.testclient import TestClient

    from portal_app.clock import SystemClock
    from portal_app.http.routes import build_http_app

    engine = site_engine
    clock = SystemClock()
    with Session(engine, expire_on_commit=False) as session:
        merchant = factories.make_catalog(session, clock).merchant
        owner = _staff(session, clock, merchant, "owner@acme.example")
        token = _invite(session, clock, merchant, owner, email="Nia@Acme.example", role="admin")
        session.commit()
    yield {
        "engine": engine,
        "token": token,
        "client": TestClient(build_http_app(), base_url=ORIGIN),
    }


ORIGIN = "http://localhost:3000"
NEW_PASSWORD = "four unrelated words here"


def _post_invite(site, password=NEW_PASSWORD, confirm=None, origin=ORIGIN):
    return site["client"].post(
        "/auth/staff/invite",
        data={
            "token": site["token"],
            "password": password,
            "password_confirm": password if confirm is None else confirm,
            "name": "Nia",
        },
        headers={"Origin": origin},
        follow_redirects=False,
    )


def _accounts(site, email="nia@acme.example") -> int:
    with Session(site["engine"]) as session:
        return len(session.exec(select(StaffUser).where(StaffUser.email == email)).all())


def test_invite_page_shows_the_form_and_never_uses_the_link(site):
    page = site["client"].get(f"/auth/staff/invite?token={site['token']}")
    assert page.status_code == 200 and "nia@acme.example" in page.text and "Admin" in page.text
    assert 'method="post"' in page.text and 'autocomplete="new-password"' in page.text
    assert "set-cookie" not in page.headers
    assert site["client"].head(f"/auth/staff/invite?token={site['token']}").status_code == 200
    assert site["client"].get("/auth/staff/invite?token=nonsense").status_code == 410
    assert _accounts(site) == 0


def test_invite_post_from_another_site_is_refused(site):
    assert _post_invite(site, origin="https://evil.example").status_code == 403
    assert _accounts(site) == 0


def test_mismatched_or_short_password_shows_the_form_again(site):
    mismatch = _post_invite(site, confirm=NEW_PASSWORD + "x")
    assert mismatch.status_code == 400 and "don&#x27;t match" in mismatch.text
    short = _post_invite(site, password="short")
    assert short.status_code == 400 and "at least 12 characters" in short.text
    assert 'name="token"' in short.text  # the link is still usable
    assert _accounts(site) == 0


def test_accepting_signs_in_with_the_staff_cookie_and_a_second_use_is_refused(site):
    accepted = _post_invite(site)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/merchant"
    sid = accepted.cookies["portal_staff_sid"]
    assert "portal_sid" not in accepted.cookies
    with Session(site["engine"]) as session:
        signed_in = auth.load_session(session, SystemClockNow(), sid, role="staff")
        assert signed_in.staff_role == "admin"
    again = _post_invite(site, password="another good passphrase")
    assert again.status_code == 410 and "already used or has expired" in again.text
    assert "set-cookie" not in again.headers
    assert _accounts(site) == 1
    with Session(site["engine"]) as session:
        from portal_app.models import RefusalTally

        tally = session.exec(select(RefusalTally).where(RefusalTally.rule == "staff_invite")).one()
        assert (tally.action, tally.count) == ("auth.link_rejected", 1)


def SystemClockNow():
    from portal_app.clock import SystemClock

    return SystemClock()


# --- the state layer: owners only -------------------------------------------------------------


@pytest.fixture
def team_db(app_db):
    """app_db's staff member (an owner) plus an admin, each signed in; and another merchant's
    owner with a session."""
    from portal_app.state.guard import CLOCK

    with Session(app_db["engine"], expire_on_commit=False) as session:
        merchant = app_db["merchant"]
        admin = _staff(session, CLOCK, merchant, "admin@acme.example", "admin")
        other = factories.make_merchant(session, CLOCK, "globex")
        stranger = _staff(session, CLOCK, other, "boss@globex.example")
        sessions = {
            "owner": app_db["sessions"]["staff"],
            "admin": _sign_in(session, CLOCK, merchant, admin.email),
            "stranger": _sign_in(session, CLOCK, other, stranger.email),
        }
        session.commit()
    return {**app_db, "admin": admin, "stranger": stranger, "staff_sessions": sessions}


def _denied(session, rule: str) -> int:
    """Refusals counted for `rule` ("reason:handler"; the guard tallies them, services.refusals)."""
    from portal_app.models import RefusalTally

    return sum(
        session.exec(
            select(RefusalTally.count).where(
                RefusalTally.action == "authz.denied", RefusalTally.rule == rule
            )
        ).all()
    )


def _state_call(sid, name, *args):
    from portal_app.state import MerchantStaffState
    from tests.statekit import call, root_with, run

    async def scenario():
        root = root_with(staff_sid=sid)
        result = await call(root, MerchantStaffState, name, *args)
        return result, await root.get_state(MerchantStaffState)

    return run(scenario())


def test_owner_loads_the_team(team_db):
    _result, state = _state_call(team_db["staff_sessions"]["owner"], "load")
    emails = {m["email"] for m in state.members}
    assert emails == {"ops@example.com", "admin@acme.example"} and state.loaded
    assert [m["me"] for m in state.members if m["email"] == "ops@example.com"] == ["yes"]


def test_non_owner_sees_owners_only_without_data(team_db):
    _result, state = _state_call(team_db["staff_sessions"]["admin"], "open")
    assert state.access == "denied" and state.members == [] and not state.loaded


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("load", ()),
        ("invite", ({"email": "mole@acme.example", "role": "owner"},)),
        ("change_role", ("ADMIN_ID", "owner")),
        ("ask", ("disable", "OWNER_ID")),
        ("show_sessions", ("OWNER_ID",)),
        ("end_session", ("1",)),
        ("unlock", ("OWNER_ID",)),
    ],
)
def test_a_forged_call_by_an_admin_is_refused_and_audited(team_db, name, args):
    with Session(team_db["engine"]) as session:
        owner_id = session.exec(
            select(StaffUser.id).where(StaffUser.email == "ops@example.com")
        ).one()
    ids = {"ADMIN_ID": str(team_db["admin"].id), "OWNER_ID": str(owner_id)}
    args = tuple(ids.get(a, a) if isinstance(a, str) else a for a in args)
    result, state = _state_call(team_db["staff_sessions"]["admin"], name, *args)
    assert "needs Owner" in str(result)
    assert state.members == [] and state.confirm_action == "" and state.sessions == []
    with Session(team_db["engine"]) as session:
        assert session.get(StaffUser, team_db["admin"].id).role == "admin"
        assert session.exec(select(StaffInvite)).all() == []
        assert _denied(session, f"staff_role:{name}") == 1


def test_an_owner_cannot_reach_another_merchants_member_through_the_state(team_db):
    stranger = team_db["stranger"]
    owner_sid = team_db["staff_sessions"]["owner"]
    result, _state = _state_call(owner_sid, "change_role", str(stranger.id), "viewer")
    assert "not found" in str(result)
    result, state = _state_call(owner_sid, "show_sessions", str(stranger.id))
    assert "not found" in str(result) and state.sessions == []
    with Session(team_db["engine"]) as session:
        assert session.get(StaffUser, stranger.id).role == "owner"
        auth.load_session(
            session, SystemClockNow(), team_db["staff_sessions"]["stranger"], role="staff"
        )
        assert _denied(session, "not_found:change_role") == 1
        assert _denied(session, "not_found:show_sessions") == 1


def test_owner_disables_a_member_and_their_session_ends_at_its_next_event(team_db):
    from portal_app.state import MerchantState
    from tests.statekit import call, root_with, run

    owner_sid, admin_sid = team_db["staff_sessions"]["owner"], team_db["staff_sessions"]["admin"]
    _state_call(owner_sid, "load")

    async def scenario():
        owner = root_with(staff_sid=owner_sid)
        await call(owner, MerchantStaffState, "load")
        await call(owner, MerchantStaffState, "ask", "disable", str(team_db["admin"].id))
        asked = (await owner.get_state(MerchantStaffState)).confirm_title
        done = await call(owner, MerchantStaffState, "confirm")
        admin_tab = root_with(staff_sid=admin_sid)
        return asked, done, await call(admin_tab, MerchantState, "load")

    from portal_app.state import MerchantStaffState

    asked, done, admin_result = run(scenario())
    assert asked == "Disable admin@acme.example?" and "1 session ended" in str(done)
    assert "/merchant/login?reason=disabled" in str(admin_result)


def test_owner_unlocks_a_locked_out_member(team_db):
    from portal_app.services import ratelimit

    admin = team_db["admin"]
    key = ratelimit.staff_lock_key(admin.email, "198.51.100.99")
    backoff = ratelimit.get_backoff()
    backoff.record_failure(key)
    assert backoff.locked_for(key) > 0
    result, _state = _state_call(team_db["staff_sessions"]["owner"], "unlock", str(admin.id))
    assert "Sign-in unlocked" in str(result)
    assert backoff.locked_for(key) == 0
    with Session(team_db["engine"]) as session:
        event = _events(session, "staff.unlocked")[-1]
        assert event.target_id == str(admin.id)


def test_owner_open_chains_to_load(team_db):
    from portal_app.state import MerchantStaffState

    result, state = _state_call(team_db["staff_sessions"]["owner"], "open")
    assert state.access == "owner"
    assert result is MerchantStaffState.load or "load" in str(result)
