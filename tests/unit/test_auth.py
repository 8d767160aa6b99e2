"""Magic links, sessions, staff passwords and merchant API keys (service level)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.models import ApiKey, AuditEvent, AuthSession, LoginToken, OutboxEmail
from portal_app.services import (
    api_keys,
    audit,
    auth,
    email_change,
    features,
    magic_links,
    portal_links,
    sealing,
    staff_auth,
)
from portal_app.services.auth import AuthError, SessionEnded
from portal_app.services.errors import NotFound
from tests import factories

ANON = audit.Actor("anonymous", "", ip="203.0.113.9", user_agent="pytest")


def _request(session, clock, catalog, email="zoe@example.com", return_to="/portal"):
    return magic_links.request_login_link(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        email=email,
        return_to=return_to,
        actor=ANON,
    )


def _redeem(session, clock, catalog, token):
    return magic_links.redeem_login_token(
        session, clock, token=token, merchant_id=catalog.merchant.id, actor=ANON
    )


def test_link_token_is_256_bits_and_stored_only_as_hmac(session, clock, catalog, customer):
    token = _request(session, clock, catalog)
    assert len(token) >= 43  # token_urlsafe(32): 256 bits
    row = session.exec(select(LoginToken)).one()
    assert row.token_hash == auth.keyed_hash(token) != token
    for value in (row.token_hash, row.email, row.return_to):
        assert token not in value
    mail = session.exec(select(OutboxEmail)).one()
    assert mail.kind == "magic_link" and token not in mail.body  # sealed at rest
    assert f"/auth/verify?token={token}" in sealing.unseal(mail.body)
    assert (row.expires_at - row.created_at) == timedelta(minutes=15)


def test_unknown_email_gets_no_token_and_no_mail(session, clock, catalog, customer):
    assert _request(session, clock, catalog, email="nobody@example.com") is None
    assert session.exec(select(LoginToken)).all() == []
    assert session.exec(select(OutboxEmail)).all() == []
    event = session.exec(select(AuditEvent)).one()
    assert event.result == "unknown_email" and "nobody" not in event.target_id


def test_bad_email_is_refused(session, clock, catalog, customer):
    with factories.refused(AuthError, "invalid_email"):
        _request(session, clock, catalog, email="not-an-email")


def test_link_works_once(session, clock, catalog, customer):
    token = _request(session, clock, catalog)
    assert magic_links.peek_token(session, clock, token) is not None  # GET shows, does not use
    assert magic_links.peek_token(session, clock, token) is not None
    signed_in = _redeem(session, clock, catalog, token)
    assert signed_in.return_to == "/portal"
    assert signed_in.auth_session.customer_id == customer.id
    assert signed_in.auth_session.sid_hash == auth.keyed_hash(signed_in.session_id)
    assert magic_links.peek_token(session, clock, token) is None
    with factories.refused(AuthError, "bad_link"):
        _redeem(session, clock, catalog, token)


def test_link_expires_after_15_minutes(session, clock, catalog, customer):
    token = _request(session, clock, catalog)
    clock.advance(timedelta(minutes=15))
    assert magic_links.peek_token(session, clock, token) is None
    with pytest.raises(AuthError):
        _redeem(session, clock, catalog, token)


def test_new_request_voids_older_links(session, clock, catalog, customer):
    first = _request(session, clock, catalog)
    second = _request(session, clock, catalog)
    with pytest.raises(AuthError):
        _redeem(session, clock, catalog, first)
    assert _redeem(session, clock, catalog, second).session_id


def test_return_path_is_same_origin_only():
    assert auth.safe_return_path("/invoices?page=2") == "/invoices?page=2"
    for bad in (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:x",
        "",
        None,
        "/\x00x",
    ):
        assert auth.safe_return_path(bad) == "/"


def test_twenty_concurrent_redemptions_make_one_session(engine, session, clock, catalog, customer):
    token = _request(session, clock, catalog)
    session.commit()
    outcomes, _ = factories.race(engine, [lambda s: _redeem(s, clock, catalog, token)] * 20)
    kinds = [
        "refused" if isinstance(o, AuthError) else "error" if isinstance(o, Exception) else "ok"
        for o in outcomes
    ]
    assert sorted(kinds) == ["ok"] + ["refused"] * 19, outcomes
    with Session(engine) as s:
        assert len(s.exec(select(AuthSession)).all()) == 1


def _signed_in(session, clock, catalog):
    return _redeem(session, clock, catalog, _request(session, clock, catalog))


def _why_ended(session, clock, signed_in) -> str:
    """The reason the customer's session is refused when it is next used (it must be)."""
    with pytest.raises(SessionEnded) as ended:
        auth.load_session(session, clock, signed_in.session_id, role="customer")
    return ended.value.reason


