"""Sign-in end to end in Chromium against the production build: magic links through the dev
mailbox, the confirmation page, cookies, timeouts, sign-out, ending another session, paying an
invoice, staff password sign-in and the merchant API's portal links.

Most tests sign their customer in through the merchant API's one-time portal link
(`sign_in_api`), because magic-link requests are limited to 3 per address per 15 minutes and
10 per IP per minute (every test shares 127.0.0.1); only the tests about magic links ask for one.
Each test uses its own demo customer so the tests do not depend on each other's order."""

from __future__ import annotations

import re
import secrets
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    COOKIE,
    STAFF_COOKIE,
    add_session_cookie,
    cookie_in,
    create_portal_link,
    http_request,
    newest_link_in_mailbox,
    portal_cli,
    remember_secret,
    sign_in_via_mailbox,
    sqlite_utc,
    token_of,
)

pytestmark = pytest.mark.browser

SENT_TEXT = (
    "If that address belongs to an account, a sign-in link is on its way. "
    "It works once and expires in 15 minutes."
)
LINK_ACTIONS = ("auth.link_requested", "auth.throttled")


def wait_until(check, timeout: float = 15.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.1)


def refused_count(db, action: str, rule: str | None = None) -> int:
    """Refusals counted in the tally (they are not chained audit events, services/refusals.py)."""
    sql = "SELECT COALESCE(SUM(count), 0) FROM refusaltally WHERE action = :a"
    if rule is not None:
        sql += " AND rule = :r"
    return db.scalar(sql, a=action, r=rule)


def ask_for_link(page, app, db, email: str) -> None:
    """Submit the sign-in form and wait until the server has handled it (its audit event is in
    the database, or its refusal in the tally) and the page shows the answer."""
    before, refused = db.max_audit_id(), refused_count(db, "auth.throttled")
    page.goto(f"{app.base_url}/login")
    page.locator("#email").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    wait_until(
        lambda: (
            [e for e in db.audit_since(before) if e["action"] in LINK_ACTIONS]
            or refused_count(db, "auth.throttled") > refused
        ),
        message=f"the link request for {email} to be handled",
    )
    page.locator("[data-testid=login-sent], [data-testid=login-error]").first.wait_for()


def open_portal(context, app, sid: str):
    add_session_cookie(context, app, sid)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{app.base_url}/portal")
    page.get_by_test_id("greeting").wait_for()
    return page


def section(page, title: str):
    """The card of the /portal section with this heading."""
    return page.locator(".rt-Card").filter(has=page.get_by_role("heading", name=title, exact=True))


# --- 1. magic links ----------------------------------------------------------------------------


