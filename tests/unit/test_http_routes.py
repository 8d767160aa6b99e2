"""The HTTP routes that set and clear the session cookie, serve files and answer the API,
exercised in-process with Starlette's test client."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal_app import db
from portal_app.clock import SystemClock
from portal_app.http.routes import build_http_app
from portal_app.models import AuditEvent, AuthSession, DownloadEvent, Subscription
from portal_app.services import audit, auth, digital, ratelimit
from tests import factories

CLOCK = SystemClock()
ORIGIN = "http://localhost:3000"


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_DB_URL", f"sqlite:///{tmp_path / 'site.db'}")
    monkeypatch.setenv("PORTAL_PUBLIC_URL", ORIGIN)
    monkeypatch.setenv("PORTAL_FILES_DIR", str(tmp_path / "files"))
    db.get_engine.cache_clear()
    ratelimit.reset_singletons()
    engine = db.get_engine()
    db.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        zoe = factories.make_customer(session, CLOCK, catalog.merchant, "zoe@example.com")
        eve = factories.make_customer(session, CLOCK, catalog.merchant, "eve@example.com")
        session.commit()
    client = TestClient(build_http_app(), base_url=ORIGIN)
    yield {"engine": engine, "catalog": catalog, "zoe": zoe, "eve": eve, "client": client}
    db.get_engine.cache_clear()
    ratelimit.reset_singletons()


def _token(site, customer) -> str:
    with Session(site["engine"], expire_on_commit=False) as session:
        token = auth.request_login_link(
            session,
            CLOCK,
            merchant_id=site["catalog"].merchant.id,
            email=customer.email,
            return_to="/portal?tab=invoices",
            actor=audit.SYSTEM,
        )
        session.commit()
    return token


def _sessions(site) -> int:
    with Session(site["engine"]) as session:
        return len(session.exec(select(AuthSession)).all())


def _sign_in(site, customer) -> str:
    response = site["client"].post(
        "/auth/verify",
        data={"token": _token(site, customer)},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    return response.cookies["portal_sid"]


def test_get_and_head_never_sign_in(site):
    token = _token(site, site["zoe"])
    page = site["client"].get(f"/auth/verify?token={token}")
    assert page.status_code == 200 and "zoe@example.com" in page.text
    assert 'method="post"' in page.text and "set-cookie" not in page.headers
    assert site["client"].head(f"/auth/verify?token={token}").status_code == 200
    assert _sessions(site) == 0
    assert site["client"].get("/auth/verify?token=nonsense").status_code == 410


def test_post_redeems_once_and_sets_a_private_cookie(site):
    token = _token(site, site["zoe"])
    response = site["client"].post(
        "/auth/verify",
        data={"token": token},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/portal?tab=invoices"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("portal_sid=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    sid = re.match(r"portal_sid=([^;]+)", cookie).group(1)
    with Session(site["engine"]) as session:
        row = auth.load_session(session, CLOCK, sid, role="customer")
        assert row.customer_id == site["zoe"].id
    again = site["client"].post(
        "/auth/verify",
        data={"token": token},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert again.status_code == 400 and "already used" in again.text
    assert _sessions(site) == 1


def test_cross_site_post_is_refused(site):
    token = _token(site, site["zoe"])
    response = site["client"].post(
        "/auth/verify",
        data={"token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403 and _sessions(site) == 0
    with Session(site["engine"]) as session:
        assert auth.peek_token(session, CLOCK, token) is not None  # still usable by its owner


def test_failed_redemptions_are_throttled_per_ip(site):
    for _ in range(30):
        site["client"].post("/auth/verify", data={"token": "wrong"}, headers={"Origin": ORIGIN})
    response = site["client"].post(
        "/auth/verify",
        data={"token": _token(site, site["zoe"])},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 429 and "Try again in" in response.text
    with Session(site["engine"]) as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert actions.count("auth.link_rejected") == 30 and "auth.throttled" in actions


def test_logout_revokes_and_clears(site):
    sid = _sign_in(site, site["zoe"])
    response = site["client"].post(
        "/auth/logout",
        headers={"Origin": ORIGIN},
        cookies={"portal_sid": sid},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "reason=signed_out" in response.headers["location"]
    assert (
        'portal_sid=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    with Session(site["engine"]) as session, pytest.raises(auth.SessionEnded):
        auth.load_session(session, CLOCK, sid, role="customer")


def test_staff_login_backs_off(site):
    with Session(site["engine"]) as session:
        auth.create_staff(
            session,
            CLOCK,
            merchant_id=site["catalog"].merchant.id,
            email="ops@example.com",
            password="correct horse battery",
            actor=audit.SYSTEM,
        )
        session.commit()
    wrong = site["client"].post(
        "/auth/staff/login",
        data={"email": "ops@example.com", "password": "nope nope nope"},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert wrong.headers["location"] == "/merchant/login?error=1"
    locked = site["client"].post(
        "/auth/staff/login",
        data={"email": "ops@example.com", "password": "correct horse battery"},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert locked.status_code == 429 and "Try again in a minute" in locked.text
    ratelimit.get_backoff().clear("staff:ops@example.com")
    right = site["client"].post(
        "/auth/staff/login",
        data={"email": "ops@example.com", "password": "correct horse battery"},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert right.headers["location"] == "/merchant" and "portal_sid=" in right.headers["set-cookie"]


def test_portal_session_api(site):
    with Session(site["engine"]) as session:
        key = auth.create_api_key(
            session, CLOCK, merchant_id=site["catalog"].merchant.id, name="t", actor=audit.SYSTEM
        )
        session.commit()
    client = site["client"]
    url = "/api/v1/portal-sessions"
    assert client.post(url, json={"customer_id": site["zoe"].id}).status_code == 401
    assert (
        client.post(
            url,
            json={"customer_id": site["zoe"].id},
            headers={"Authorization": "Bearer sk_portal_wrong"},
        ).status_code
        == 401
    )
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post(url, json={"customer_id": "x"}, headers=headers).status_code == 400
    assert client.post(url, json={"customer_id": 999999}, headers=headers).status_code == 404
    foreign = client.post(
        url,
        json={"customer_id": site["zoe"].id, "return_url": "https://evil.example/"},
        headers=headers,
    )
    assert foreign.status_code == 400
    created = client.post(
        url, json={"customer_id": site["zoe"].id, "return_url": f"{ORIGIN}/portal"}, headers=headers
    )
    assert created.status_code == 201
    link = created.json()["url"]
    assert link.startswith(f"{ORIGIN}/auth/verify?token=")
    token = link.split("token=")[1]
    redeemed = client.post(
        "/auth/verify", data={"token": token}, headers={"Origin": ORIGIN}, follow_redirects=False
    )
    assert redeemed.status_code == 303


def test_download_needs_the_owners_session(site):
    from portal_app.models import AssetGrant, DigitalAsset

    files = digital.files_root()
    (files / "1").mkdir(parents=True)
    (files / "1" / "tool.bin").write_bytes(b"payload")
    with Session(site["engine"], expire_on_commit=False) as session:
        catalog = site["catalog"]
        asset = DigitalAsset(
            merchant_id=catalog.merchant.id,
            kind="file",
            name="Tool",
            file_path="1/tool.bin",
            created_at=CLOCK.now(),
        )
        session.add(asset)
        session.flush()
        session.add(AssetGrant(asset_id=asset.id, plan_id=catalog.plans["Pro"].id))
        factories.make_subscription_row(session, CLOCK, site["zoe"], catalog.monthly["Pro"])
        session.commit()
        link, _ = digital.download_link(
            session, CLOCK, customer_id=site["zoe"].id, asset_id=asset.id
        )
    client = site["client"]
    anonymous = client.get(link, follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    eve_sid = _sign_in(site, site["eve"])
    assert client.get(link, cookies={"portal_sid": eve_sid}).status_code == 404
    zoe_sid = _sign_in(site, site["zoe"])
    served = client.get(link, cookies={"portal_sid": zoe_sid})
    assert served.status_code == 200 and served.content == b"payload"
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert client.get(tampered, cookies={"portal_sid": zoe_sid}).status_code == 404
    with Session(site["engine"]) as session:
        events = session.exec(select(DownloadEvent)).all()
        assert [(e.customer_id, e.asset_id) for e in events] == [(site["zoe"].id, asset.id)]
        assert session.exec(select(Subscription)).one().customer_id == site["zoe"].id
