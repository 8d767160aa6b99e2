"""Email change: the old address gets a single-use link that cancels (or undoes) the change and
ends every session; a sign-in of the last 15 minutes is required; requests are rate limited;
a staff member acting for the customer can't change it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal_app.clock import SystemClock
from portal_app.http.routes import build_http_app
from portal_app.models import AuditEvent, AuthSession, LoginToken, OutboxEmail, RefusalTally
from portal_app.services import (
    audit,
    auth,
    email_change,
    magic_links,
    portal_links,
    ratelimit,
    sealing,
)
from portal_app.services.auth import AuthError, SessionEnded
from portal_app.services.errors import NotFound, ProfileError
from tests import factories

IP = "203.0.113.9"
ANON = audit.Actor("anonymous", "", ip=IP, user_agent="pytest")
NEW = "zoe.new@example.com"


@pytest.fixture
def limiter():
    return ratelimit.RateLimiter("memory://")


def _sign_in(session, clock, catalog, email="zoe@example.com", ip=IP):
    token = magic_links.request_login_link(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        email=email,
        return_to="/portal",
        actor=ANON,
    )
    return _redeem(session, clock, catalog, token, ip=ip)


def _redeem(session, clock, catalog, token, ip=IP):
    return magic_links.redeem_login_token(
        session,
        clock,
        token=token,
        merchant_id=catalog.merchant.id,
        actor=audit.Actor("anonymous", "", ip=ip, user_agent="pytest"),
    )


def _request(session, clock, customer, signed_in, limiter, new=NEW, ip=IP):
    return email_change.request_email_change(
        session,
        clock,
        customer_id=customer.id,
        session_row_id=signed_in.auth_session.id,
        new_email=new,
        actor=audit.Actor.customer(customer.id, ip=ip, user_agent="pytest"),
        limiter=limiter,
    )


def _cancel(session, clock, catalog, token):
    return email_change.cancel_email_change(
        session, clock, token=token, merchant_id=catalog.merchant.id, actor=ANON
    )


def _live(session, clock, signed_in) -> bool:
    try:
        auth.load_session(session, clock, signed_in.session_id, role="customer")
    except SessionEnded:
        return False
    return True


def _mail(session, kind):
    return session.exec(select(OutboxEmail).where(OutboxEmail.kind == kind)).all()


def test_old_address_gets_a_sealed_single_use_cancel_link(
    session, clock, catalog, customer, limiter
):
    signed_in = _sign_in(session, clock, catalog)
    links = _request(session, clock, customer, signed_in, limiter)
    (confirm,) = _mail(session, "email_change")
    (notice,) = _mail(session, "email_change_cancel")
    assert confirm.to_address == NEW
    assert notice.to_address == "zoe@example.com"  # the old address
    assert links.cancel_token not in notice.body  # sealed at rest, like sign-in links
    body = sealing.unseal(notice.body)
    assert f"/auth/email-change/cancel?token={links.cancel_token}" in body
    assert NEW in body and links.confirm_token not in body
    row = session.exec(
        select(LoginToken).where(LoginToken.token_hash == auth.keyed_hash(links.cancel_token))
    ).one()
    assert row.purpose == auth.EMAIL_CANCEL and row.email == "zoe@example.com"
    assert row.expires_at - row.created_at == email_change.CANCEL_LINK_TTL
    assert customer.email == "zoe@example.com"  # nothing changes before confirmation


def test_cancel_after_confirmation_reverts_and_ends_every_session(
    session, clock, catalog, customer, limiter
):
    laptop = _sign_in(session, clock, catalog)
    phone = _sign_in(session, clock, catalog)
    links = _request(session, clock, customer, laptop, limiter)
    confirmed = _redeem(session, clock, catalog, links.confirm_token)  # someone confirms
    session.refresh(customer)
    assert customer.email == NEW and _live(session, clock, confirmed)

    done = _cancel(session, clock, catalog, links.cancel_token)
    session.refresh(customer)
    assert (done.outcome, customer.email) == ("reverted", "zoe@example.com")
    assert not any(_live(session, clock, s) for s in (laptop, phone, confirmed))
    live = session.exec(
        select(AuthSession).where(
            AuthSession.customer_id == customer.id, AuthSession.revoked_at.is_(None)
        )
    ).all()
    assert live == []
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "profile.email_change_cancelled")
    ).one()
    assert event.before == {"email": NEW} and event.after["email"] == "zoe@example.com"
    # single use
    with factories.refused(ProfileError, "bad_token"):
        _cancel(session, clock, catalog, links.cancel_token)


def test_cancel_before_confirmation_voids_the_change(session, clock, catalog, customer, limiter):
    signed_in = _sign_in(session, clock, catalog)
    links = _request(session, clock, customer, signed_in, limiter)
    done = _cancel(session, clock, catalog, links.cancel_token)
    assert done.outcome == "voided" and done.sessions_ended == 1
    assert not _live(session, clock, signed_in)
    with pytest.raises(AuthError):  # the new address's link no longer works
        _redeem(session, clock, catalog, links.confirm_token)
    session.refresh(customer)
    assert customer.email == "zoe@example.com"


def test_a_later_change_does_not_disarm_the_first_cancel_link(
    session, clock, catalog, customer, limiter
):
    first = _request(session, clock, customer, _sign_in(session, clock, catalog), limiter)
    attacker = _redeem(session, clock, catalog, first.confirm_token)
    _request(session, clock, customer, attacker, limiter, new="zoe.third@example.com")
    _cancel(session, clock, catalog, first.cancel_token)
    session.refresh(customer)
    assert customer.email == "zoe@example.com"
    assert not _live(session, clock, attacker)


def test_the_cancel_link_signs_no_one_in(session, clock, catalog, customer, limiter):
    links = _request(session, clock, customer, _sign_in(session, clock, catalog), limiter)
    with pytest.raises(AuthError):
        _redeem(session, clock, catalog, links.cancel_token)
    _cancel(session, clock, catalog, links.cancel_token)  # still unused, so it still works


def test_stale_sign_in_is_refused_until_a_fresh_link(session, clock, catalog, customer, limiter):
    old = _sign_in(session, clock, catalog)
    clock.advance(email_change.RECENT_SIGN_IN + timedelta(seconds=1))
    auth.load_session(session, clock, old.session_id, role="customer")  # still signed in
    status = email_change.email_change_status(
        session, clock, customer_id=customer.id, session_row_id=old.auth_session.id
    )
    assert status == email_change.REAUTH_GATE
    with pytest.raises(email_change.ReauthRequired, match="sign in again to change your email"):
        _request(session, clock, customer, old, limiter)
    assert _mail(session, "email_change") == [] and _mail(session, "email_change_cancel") == []

    token = email_change.send_reauth_link(
        session,
        clock,
        customer_id=customer.id,
        session_row_id=old.auth_session.id,
        actor=audit.Actor.customer(customer.id, ip=IP),
        limiter=limiter,
    )
    fresh = _redeem(session, clock, catalog, token)
    assert fresh.return_to == "/profile"
    _request(session, clock, customer, fresh, limiter)
    assert len(_mail(session, "email_change")) == 1


def test_the_rate_limit_holds_per_customer(session, clock, catalog, customer, limiter):
    signed_in = _sign_in(session, clock, catalog)
    for n in range(3):
        _request(session, clock, customer, signed_in, limiter, new=f"zoe{n}@example.com")
    with pytest.raises(email_change.Throttled, match="Too many attempts"):
        _request(session, clock, customer, signed_in, limiter, new="zoe9@example.com")
    assert len(_mail(session, "email_change_cancel")) == 3
    tally = session.exec(select(RefusalTally)).one()
    assert (tally.rule, tally.count) == ("email_change_customer", 1)


def test_the_rate_limit_holds_per_ip(session, clock, catalog, limiter):
    allowed = ratelimit.RULES["email_change_ip"].split("/")[0]
    people = [
        factories.make_customer(session, clock, catalog.merchant, f"p{n}@example.com")
        for n in range(int(allowed) + 1)
    ]
    for n, person in enumerate(people):
        signed_in = _sign_in(session, clock, catalog, email=person.email)
        if n < int(allowed):
            _request(session, clock, person, signed_in, limiter, new=f"p{n}.new@example.com")
        else:
            with pytest.raises(email_change.Throttled):
                _request(session, clock, person, signed_in, limiter, new="late@example.com")


def test_a_staff_acting_session_cannot_change_email(session, clock, catalog, customer, limiter):
    staff = factories.make_staff(
        session, clock, catalog.merchant, "help@example.com", role="support"
    )
    url = portal_links.issue_support_link(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        customer_id=customer.id,
        actor=audit.Actor.merchant(staff.id),
        acting_staff_id=staff.id,
    )
    acting = _redeem(session, clock, catalog, url.split("token=")[1])
    with pytest.raises(email_change.StaffActing, match="only the customer can change"):
        _request(session, clock, customer, acting, limiter)
    with pytest.raises(email_change.StaffActing):
        email_change.send_reauth_link(
            session,
            clock,
            customer_id=customer.id,
            session_row_id=acting.auth_session.id,
            actor=audit.Actor.acting(staff.id, customer.id),
            limiter=limiter,
        )
    assert _mail(session, "email_change") == [] and _mail(session, "magic_link") == []


def test_another_customers_session_row_is_not_accepted(session, clock, catalog, customer, limiter):
    other = factories.make_customer(session, clock, catalog.merchant, "eve@example.com")
    eve = _sign_in(session, clock, catalog, email=other.email)
    with pytest.raises(NotFound):
        _request(session, clock, customer, eve, limiter)


# --- the cancel page over HTTP ------------------------------------------------------------------

CLOCK = SystemClock()
ORIGIN = "http://localhost:3000"


@pytest.fixture
def site(site_shop):
    engine, catalog, zoe = site_shop["engine"], site_shop["catalog"], site_shop["zoe"]
    with Session(engine, expire_on_commit=False) as session:
        signed_in = _sign_in(session, CLOCK, catalog)
        links = _request(session, CLOCK, zoe, signed_in, ratelimit.RateLimiter())
        confirmed = _redeem(session, CLOCK, catalog, links.confirm_token)
        session.commit()
    yield {
        "engine": engine,
        "zoe": zoe,
        "links": links,
        "confirmed": confirmed,
        "client": TestClient(build_http_app(), base_url=ORIGIN),
    }


def test_cancel_page_shows_then_the_post_reverts(site):
    client, token = site["client"], site["links"].cancel_token
    page = client.get("/auth/email-change/cancel", params={"token": token})
    assert page.status_code == 200 and "zoe@example.com" in page.text
    assert client.get("/auth/verify", params={"token": token}).status_code == 410  # no sign-in
    with Session(site["engine"]) as session:  # GET used nothing
        assert magic_links.peek_token(session, CLOCK, token) is not None
    done = client.post(
        "/auth/email-change/cancel", data={"token": token}, headers={"origin": ORIGIN}
    )
    assert done.status_code == 200 and "again" in done.text
    assert "set-cookie" not in done.headers
    with Session(site["engine"]) as session:
        assert session.get(type(site["zoe"]), site["zoe"].id).email == "zoe@example.com"
        assert not _live(session, CLOCK, site["confirmed"])
    again = client.post(
        "/auth/email-change/cancel", data={"token": token}, headers={"origin": ORIGIN}
    )
    assert again.status_code == 400


def test_cancel_post_from_another_site_is_refused(site):
    answer = site["client"].post(
        "/auth/email-change/cancel",
        data={"token": site["links"].cancel_token},
        headers={"origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    with Session(site["engine"]) as session:
        assert session.get(type(site["zoe"]), site["zoe"].id).email == NEW