def test_idle_timeout(session, clock, catalog, customer):
    signed_in = _signed_in(session, clock, catalog)
    clock.advance(timedelta(minutes=29))
    auth.load_session(session, clock, signed_in.session_id, role="customer")  # activity
    clock.advance(timedelta(minutes=29))
    auth.load_session(session, clock, signed_in.session_id, role="customer")
    clock.advance(timedelta(minutes=30))
    assert _why_ended(session, clock, signed_in) == "idle_timeout"
    assert _why_ended(session, clock, signed_in) == "idle_timeout"  # stays ended, says why


def test_absolute_timeout_and_merchant_setting(session, clock, catalog, customer):
    features.save(
        session,
        clock,
        catalog.merchant.id,
        {"security.absolute_timeout_hours": 2, "security.idle_timeout_minutes": 60},
        audit.Actor.merchant(1),
    )
    signed_in = _signed_in(session, clock, catalog)
    for _ in range(3):
        clock.advance(timedelta(minutes=39))
        auth.load_session(session, clock, signed_in.session_id, role="customer")
    clock.advance(timedelta(minutes=3))
    assert _why_ended(session, clock, signed_in) == "absolute_timeout"


def test_customer_session_is_not_a_staff_session(session, clock, catalog, customer):
    signed_in = _signed_in(session, clock, catalog)
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, signed_in.session_id, role="staff")
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, "forged-session-id", role="customer")
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, None, role="customer")


def test_sign_out_and_email_change_revoke(session, clock, catalog, customer):
    one = _signed_in(session, clock, catalog)
    two = _signed_in(session, clock, catalog)
    auth.sign_out(session, clock, one.session_id, ANON)
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, one.session_id, role="customer")
    auth.load_session(session, clock, two.session_id, role="customer")
    token = email_change.send_confirmation(
        session,
        clock,
        customer_id=customer.id,
        new_email="zoe.new@example.com",
        actor=audit.Actor.customer(customer.id),
    )
    mail = session.exec(select(OutboxEmail).where(OutboxEmail.kind == "email_change")).one()
    assert mail.to_address == "zoe.new@example.com"
    assert customer.email == "zoe@example.com"  # not before confirmation
    signed_in = _redeem(session, clock, catalog, token)
    session.refresh(customer)
    assert customer.email == "zoe.new@example.com"
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, two.session_id, role="customer")
    auth.load_session(session, clock, signed_in.session_id, role="customer")


def test_customer_sees_and_ends_other_sessions(session, clock, catalog, customer):
    mine = _signed_in(session, clock, catalog)
    other = _signed_in(session, clock, catalog)
    listed = auth.list_sessions(session, clock, customer.id)
    assert {row.id for row in listed} == {mine.auth_session.id, other.auth_session.id}
    auth.end_session(
        session,
        clock,
        customer_id=customer.id,
        session_row_id=other.auth_session.id,
        actor=audit.Actor.customer(customer.id),
    )
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, other.session_id, role="customer")
    with pytest.raises(NotFound):  # someone else's session id is not theirs to end
        auth.end_session(
            session,
            clock,
            customer_id=customer.id + 1000,
            session_row_id=mine.auth_session.id,
            actor=audit.Actor.customer(customer.id),
        )


