"""The HTTP routes that set and clear the session cookie, serve files and answer the API,
exercised in-process with Starlette's test client."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal_app.clock import SystemClock
from portal_app.http.routes import build_http_app
from portal_app.models import (
    AuditEvent,
    AuthSession,
    DownloadEvent,
    RefusalTally,
    Subscription,
)
from portal_app.services import (
    api_keys,
    audit,
    auth,
    digital,
    magic_links,
    ratelimit,
)
from tests import factories

CLOCK = SystemClock()
ORIGIN = "http://localhost:3000"


@pytest.fixture
def site(site_shop, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_FILES_DIR", str(tmp_path / "files"))
    engine, catalog, zoe = site_shop["engine"], site_shop["catalog"], site_shop["zoe"]
    with Session(engine, expire_on_commit=False) as session:
        eve = factories.make_customer(session, CLOCK, catalog.merchant, "eve@example.com")
        session.commit()
    client = TestClient(build_http_app(), base_url=ORIGIN)
    yield {"engine": engine, "catalog": catalog, "zoe": zoe, "eve": eve, "client": client}


def _token(site, customer) -> str:
    with Session(site["engine"], expire_on_commit=False) as session:
        token = factories.login_link(
            session, CLOCK, site["catalog"].merchant.id, customer.email, "/portal?tab=invoices"
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
    assert cookie.startswith("portal_sid=")  # the customer cookie only, never the staff one
    assert len(response.headers.get_list("set-cookie")) == 1
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
        assert (
            magic_links.peek_token(session, CLOCK, token) is not None
        )  # still usable by its owner


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
        # refusals are counted, not chained (services.refusals)
        tallied = {(t.action, t.rule): t.count for t in session.exec(select(RefusalTally))}
    assert "auth.link_rejected" not in actions and "auth.throttled" not in actions
    assert tallied == {
        ("auth.link_rejected", "bad_token"): 30,
        ("auth.throttled", "redeem:redeem_ip"): 1,
    }


def _staff(site) -> None:
    with Session(site["engine"]) as session:
        factories.make_staff(session, CLOCK, site["catalog"].merchant)
        session.commit()


def _staff_login_post(site, password: str = factories.STAFF_PASSWORD):
    """The staff sign-in form posted for ops@example.com (redirects not followed)."""
    return site["client"].post(
        "/auth/staff/login",
        data={"email": "ops@example.com", "password": password},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )


def _staff_sign_in(site) -> str:
    response = _staff_login_post(site)
    assert response.headers["location"] == "/merchant"
    return response.cookies["portal_staff_sid"]


def _post(site, path: str, cookies: dict[str, str], origin: str = ORIGIN):
    """POST with exactly these cookies (the test client's own jar is emptied first)."""
    site["client"].cookies.clear()
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return site["client"].post(
        path, headers={"Origin": origin, "Cookie": header}, follow_redirects=False
    )


def _alive(site, sid: str, role: str) -> bool:
    with Session(site["engine"]) as session:
        try:
            auth.load_session(session, CLOCK, sid, role=role)
        except auth.SessionEnded:
            return False
        return True


def _cleared(response) -> list[str]:
    """Names of the cookies this response deletes."""
    return [
        header.split("=", 1)[0]
        for header in response.headers.get_list("set-cookie")
        if "max-age=0" in header.lower() or '="";' in header
    ]


def test_logout_revokes_and_clears(site):
    sid = _sign_in(site, site["zoe"])
    response = _post(site, "/auth/logout", {"portal_sid": sid})
    assert response.status_code == 303 and "reason=signed_out" in response.headers["location"]
    assert _cleared(response) == ["portal_sid"]
    with Session(site["engine"]) as session, pytest.raises(auth.SessionEnded):
        auth.load_session(session, CLOCK, sid, role="customer")


def test_staff_login_sets_only_the_staff_cookie(site):
    _staff(site)
    response = _staff_login_post(site)
    (cookie,) = response.headers.get_list("set-cookie")
    assert cookie.startswith("portal_staff_sid=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    assert "secure" not in cookie.lower()  # the public URL is http:// here
    sid = re.match(r"portal_staff_sid=([^;]+)", cookie).group(1)
    assert _alive(site, sid, "staff")


def test_each_sign_out_ends_only_its_own_session(site):
    """A staff member who is also signed in to the portal (a preview, or their own account)."""
    _staff(site)
    staff_sid = _staff_sign_in(site)
    customer_sid = _sign_in(site, site["zoe"])
    both = {"portal_sid": customer_sid, "portal_staff_sid": staff_sid}

    portal = _post(site, "/auth/logout", both)
    assert portal.headers["location"] == "/login?reason=signed_out"
    assert _cleared(portal) == ["portal_sid"]
    assert not _alive(site, customer_sid, "customer") and _alive(site, staff_sid, "staff")

    customer_sid = _sign_in(site, site["zoe"])
    both["portal_sid"] = customer_sid
    dashboard = _post(site, "/auth/staff/logout", both)
    assert dashboard.headers["location"] == "/merchant/login?reason=signed_out"
    assert _cleared(dashboard) == ["portal_staff_sid"]
    assert not _alive(site, staff_sid, "staff") and _alive(site, customer_sid, "customer")
    with Session(site["engine"]) as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert actions.count("auth.sign_out") == 2


def test_sign_out_routes_refuse_the_other_roles_session_and_other_sites(site):
    _staff(site)
    staff_sid = _staff_sign_in(site)
    customer_sid = _sign_in(site, site["zoe"])
    # A session id under the other role's cookie name ends nothing.
    _post(site, "/auth/staff/logout", {"portal_staff_sid": customer_sid})
    _post(site, "/auth/logout", {"portal_sid": staff_sid})
    assert _alive(site, customer_sid, "customer") and _alive(site, staff_sid, "staff")
    # Another site cannot sign anyone out (the Origin check, as for every POST here).
    for path, name, sid in (
        ("/auth/logout", "portal_sid", customer_sid),
        ("/auth/staff/logout", "portal_staff_sid", staff_sid),
    ):
        refused = _post(site, path, {name: sid}, origin="https://evil.example")
        assert refused.status_code == 403 and not refused.headers.get_list("set-cookie")
    assert _alive(site, customer_sid, "customer") and _alive(site, staff_sid, "staff")


def test_cookie_names_and_flags_over_https(monkeypatch):
    from starlette.responses import Response

    from portal_app.http import common

    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://billing.example")
    assert common.cookie_name("customer") == "__Host-portal_sid"
    assert common.cookie_name("staff") == "__Host-portal_staff_sid"
    response = Response()
    common.set_session_cookie(response, "s" * 43, 3600, role="staff")
    common.clear_session_cookie(response, role="customer")
    set_staff, clear_customer = response.headers.getlist("set-cookie")
    for header in (set_staff, clear_customer):
        lowered = header.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
        assert "secure" in lowered and "domain=" not in lowered
    assert set_staff.startswith("__Host-portal_staff_sid=")
    assert clear_customer.startswith("__Host-portal_sid=")


def test_staff_login_backs_off(site):
    _staff(site)
    wrong = _staff_login_post(site, "nope nope nope")
    assert wrong.headers["location"] == "/merchant/login?error=1"
    locked = _staff_login_post(site)
    assert locked.status_code == 429 and "Try again in a minute" in locked.text
    ratelimit.get_backoff().clear_all("staff:ops@example.com")  # every address's lock
    right = _staff_login_post(site)
    assert right.headers["location"] == "/merchant"
    assert right.headers["set-cookie"].startswith("portal_staff_sid=")


def test_portal_session_api(site):
    with Session(site["engine"]) as session:
        key = api_keys.create_api_key(
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
    client.cookies.clear()
    under_staff_name = client.get(
        link, headers={"Cookie": f"portal_staff_sid={zoe_sid}"}, follow_redirects=False
    )
    assert under_staff_name.status_code == 303  # only the customer cookie counts here
    served = client.get(link, cookies={"portal_sid": zoe_sid})
    assert served.status_code == 200 and served.content == b"payload"
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert client.get(tampered, cookies={"portal_sid": zoe_sid}).status_code == 404
    with Session(site["engine"]) as session:
        events = session.exec(select(DownloadEvent)).all()
        assert [(e.customer_id, e.asset_id) for e in events] == [(site["zoe"].id, asset.id)]
        assert session.exec(select(Subscription)).one().customer_id == site["zoe"].id