def test_magic_link_sign_in_confirm_page_and_single_use(running_app, page_at, db, screenshot_dir):
    app = running_app
    zoe = db.customer_id("zoe@example.com")

    # Known and unknown addresses get exactly the same answer.
    page = page_at(1280)
    ask_for_link(page, app, db, "zoe@example.com")
    known_answer = page.get_by_test_id("login-sent").inner_text()
    assert known_answer == SENT_TEXT
    assert page.get_by_test_id("login-error").count() == 0
    unknown = f"nobody-{secrets.token_hex(4)}@example.com"
    other = page_at(1280)
    ask_for_link(other, app, db, unknown)
    assert other.get_by_test_id("login-sent").inner_text() == known_answer
    assert other.get_by_test_id("login-error").count() == 0
    assert db.scalar("SELECT COUNT(*) FROM outboxemail WHERE to_address = :a", a=unknown) == 0

    link = newest_link_in_mailbox(page, app, "zoe@example.com")
    token = token_of(link)
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    token_row = db.rows("SELECT * FROM logintoken WHERE token_hash = :h", h=db.keyed_hash(token))
    assert len(token_row) == 1 and token_row[0]["customer_id"] == zoe
    assert token_row[0]["used_at"] is None
    sessions_before = db.count_sessions(zoe)

    # Mail scanners: GET and HEAD show the page but never use the link.
    status, _, body = http_request(link)
    assert status == 200
    assert b"Continue as <strong>zoe@example.com</strong>" in body
    assert b'<form method="post" action="/auth/verify">' in body
    with urllib.request.urlopen(urllib.request.Request(link, method="HEAD"), timeout=10) as head:
        assert head.status == 200
    assert db.count_sessions(zoe) == sessions_before
    assert db.scalar("SELECT used_at FROM logintoken WHERE id = :i", i=token_row[0]["id"]) is None

    # A second tab keeps the confirmation page open for later.
    stale = page_at(1280)
    stale.goto(link)
    expect(stale.get_by_role("button", name="Sign in")).to_be_visible()

    page.goto(link)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Continue as zoe@example.com")).to_be_visible()
    page.screenshot(path=screenshot_dir / "confirm-sign-in-1280.png", full_page=True)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/portal/?$"))
    expect(page.get_by_test_id("greeting")).to_have_text("Hello, Zoë Ångström")

    cookie = cookie_in(page.context)
    assert cookie is not None
    remember_secret("session_id", cookie["value"])
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["expires"] > time.time() + 11 * 3600  # the 12 h absolute limit, not a session
    assert db.count_sessions(zoe) == sessions_before + 1
    row = db.session_row(cookie["value"])  # stored as a keyed hash of the cookie
    assert row["customer_id"] == zoe and row["role"] == "customer" and row["revoked_at"] is None
    assert cookie["value"] not in str(row)
    # The page's scripts cannot read the session cookie.
    assert "portal_sid" not in page.evaluate("document.cookie")

    # Used once: opening the link again shows "expired", and the stale tab's POST is refused.
    page.goto(link)
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    stale.get_by_role("button", name="Sign in").click()
    expect(stale.get_by_text("already used or has expired")).to_be_visible()
    assert cookie_in(stale.context) is None
    assert db.count_sessions(zoe) == sessions_before + 1


def test_fourth_link_request_for_one_address_is_throttled(running_app, page_at, db):
    app = running_app
    email = f"throttle-{secrets.token_hex(4)}@example.com"
    start = db.max_audit_id()
    refused = refused_count(db, "auth.throttled", "link_request:link_email")
    for _ in range(3):
        page = page_at(1280)  # a fresh tab each time: nothing left over from the last answer
        ask_for_link(page, app, db, email)
        assert page.get_by_test_id("login-sent").inner_text() == SENT_TEXT
        assert page.get_by_test_id("login-error").count() == 0
    page = page_at(1280)
    ask_for_link(page, app, db, email)
    error = page.get_by_test_id("login-error").inner_text()
    minutes = re.fullmatch(r"Too many attempts\. Try again in (\d+) minutes?\.", error)
    assert minutes, error
    assert 13 <= int(minutes.group(1)) <= 15
    assert page.get_by_test_id("login-sent").count() == 0
    # counted in the tally, not chained: a flood of refusals costs one row per key and minute
    assert db.audit_since(start, "auth.throttled") == []
    assert refused_count(db, "auth.throttled", "link_request:link_email") == refused + 1


# --- 2. timeouts ---------------------------------------------------------------------------------