def test_staff_password_sign_in(session, clock, catalog):
    with factories.refused(AuthError, "weak_password"):
        staff_auth.create_staff(
            session,
            clock,
            merchant_id=catalog.merchant.id,
            email="ops@example.com",
            password="short",
            actor=audit.SYSTEM,
        )
    staff = factories.make_staff(session, clock, catalog.merchant, "Ops@Example.com")
    assert staff.password_hash.startswith("$argon2")
    for email, password in (
        ("ops@example.com", "wrong password!!"),
        ("nobody@example.com", "correct horse battery"),
    ):
        with factories.refused(AuthError, "bad_credentials"):
            factories.staff_signed_in(
                session, clock, catalog.merchant, email, password=password, actor=ANON
            )
    signed_in = factories.staff_signed_in(session, clock, catalog.merchant, actor=ANON)
    assert (
        auth.load_session(session, clock, signed_in.session_id, role="staff").staff_id == staff.id
    )
    failures = session.exec(
        select(AuditEvent).where(AuditEvent.action == "auth.password_failed")
    ).all()
    assert len(failures) == 2 and all("correct horse" not in str(e.after) for e in failures)


def test_sign_out_with_a_role_ends_only_a_session_of_that_role(session, clock, catalog, customer):
    """The portal's and the dashboard's sign-out each end their own kind of session only."""
    factories.make_staff(session, clock, catalog.merchant)
    staff = factories.staff_signed_in(session, clock, catalog.merchant, actor=ANON)
    shopper = _signed_in(session, clock, catalog)
    auth.sign_out(session, clock, staff.session_id, ANON, role="customer")
    auth.sign_out(session, clock, shopper.session_id, ANON, role="staff")
    auth.load_session(session, clock, staff.session_id, role="staff")
    auth.load_session(session, clock, shopper.session_id, role="customer")
    auth.sign_out(session, clock, staff.session_id, ANON, role="staff")
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, staff.session_id, role="staff")
    auth.load_session(session, clock, shopper.session_id, role="customer")
    auth.sign_out(session, clock, shopper.session_id, ANON, role="customer")
    with pytest.raises(SessionEnded):
        auth.load_session(session, clock, shopper.session_id, role="customer")


def test_api_key_portal_link(session, clock, catalog, customer):
    raw = api_keys.create_api_key(
        session, clock, merchant_id=catalog.merchant.id, name="backend", actor=audit.SYSTEM
    )
    stored = session.exec(select(ApiKey)).one()
    assert stored.key_hash == auth.keyed_hash(raw) and raw not in stored.prefix + stored.key_hash
    assert api_keys.authenticate_api_key(session, clock, "sk_portal_wrong") is None
    key = api_keys.authenticate_api_key(session, clock, raw)
    url, expires = portal_links.create_portal_link(
        session, clock, api_key=key, customer_id=customer.id, return_url=None
    )
    assert "/auth/verify?token=" in url and expires == clock.now() + timedelta(hours=1)
    token = url.split("token=")[1]
    signed_in = _redeem(session, clock, catalog, token)
    assert signed_in.auth_session.customer_id == customer.id
    with factories.refused(AuthError, "return_url_not_allowed"):
        portal_links.create_portal_link(
            session,
            clock,
            api_key=key,
            customer_id=customer.id,
            return_url="https://evil.example/back",
        )
    features.save(
        session,
        clock,
        catalog.merchant.id,
        {"api.return_url_origins": ["https://shop.example"]},
        audit.SYSTEM,
    )
    url, _ = portal_links.create_portal_link(
        session,
        clock,
        api_key=key,
        customer_id=customer.id,
        return_url="https://shop.example/account",
    )
    row = session.exec(select(LoginToken).order_by(LoginToken.id.desc())).first()
    assert row.return_url == "https://shop.example/account"
    with pytest.raises(AuthError):
        portal_links.create_portal_link(
            session, clock, api_key=key, customer_id=10**6, return_url=None
        )
    key.revoked_at = clock.now()
    session.add(key)
    assert api_keys.authenticate_api_key(session, clock, raw) is None


def test_no_secret_in_any_column(session, clock, catalog, customer):
    token = _request(session, clock, catalog)
    signed_in = _redeem(session, clock, catalog, token)
    for table in (LoginToken, AuthSession, AuditEvent, OutboxEmail):
        for row in session.execute(sa.select(table.__table__)).all():
            text = " ".join(str(value) for value in row)
            assert token not in text and signed_in.session_id not in text
