"""Every response of the production server carries the security headers (the static pages of the
build too, not only our routes), and the Content-Security-Policy is one the build works under:
the landing page, the sign-in page, the portal home and the merchant catalog load, connect their
event socket and show their data with no CSP violation in Chromium's console."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import (
    STAFF_COOKIE,
    add_session_cookie,
    http_request,
    staff_sign_in_over_http,
)

pytestmark = pytest.mark.browser

PATHS = [
    "/",  # a page of the static build
    "/login",  # a page reached through the SPA router (redirects to /login/ or serves it)
    "/ping",  # Reflex's own endpoint
    "/files/not-a-token",  # our route, answering a stranger
    "/auth/verify?token=not-a-token",  # our route with its own, stricter policy
    "/nowhere-at-all",  # a 404
]


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in policy.split(";") if d.strip())
    return {name: values for name, *values in parts}


@pytest.mark.parametrize("path", PATHS)
def test_security_headers_on_every_response(running_app, path):
    status, headers, _ = http_request(f"{running_app.base_url}{path}")
    assert status < 500, status
    [policy] = headers["content-security-policy"]
    directives = _directives(policy)
    assert directives["frame-ancestors"] == ["'none'"]
    assert headers["x-frame-options"] == ["DENY"]
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["referrer-policy"] in (["strict-origin-when-cross-origin"], ["no-referrer"])
    assert "strict-transport-security" not in headers  # the test server is http://
    if path.startswith("/auth/verify"):
        assert directives["default-src"] == ["'none'"]  # the route's own policy is kept
    else:
        assert "'unsafe-inline'" not in directives["script-src"]
        assert any(v.startswith("'sha256-") for v in directives["script-src"])


def _watch(page) -> tuple[list[str], list[str]]:
    violations, sockets = [], []
    page.on(
        "console",
        lambda m: (
            violations.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("websocket", lambda ws: sockets.append(ws.url))
    return violations, sockets


def test_pages_work_under_the_policy(running_app, page_at, sign_in_api, staff_admin):
    base = running_app.base_url
    page = page_at(1280)
    violations, sockets = _watch(page)

    page.goto(f"{base}/")
    page.get_by_test_id("plan-card").first.wait_for()  # data from the socket: it connected
    page.goto(f"{base}/login")
    page.locator("#email").wait_for()
    assert violations == [], violations

    sid = sign_in_api("zoe@example.com")
    add_session_cookie(page.context, running_app, sid)
    page.goto(f"{base}/portal")
    page.get_by_test_id("greeting").wait_for()
    assert violations == [], violations

    staff_sid = staff_sign_in_over_http(running_app, staff_admin)
    add_session_cookie(page.context, running_app, staff_sid, STAFF_COOKIE)
    page.goto(f"{base}/merchant/catalog")
    page.get_by_test_id("upload-file").wait_for()
    page.wait_for_timeout(500)
    assert violations == [], violations
    assert sockets and all(re.match(r"wss?://[^/]+/_event", url) for url in sockets), sockets