def test_idle_timeout_on_next_click(running_app, browser, db, sign_in_api):
    app = running_app
    sid = sign_in_api("maria@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        open_portal(context, app, sid)
        page = context.pages[0]
        page.goto(f"{app.base_url}/downloads")
        download = page.get_by_test_id("download-file")
        expect(download).to_have_count(1)
        row = db.session_row(sid)
        start = db.max_audit_id()
        idle = datetime.now(UTC) - timedelta(minutes=31)
        assert db.execute(
            "UPDATE authsession SET last_seen_at = :t WHERE id = :i",
            t=sqlite_utc(idle),
            i=row["id"],
        )

        download.click()
        page.wait_for_url(re.compile(r"/login/?\?reason=idle_timeout"))
        expect(page.get_by_test_id("login-notice")).to_have_text(
            "You were signed out after a period of inactivity. Sign in to continue."
        )
        assert db.session_row(sid)["revoked_at"] is not None
        expired = db.audit_since(start, "auth.session_expired")
        assert [(e["target_id"], e["after"]) for e in expired] == [
            (str(row["id"]), {"reason": "idle_timeout"})
        ]
        assert not db.audit_since(start, "download")
        assert not db.rows(
            "SELECT id FROM downloadevent WHERE customer_id = :c", c=row["customer_id"]
        )
        # Back on /portal, the session stays ended, and the page still says why.
        page.goto(f"{app.base_url}/portal")
        page.wait_for_url(re.compile(r"/login/?\?reason=idle_timeout"))
    finally:
        context.close()


def test_absolute_timeout_on_reload(running_app, browser, db, sign_in_api):
    app = running_app
    sid = sign_in_api("nikos@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = open_portal(context, app, sid)
        row = db.session_row(sid)
        start = db.max_audit_id()
        ended = datetime.now(UTC) - timedelta(minutes=1)
        assert db.execute(
            "UPDATE authsession SET expires_at = :t WHERE id = :i", t=sqlite_utc(ended), i=row["id"]
        )
        page.reload()
        page.wait_for_url(re.compile(r"/login/?\?reason="))
        page.wait_for_timeout(1500)  # every redirect the reload causes has arrived by now
        assert "reason=absolute_timeout" in page.url, (
            f"landed on {page.url}: /portal's two guarded on_load handlers (NavState.load, "
            "PortalState.load) both redirect; the first ends the session (absolute_timeout), "
            "the second finds it revoked and sends reason=missing, which wins"
        )
        expect(page.get_by_test_id("login-notice")).to_have_text(
            "Your session reached its time limit. Sign in to continue."
        )
        expect(page.get_by_test_id("greeting")).to_have_count(0)
        assert db.session_row(sid)["revoked_at"] is not None
        expired = db.audit_since(start, "auth.session_expired")
        assert [(e["target_id"], e["after"]) for e in expired] == [
            (str(row["id"]), {"reason": "absolute_timeout"})
        ]
    finally:
        context.close()


# --- 3. sign out ---------------------------------------------------------------------------------


def test_sign_out_button_ends_the_session(running_app, browser, db, sign_in_api):
    """The "Sign out" button is a form that must POST to /auth/logout (only the server can clear
    an HttpOnly cookie)."""
    app = running_app
    sid = sign_in_api("sam@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = open_portal(context, app, sid)
        expect(page.get_by_test_id("greeting")).to_have_text("Hello, Sam Okafor")
        posts = []
        page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
        page.locator("form[action='/auth/logout'] button").click()
        page.wait_for_timeout(1500)
        assert posts == [f"{app.base_url}/auth/logout"], (
            "clicking Sign out sent no POST to /auth/logout: Reflex's rx.el.form adds an onSubmit "
            "that calls preventDefault(), so the native form post never happens"
        )
        page.wait_for_url(re.compile(r"/login/?\?reason=signed_out"))
        expect(page.get_by_test_id("login-notice")).to_have_text("You are signed out.")
        assert cookie_in(context) is None
        assert db.session_row(sid)["revoked_at"] is not None
        page.goto(f"{app.base_url}/portal")
        page.wait_for_url(re.compile(r"/login/?\?reason=missing"))
        expect(page.get_by_test_id("greeting")).to_have_count(0)
    finally:
        context.close()


def test_logout_route_revokes_the_session(running_app, browser, db, sign_in_api):
    """What the button posts to: POST /auth/logout with the cookie."""
    app = running_app
    sid = sign_in_api("sam@example.com")
    start = db.max_audit_id()
    # Another site cannot sign you out (CSRF check on the Origin).
    status, _, _ = http_request(
        f"{app.base_url}/auth/logout",
        "POST",
        b"",
        {"Cookie": f"portal_sid={sid}", "Origin": "https://evil.example"},
    )
    assert status == 403
    assert db.session_row(sid)["revoked_at"] is None

    status, headers, _ = http_request(
        f"{app.base_url}/auth/logout",
        "POST",
        b"",
        {"Cookie": f"portal_sid={sid}", "Origin": app.base_url},
    )
    assert status == 303
    assert headers["location"] == ["/login?reason=signed_out"]
    cleared = [h for h in headers.get("set-cookie", []) if h.startswith("portal_sid=")]
    assert len(cleared) == 1 and re.search(r"(?i)max-age=0|expires=Thu, 01 Jan 1970", cleared[0])
    assert db.session_row(sid)["revoked_at"] is not None
    assert [e["target_id"] for e in db.audit_since(start, "auth.sign_out")] == [
        str(db.session_row(sid)["id"])
    ]

    # The browser lands on the notice; the old cookie, replayed, is worth nothing now.
    replay = browser.new_context()
    try:
        page = replay.new_page()
        page.goto(f"{app.base_url}/login?reason=signed_out")
        expect(page.get_by_test_id("login-notice")).to_have_text("You are signed out.")
        add_session_cookie(replay, app, sid)
        page.goto(f"{app.base_url}/portal")
        page.wait_for_url(re.compile(r"/login/?\?reason=signed_out"))
        expect(page.get_by_test_id("greeting")).to_have_count(0)
    finally:
        replay.close()


# --- 4. ending another session -----------------------------------------------------------------


def test_customer_ends_another_session(running_app, browser, db, sign_in_api):
    app = running_app
    tag = secrets.token_hex(3)
    first_device, second_device = f"FirstDevice-{tag}", f"SecondDevice-{tag}"
    first_sid = sign_in_api("li@example.com", user_agent=first_device)
    second_sid = sign_in_api("li@example.com", user_agent=second_device)
    first_row, second_row = db.session_row(first_sid), db.session_row(second_sid)
    assert (first_row["user_agent"], second_row["user_agent"]) == (first_device, second_device)
    first_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    second_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        second = open_portal(second_ctx, app, second_sid)
        first = open_portal(first_ctx, app, first_sid)

        def session_row(page, device: str):
            where = section(page, "Where you are signed in")
            return where.locator(".rt-Flex").filter(has_text=device).last

        mine = session_row(first, first_device)
        expect(mine.get_by_text("This device")).to_be_visible()
        expect(mine.get_by_role("button", name="Sign out")).to_have_count(0)
        other = session_row(first, second_device)
        expect(other.get_by_text("This device")).to_have_count(0)
        start = db.max_audit_id()
        other.get_by_role("button", name="Sign out").click()
        expect(first.get_by_text("That session has been signed out.")).to_be_visible()
        expect(session_row(first, second_device)).to_have_count(0)
        assert db.session_row(second_sid)["revoked_at"] is not None
        assert db.session_row(first_sid)["revoked_at"] is None
        ended = db.audit_since(start, "auth.session_ended")
        assert [e["target_id"] for e in ended] == [str(second_row["id"])]

        # The other browser's next action (ending the first session from its stale list) sends
        # it to the sign-in page and does nothing.
        session_row(second, first_device).get_by_role("button", name="Sign out").click()
        second.wait_for_url(re.compile(r"/login/?\?reason=ended"))
        assert db.session_row(first_sid)["revoked_at"] is None
        first.reload()
        expect(first.get_by_test_id("greeting")).to_have_text("Hello, Li Wei")
    finally:
        first_ctx.close()
        second_ctx.close()


# --- 5. paying an invoice ----------------------------------------------------------------------


def open_invoices(db, customer_id: int) -> list[dict]:
    return db.rows(
        "SELECT * FROM invoice WHERE customer_id = :c AND status = 'open' ORDER BY id",
        c=customer_id,
    )


def payments(db, invoice_id: int) -> list[dict]:
    return db.rows("SELECT * FROM payment WHERE invoice_id = :i ORDER BY id", i=invoice_id)


def test_pay_open_invoice_with_working_card(running_app, page_at, db):
    ada = db.customer_id("ada@example.com")
    invoices = open_invoices(db, ada)
    assert len(invoices) == 1, invoices
    invoice = invoices[0]
    assert payments(db, invoice["id"]) == []

    page = page_at(1280)
    sign_in_via_mailbox(page, running_app, "ada@example.com")
    expect(page.get_by_test_id("greeting")).to_have_text("Hello, Ada Lovelace")
    pay = page.get_by_test_id("pay-invoice")
    expect(pay).to_have_count(1)
    pay.click()
    expect(page.get_by_text("Payment received. Thank you!")).to_be_visible()
    expect(page.get_by_text("Nothing to pay. You are all set.")).to_be_visible()

    assert db.scalar("SELECT status FROM invoice WHERE id = :i", i=invoice["id"]) == "paid"
    made = payments(db, invoice["id"])
    assert [(p["status"], p["amount"]) for p in made] == [("succeeded", invoice["total"])]
    assert invoice["total"] == 49000
    charges = db.rows(
        "SELECT * FROM sandboxcharge WHERE idempotency_key = :k", k=made[0]["idempotency_key"]
    )
    assert [(c["status"], c["amount"]) for c in charges] == [("succeeded", 49000)]


def test_declined_card_charges_nothing_then_another_card_pays(running_app, page_at, db):
    olga = db.customer_id("olga@example.com")
    invoices = open_invoices(db, olga)
    assert len(invoices) == 1, invoices
    invoice = invoices[0]
    cards = db.rows("SELECT * FROM paymentmethod WHERE customer_id = :c ORDER BY id", c=olga)
    default = [c for c in cards if c["is_default"]]
    assert [c["last4"] for c in default] == ["9995"]  # the sandbox's insufficient-funds card
    good = next(c for c in cards if c["last4"] == "4242")
    before = payments(db, invoice["id"])
    assert not [p for p in before if p["status"] == "succeeded"]
    charges_before = db.scalar("SELECT COUNT(*) FROM sandboxcharge WHERE status = 'succeeded'")

    page = page_at(1280)
    sign_in_via_mailbox(page, running_app, "olga@example.com")
    page.get_by_test_id("pay-invoice").click()
    expect(page.get_by_text("Your card has insufficient funds.")).to_be_visible()
    expect(page.get_by_test_id("pay-invoice")).to_have_count(1)
    after_decline = payments(db, invoice["id"])
    new = after_decline[len(before) :]
    assert [(p["status"], p["failure_code"]) for p in new] == [("failed", "insufficient_funds")]
    assert db.scalar("SELECT status FROM invoice WHERE id = :i", i=invoice["id"]) == "open"
    assert (
        db.scalar("SELECT COUNT(*) FROM sandboxcharge WHERE status = 'succeeded'") == charges_before
    )

    page.goto(f"{running_app.base_url}/payment-methods")
    rows = page.get_by_test_id("card-row")
    expect(rows).to_have_count(2)
    make_default = page.get_by_role("button", name="Make default")
    expect(make_default).to_have_count(1)  # only the other card, Visa •••• 4242
    make_default.click()
    expect(page.get_by_text("Default card updated.")).to_be_visible()
    assert db.scalar("SELECT is_default FROM paymentmethod WHERE id = :i", i=good["id"]) == 1

    page.goto(f"{running_app.base_url}/portal")
    page.get_by_test_id("pay-invoice").click()
    expect(page.get_by_text("Payment received. Thank you!")).to_be_visible()
    assert db.scalar("SELECT status FROM invoice WHERE id = :i", i=invoice["id"]) == "paid"
    succeeded = [p for p in payments(db, invoice["id"]) if p["status"] == "succeeded"]
    assert len(succeeded) == 1
    assert succeeded[0]["payment_method_id"] == good["id"]
    assert succeeded[0]["amount"] == invoice["total"]


# --- screenshots ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_of_sign_in_pages(
    running_app, page_at, db, api_key, sign_in_api, screenshot_dir, width
):
    app = running_app
    page = page_at(width)
    page.goto(f"{app.base_url}/login")
    expect(page.get_by_role("button", name="Email me a sign-in link")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=screenshot_dir / f"login-{width}.png", full_page=True)

    status, data = create_portal_link(app, api_key, db.customer_id("zoe@example.com"))
    assert status == 201
    page.goto(data["url"])
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=screenshot_dir / f"confirm-{width}.png", full_page=True)

    portal = page_at(width)
    add_session_cookie(portal.context, app, sign_in_api("zoe@example.com"))
    portal.goto(f"{app.base_url}/portal")
    expect(portal.get_by_test_id("greeting")).to_have_text("Hello, Zoë Ångström")
    assert portal.evaluate("document.documentElement.scrollWidth") <= width
    portal.screenshot(path=screenshot_dir / f"portal-{width}.png", full_page=True)


# --- 6. staff -------------------------------------------------------------------------------------


def test_cli_creates_admin_and_api_key(running_app, db):
    """The documented first-run commands work against the server's database; the key they print
    is accepted by the API and the new admin can sign in."""
    app = running_app
    password = "Cli-admin-" + secrets.token_urlsafe(12)
    remember_secret("password", password)
    email = f"cli-{secrets.token_hex(3)}@acme.example"
    out = portal_cli(
        app, "create-admin", "--email", email, "--password-stdin", stdin=password + "\n"
    )
    assert out.startswith(f"created owner {email} (id ")
    out = portal_cli(app, "create-api-key", "--name", "cli-test")
    key = re.search(r"sk_portal_[A-Za-z0-9_\-]{40,}", out)
    assert key, out
    remember_secret("api_key", key.group(0))
    status, data = create_portal_link(app, key.group(0), db.customer_id("nikos@example.com"))
    assert status == 201, data
    status, headers, _ = http_request(
        f"{app.base_url}/auth/staff/login",
        "POST",
        f"email={email}&password={password}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 303 and headers["location"] == ["/merchant"]
    name, cookie = headers["set-cookie"][0].split(";")[0].split("=", 1)
    remember_secret("session_id", cookie)
    assert name == STAFF_COOKIE


# --- 6. staff sign-in -----------------------------------------------------------------------------


def staff_sign_in_form(page, app, email: str, password: str) -> None:
    page.goto(f"{app.base_url}/merchant/login")
    page.locator("#staff-email").fill(email)
    page.locator("#staff-password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def staff_sign_in_http(app, email: str, password: str, client_ip: str = "") -> tuple[int, dict]:
    """What the sign-in form posts (same origin), optionally from another client address (the
    test server trusts one proxy hop)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": app.base_url}
    if client_ip:
        headers["X-Forwarded-For"] = client_ip
    status, headers, _ = http_request(
        f"{app.base_url}/auth/staff/login",
        "POST",
        urlencode({"email": email, "password": password}).encode(),
        headers,
    )
    return status, headers


def test_staff_sign_in_form(running_app, page_at, db, staff_admin):
    """The merchant sign-in page's form must POST to /auth/staff/login and land on /merchant."""
    app = running_app
    page = page_at(1280)
    posts = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    staff_sign_in_form(page, app, staff_admin.email, staff_admin.password)
    page.wait_for_timeout(1500)
    assert posts == [f"{app.base_url}/auth/staff/login"], (
        "submitting the merchant sign-in form sent no POST: Reflex's rx.el.form adds an onSubmit "
        "that calls preventDefault(), so the native form post never happens"
    )
    page.wait_for_url(re.compile(r"/merchant/?$"))
    expect(page.get_by_test_id("merchant-heading")).to_have_text("Acme Cloud dashboard")
    cookie = cookie_in(page.context, STAFF_COOKIE)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    remember_secret("session_id", cookie["value"])
    assert cookie_in(page.context) is None  # staff sign-in sets no customer cookie

    # The dashboard's "Sign out" posts to the staff route and ends only the staff session.
    posts.clear()
    page.locator("form[action='/auth/staff/logout'] button").click()
    page.wait_for_url(re.compile(r"/merchant/login/?\?reason=signed_out"))
    assert posts == [f"{app.base_url}/auth/staff/logout"]
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert cookie_in(page.context, STAFF_COOKIE) is None
    assert db.session_row(cookie["value"])["revoked_at"] is not None
    page.goto(f"{app.base_url}/merchant")
    page.wait_for_url(re.compile(r"/merchant/login/?\?reason=missing"))
    expect(page.get_by_test_id("merchant-heading")).to_have_count(0)


def test_staff_dashboard_and_refusals(
    running_app, page_at, db, staff_admin, sign_in_api, screenshot_dir
):
    app = running_app
    for width in (1280, 375):
        status, headers = staff_sign_in_http(app, staff_admin.email, staff_admin.password)
        assert status == 303 and headers["location"] == ["/merchant"]
        jar = SimpleCookie()
        for header in headers["set-cookie"]:
            jar.load(header)
        sid = remember_secret("session_id", jar[STAFF_COOKIE].value)
        assert jar[STAFF_COOKIE]["httponly"] and jar[STAFF_COOKIE]["samesite"].lower() == "lax"
        assert COOKIE not in jar
        assert db.session_row(sid)["role"] == "staff"

        page = page_at(width)
        add_session_cookie(page.context, app, sid, STAFF_COOKIE)
        page.goto(f"{app.base_url}/merchant")
        expect(page.get_by_test_id("merchant-heading")).to_have_text("Acme Cloud dashboard")
        expect(page.get_by_text(re.compile(r"^Audit chain intact \(\d+ events\)$"))).to_be_visible()
        expect(page.get_by_text(f"Signed in as {staff_admin.email}")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=screenshot_dir / f"merchant-{width}.png", full_page=True)

    # A wrong password: back to the form, no session, no dashboard. From an address of its own:
    # the lock-out it starts holds for (this account, that address) only, so the member (and the
    # tests after this one) still sign in from 127.0.0.1.
    start = db.max_audit_id()
    status, headers = staff_sign_in_http(
        app, staff_admin.email, staff_admin.password + "x", client_ip="203.0.113.66"
    )
    assert status == 303 and headers["location"] == ["/merchant/login?error=1"]
    assert "set-cookie" not in headers
    assert [e["result"] for e in db.audit_since(start, "auth.password_failed")] == ["denied"]
    assert not db.audit_since(start, "auth.sign_in")
    # ... and the member still signs in from their own address at once
    assert staff_sign_in_http(app, staff_admin.email, staff_admin.password)[0] == 303
    page = page_at(1280)
    page.goto(f"{app.base_url}/merchant/login?error=1")
    expect(page.locator("#staff-password")).to_be_visible()
    page.goto(f"{app.base_url}/merchant")
    page.wait_for_url(re.compile(r"/merchant/login/?\?reason=missing"))
    expect(page.get_by_test_id("merchant-heading")).to_have_count(0)

    # A customer's session is no key to the dashboard: not as the customer cookie (the dashboard
    # reads only the staff cookie), nor put under the staff cookie's name (wrong role).
    ben_sid = sign_in_api("ben@example.com")
    for name, reason in ((COOKIE, "missing"), (STAFF_COOKIE, "wrong_role")):
        customer = page_at(1280)
        add_session_cookie(customer.context, app, ben_sid, name)
        customer.goto(f"{app.base_url}/merchant")
        customer.wait_for_url(re.compile(rf"/merchant/login/?\?reason={reason}"))
        expect(customer.get_by_test_id("merchant-heading")).to_have_count(0)
        expect(customer.get_by_text("Audit chain")).to_have_count(0)


# --- 7. merchant API ----------------------------------------------------------------------------


def test_merchant_api_portal_session(running_app, page_at, db, api_key):
    app = running_app
    zoe = db.customer_id("zoe@example.com")

    status, data = create_portal_link(app, api_key, zoe)
    assert status == 201, data
    assert data["customer_id"] == zoe
    assert data["url"].startswith(f"{app.base_url}/auth/verify?token=")
    expires = datetime.fromisoformat(data["expires_at"])
    assert timedelta(minutes=55) < expires - datetime.now(UTC) <= timedelta(minutes=60)

    wrong_key = "sk_portal_" + secrets.token_urlsafe(32)
    status, error = create_portal_link(app, wrong_key, zoe)
    assert status == 401 and error["error"]["code"] == "invalid_api_key", error
    status, _, _ = http_request(
        f"{app.base_url}/api/v1/portal-sessions", "POST", b'{"customer_id": 1}', {}
    )
    assert status == 401
    status, error = create_portal_link(app, api_key, zoe, "https://evil.example/back")
    assert status == 400 and error["error"]["code"] == "return_url_not_allowed", error
    assert "return_url" in error["error"]["message"]
    status, error = create_portal_link(app, api_key, 999_999)
    assert status == 404

    # The link from the first call signs Zoë in once (the later calls made no new token).
    sessions_before = db.count_sessions(zoe)
    page = page_at(1280)
    page.goto(data["url"])
    expect(page.get_by_text("Continue as zoe@example.com")).to_be_visible()
    assert db.count_sessions(zoe) == sessions_before
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"^{re.escape(app.base_url)}/?$"))
    cookie = cookie_in(page.context)
    assert cookie is not None
    remember_secret("session_id", cookie["value"])
    assert db.session_row(cookie["value"])["customer_id"] == zoe
    assert db.count_sessions(zoe) == sessions_before + 1
    page.goto(f"{app.base_url}/portal")
    expect(page.get_by_test_id("greeting")).to_have_text("Hello, Zoë Ångström")
