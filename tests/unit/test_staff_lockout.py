"""A stranger who knows a staff email cannot lock that member out: the password lock-out counts
per (account, client address); past the account-wide limit the member signs in with an emailed
one-time link; an owner (or the CLI) can unlock."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlmodel import Session, select

from portal_app import cli, db
from portal_app.clock import SystemClock
from portal_app.http.routes import build_http_app
from portal_app.models import AuditEvent, OutboxEmail, RefusalTally, StaffSignInLink
from portal_app.services import audit, auth, ratelimit, sealing, staff_auth
from portal_app.services.errors import NotFound
from tests import factories

CLOCK = SystemClock()
ORIGIN = "http://localhost:3000"
EMAIL, PASSWORD = "ops@example.com", "correct horse battery"
STRANGER, MEMBER = "203.0.113.66", "198.51.100.20"


@pytest.fixture
def site(site_engine):
    engine = site_engine
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        staff = factories.make_staff(session, CLOCK, catalog.merchant, EMAIL, password=PASSWORD)
        session.commit()
    yield {"engine": engine, "merchant": catalog.merchant, "staff": staff}


def _post(path: str, data: dict, ip: str) -> httpx.Response:
    """One form POST from `ip`, in-process (the ASGI app, background tasks included)."""

    async def go():
        transport = httpx.ASGITransport(app=build_http_app(), client=(ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            return await client.post(path, data=data, headers={"Origin": ORIGIN})

    return asyncio.run(go())


def _get(path: str, ip: str = MEMBER) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=build_http_app(), client=(ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            return await client.get(path)

    return asyncio.run(go())


def _sign_in(ip: str, password: str = PASSWORD, email: str = EMAIL) -> httpx.Response:
    return _post("/auth/staff/login", {"email": email, "password": password}, ip)


def _signed_in(response: httpx.Response) -> bool:
    return (
        response.status_code == 303
        and response.headers["location"] == "/merchant"
        and response.headers.get("set-cookie", "").startswith("portal_staff_sid=")
    )


def _link_mail(engine) -> list[str]:
    """The staff sign-in links in the outbox (their bodies are sealed)."""
    with Session(engine) as session:
        bodies = [
            sealing.unseal(m.body)
            for m in session.exec(select(OutboxEmail).where(OutboxEmail.to_address == EMAIL))
        ]
    return [re.search(r"/auth/staff/link\?token=([\w-]+)", body).group(1) for body in bodies]


def test_fifty_bad_passwords_from_one_address_lock_only_that_address(site):
    answers = [_sign_in(STRANGER, password=f"wrong guess {n}") for n in range(50)]
    assert answers[0].headers["location"] == "/merchant/login?error=1"
    assert {a.status_code for a in answers[1:]} == {429}  # backing off (30 s, 60 s, ...)
    member = _sign_in(MEMBER)
    assert _signed_in(member)
    still_locked = _sign_in(STRANGER)  # even the right password: the pair is locked
    assert still_locked.status_code == 429 and "Try again in" in still_locked.text
    with Session(site["engine"]) as session:
        failed = session.exec(
            select(AuditEvent).where(AuditEvent.action == "auth.password_failed")
        ).all()
        tallied = sum(t.count for t in session.exec(select(RefusalTally)))
    assert len(failed) == 1 and tallied == 50  # 49 refused tries + the refused right one


def test_the_lock_backs_off_exponentially_per_pair(site, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit, "_now", lambda: now[0])
    pair = ratelimit.staff_lock_key(EMAIL, STRANGER)
    backoff = ratelimit.get_backoff()
    locks = []
    for _ in range(4):
        _sign_in(STRANGER, password="wrong wrong wrong")
        locks.append(backoff.locked_for(pair))
        now[0] += locks[-1]  # wait the lock out, then fail again
    assert locks == [30, 60, 120, 240]
    assert backoff.locked_for(ratelimit.staff_lock_key(EMAIL, MEMBER)) == 0


def test_past_the_account_limit_the_emailed_link_signs_the_member_in(site, monkeypatch):
    monkeypatch.setitem(ratelimit.RULES, "password_account", "5/hour")
    ratelimit.reset_singletons()
    for n in range(5):  # five strangers, one wrong password each
        assert _sign_in(f"203.0.113.{n + 1}", password="wrong wrong wrong").status_code == 303
    refused = _sign_in(MEMBER)
    assert refused.status_code == 429 and "Password sign-in is paused" in refused.text
    assert 'action="/auth/staff/link/request"' in refused.text
    assert "set-cookie" not in refused.headers

    asked = _post("/auth/staff/link/request", {"email": EMAIL}, MEMBER)
    unknown = _post("/auth/staff/link/request", {"email": "nobody@example.com"}, MEMBER)
    assert asked.status_code == unknown.status_code == 303
    assert asked.headers["location"] == unknown.headers["location"] == "/merchant/login?link=sent"
    (token,) = _link_mail(site["engine"])
    with Session(site["engine"]) as session:
        stored = session.exec(select(StaffSignInLink)).one()
        assert stored.token_hash == auth.keyed_hash(token) and token not in stored.token_hash
        assert (stored.expires_at - stored.created_at).total_seconds() == 15 * 60

    shown = _get(f"/auth/staff/link?token={token}")
    assert shown.status_code == 200 and EMAIL in shown.text and 'method="post"' in shown.text
    assert _get(f"/auth/staff/link?token={token}").status_code == 200  # GET uses nothing
    used = _post("/auth/staff/link", {"token": token}, MEMBER)
    assert _signed_in(used)
    again = _post("/auth/staff/link", {"token": token}, MEMBER)
    assert again.status_code == 400 and "set-cookie" not in again.headers
    assert _sign_in(MEMBER).status_code == 429  # the password form stays refused meanwhile
    with Session(site["engine"]) as session:
        vias = [
            e.after["via"]
            for e in session.exec(select(AuditEvent).where(AuditEvent.action == "auth.sign_in"))
        ]
    assert vias == ["email_link"]


def test_link_requests_are_throttled_per_address_with_the_same_answer(site):
    answers = [_post("/auth/staff/link/request", {"email": EMAIL}, MEMBER) for _ in range(5)]
    assert {a.headers["location"] for a in answers} == {"/merchant/login?link=sent"}
    tokens = _link_mail(site["engine"])
    assert len(tokens) == 3  # 3 per 15 minutes per address (R2.2); no mail past that
    with Session(site["engine"]) as session:
        open_links = session.exec(
            select(StaffSignInLink).where(StaffSignInLink.used_at.is_(None))
        ).all()
        assert [link.token_hash for link in open_links] == [auth.keyed_hash(tokens[-1])]
    assert _post("/auth/staff/link", {"token": tokens[0]}, MEMBER).status_code == 400  # voided


def test_an_owner_unlocks_the_member(site, monkeypatch):
    monkeypatch.setitem(ratelimit.RULES, "password_account", "3/hour")
    ratelimit.reset_singletons()
    _sign_in(STRANGER, password="wrong wrong wrong")
    _sign_in("203.0.113.7", password="wrong wrong wrong")
    _sign_in("203.0.113.8", password="wrong wrong wrong")
    assert _sign_in(STRANGER).status_code == 429 and _sign_in(MEMBER).status_code == 429
    with db.session_scope() as session:
        other = factories.make_catalog(session, CLOCK, slug="other").merchant.id
        with pytest.raises(NotFound):
            staff_auth.unlock_staff(
                session, CLOCK, merchant_id=other, staff_id=site["staff"].id, actor=audit.SYSTEM
            )
    assert _sign_in(MEMBER).status_code == 429  # another merchant's owner unlocked nothing
    with db.session_scope() as session:
        staff_auth.unlock_staff(
            session,
            CLOCK,
            merchant_id=site["merchant"].id,
            staff_id=site["staff"].id,
            actor=audit.Actor.merchant(site["staff"].id),
        )
    assert _signed_in(_sign_in(STRANGER)) and _signed_in(_sign_in(MEMBER))
    with Session(site["engine"]) as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "staff.unlocked"))
        assert event.target_id == str(site["staff"].id)


def test_cli_unlock_staff(site, capsys):
    _sign_in(STRANGER, password="wrong wrong wrong")
    assert _sign_in(STRANGER).status_code == 429
    assert cli.main(["unlock-staff", "--merchant", "acme", "--email", "OPS@example.com"]) == 0
    assert "unlocked ops@example.com" in capsys.readouterr().out
    assert _signed_in(_sign_in(STRANGER))
    assert cli.main(["unlock-staff", "--merchant", "acme", "--email", "no@example.com"]) == 1
