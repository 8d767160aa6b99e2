"""Redis (the shared rate-limit store) dies: everything rate-limited fails closed with a clear
"try again in a moment" (sign-in form, link redemption, staff sign-in, merchant API), nothing is
written or lost in the database meanwhile, and all of it works again once Redis is back."""

from __future__ import annotations

import re

import redis
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from portal_app.http.routes import build_http_app
from portal_app.models import AuditEvent, AuthSession, LoginToken, OutboxEmail
from portal_app.services import api_keys, audit, magic_links, sealing, staff_auth
from portal_app.services.ratelimit import STORAGE_UNAVAILABLE
from tests.faults.support import CLOCK, PUBLIC_URL, seed_site, submit_login_form

STAFF_PASSWORD = "correct horse battery staple"


def _count(site, model) -> int:
    with Session(site.engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _mailed_token(site) -> str:
    with Session(site.engine) as session:
        body = session.exec(select(OutboxEmail).order_by(OutboxEmail.id.desc())).first().body
    return re.search(r"token=([\w\-]+)", sealing.unseal(body)).group(1)


def _token_usable(site, token) -> bool:
    with Session(site.engine) as session:
        return magic_links.peek_token(session, CLOCK, token) is not None


def test_redis_down_fails_closed_with_a_clear_message_and_loses_nothing(
    tmp_path, monkeypatch, use_app_db, private_redis
):
    site = seed_site(f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("PORTAL_REDIS_URL", private_redis.url)
    use_app_db(site.url)
    with Session(site.engine) as session:
        api_key = api_keys.create_api_key(
            session, CLOCK, merchant_id=site.merchant_id, name="backend", actor=audit.SYSTEM
        )
        staff_auth.create_staff(
            session,
            CLOCK,
            merchant_id=site.merchant_id,
            email="ops@example.com",
            password=STAFF_PASSWORD,
            actor=audit.SYSTEM,
        )
        session.commit()
    client = TestClient(build_http_app(), base_url=PUBLIC_URL)
    origin = {"Origin": PUBLIC_URL}
    api = {"Authorization": f"Bearer {api_key}"}
    staff = {"email": "ops@example.com", "password": STAFF_PASSWORD}

    # Redis up: the form works and the limits are counted in this Redis
    form = submit_login_form(site.email)
    assert (form.sent, form.error) == (True, "")
    assert redis.Redis(port=private_redis.port).keys("portal:link_email:*")
    token = _mailed_token(site)
    before = {m: _count(site, m) for m in (OutboxEmail, LoginToken, AuditEvent, AuthSession)}

    private_redis.kill()

    form = submit_login_form(site.email)
    assert (form.sent, form.error, form.submitting) == (False, STORAGE_UNAVAILABLE, False)
    assert STORAGE_UNAVAILABLE == "The service is briefly unavailable. Try again in a moment."
    redeem = client.post(
        "/auth/verify", data={"token": token}, headers=origin, follow_redirects=False
    )
    assert redeem.status_code == 503 and redeem.headers["retry-after"] == "30"
    assert "Try again in a moment" in redeem.text and STORAGE_UNAVAILABLE in redeem.text
    assert "portal_sid" not in redeem.cookies
    portal_link = client.post("/api/v1/portal-sessions", json={"customer_id": 1}, headers=api)
    assert portal_link.status_code == 503
    assert portal_link.json()["error"]["message"] == STORAGE_UNAVAILABLE
    staff_login = client.post(
        "/auth/staff/login", data=staff, headers=origin, follow_redirects=False
    )
    assert staff_login.status_code == 503 and STORAGE_UNAVAILABLE in staff_login.text
    # nothing written while Redis was away, and nothing lost: the mailed link still works
    assert {m: _count(site, m) for m in before} == before
    assert _token_usable(site, token)
    with Session(site.engine) as session:
        assert audit.verify_chain(session, site.merchant_id).ok

    private_redis.start()  # back (empty: no persistence, so counts start again)

    redeem = client.post(
        "/auth/verify", data={"token": token}, headers=origin, follow_redirects=False
    )
    assert redeem.status_code == 303 and redeem.cookies.get("portal_sid")
    assert _count(site, AuthSession) == before[AuthSession] + 1
    form = submit_login_form(site.email)
    assert (form.sent, form.error) == (True, "")
    assert _count(site, OutboxEmail) == before[OutboxEmail] + 1
    portal_link = client.post(
        "/api/v1/portal-sessions", json={"customer_id": site.customer_id}, headers=api
    )
    assert portal_link.status_code == 201, portal_link.text
    staff_login = client.post(
        "/auth/staff/login", data=staff, headers=origin, follow_redirects=False
    )
    assert staff_login.status_code == 303 and staff_login.headers["location"] == "/merchant"
