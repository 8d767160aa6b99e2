"""Browser-test fixtures: one production build of the app per session, served by
`reflex run --env prod` on a free port against a scratch SQLite database (migrated with
`reflex db migrate` and seeded with `python -m portal_app.cli seed-demo`), driven by Playwright
in Debian's Chromium. Run these in their own pytest process (`make test` does)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import hmac
import http.client
import itertools
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa

from tests.browser import harness
from tests.browser.harness import connect_event_socket, start_group, stop_group

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = float(os.environ.get("PORTAL_BROWSER_START_TIMEOUT", "300"))
# Tests marked `after_all_tests` (the secret scan) run after every other collected test, in the
# order they were collected: an explicit step at the end of the session, whatever the file names.
AFTER_ALL_TESTS = "after_all_tests"


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", f"{AFTER_ALL_TESTS}: runs after every other test of the session"
    )


def pytest_collection_modifyitems(config, items) -> None:
    items.sort(key=lambda item: item.get_closest_marker(AFTER_ALL_TESTS) is not None)


@dataclass(frozen=True)
class RunningApp:
    base_url: str
    db_url: str
    log_path: Path
    # The server's environment (PORTAL_DB_URL, PORTAL_SECRET_FILE, ...): CLI commands run with it.
    env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    web_dir: Path | None = None  # REFLEX_WEB_WORKDIR: the compiled frontend of this run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _app_env(tmp: Path, db_url: str, port: int) -> dict[str, str]:
    # The server gets its own random secret (PORTAL_SECRET_FILE below), not the unit tests' key.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_REDIS_URL") and k != "PORTAL_SECRET_KEY"
    }
    tools_bin = ROOT / ".tools" / "node_modules" / ".bin"
    path = [str(Path(sys.executable).parent), env.get("PATH", "")]
    if tools_bin.is_dir():
        path.insert(0, str(tools_bin))
    env.update(
        PATH=os.pathsep.join(path),
        PORTAL_DB_URL=db_url,
        REFLEX_DB_URL=db_url,
        PORTAL_PUBLIC_URL=f"http://localhost:{port}",
        PORTAL_PORT=str(port),
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_TELEMETRY_ENABLED="false",
        # A private build and state directory: a `make run` on port 3000 keeps its own .web/.
        REFLEX_WEB_WORKDIR=str(tmp / "web"),
        REFLEX_STATES_WORKDIR=str(tmp / "states"),
        PORTAL_FILES_DIR=str(tmp / "files"),
        PYTHONUNBUFFERED="1",
        PORTAL_DEV_MAILBOX="1",
        PORTAL_SECRET_FILE=str(tmp / "secret"),
        # As behind one reverse proxy: the last X-Forwarded-For entry is the client. Tests that
        # sign many customers in through the mailbox give each browser its own address (see
        # `fresh_client_ip`) so the per-IP link limits apply per simulated client, as in
        # production; a request without the header is limited by its TCP peer (127.0.0.1).
        PORTAL_TRUSTED_PROXIES="1",
        # Webhook endpoints on this machine (the tests' receivers listen on 127.0.0.1).
        PORTAL_WEBHOOK_ALLOW_PRIVATE="1",
    )
    return env


def _tail(path: Path, chars: int = 6000) -> str:
    return path.read_text(errors="replace")[-chars:]


def _run(cmd: list[str], env: dict[str, str], log, log_path: Path) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        log.flush()
        pytest.fail(
            f"{' '.join(cmd[1:])} exited with {done.returncode}:\n{_tail(log_path)}",
            pytrace=False,
        )


def _wait_until_up(base_url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"reflex run exited with {proc.returncode}:\n{_tail(log_path)}", pytrace=False
            )
        try:
            with urllib.request.urlopen(f"{base_url}/ping", timeout=2) as ping:
                if ping.status == 200:
                    with urllib.request.urlopen(f"{base_url}/", timeout=5) as page:
                        if page.status == 200:
                            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"app not up after {START_TIMEOUT:.0f}s:\n{_tail(log_path)}", pytrace=False)


@pytest.fixture(scope="session")
def running_app(tmp_path_factory) -> Iterator[RunningApp]:
    tmp = tmp_path_factory.mktemp("app")
    port = _free_port()
    with _scaled_out() as scaled:
        db_url = scaled["db_url"] if scaled else f"sqlite:///{tmp / 'portal.db'}"
        env = _app_env(tmp, db_url, port)
        if scaled:
            env.update(
                PORTAL_REDIS_URL=scaled["redis_url"],
                REFLEX_REDIS_URL=scaled["redis_url"],
                GRANIAN_WORKERS=str(scaled["workers"]),
            )
        yield from _serve(tmp, port, db_url, env)


# Servers other than `running_app` started this session (`own_app`): the secret scan reads their
# database and log too. Each is the plain layout (SQLite file, one worker), so both outlive it.
OTHER_APPS: list[RunningApp] = []


@pytest.fixture(scope="module")
def own_app(tmp_path_factory) -> Iterator[RunningApp]:
    """A second server with its own freshly migrated and seeded database, for the tests of one
    module that change what every other test shares (the demo merchant's test clock), whatever
    order the files run in."""
    tmp = tmp_path_factory.mktemp("own-app")
    port = _free_port()
    db_url = f"sqlite:///{tmp / 'portal.db'}"
    for app in _serve(tmp, port, db_url, _app_env(tmp, db_url, port)):
        OTHER_APPS.append(app)
        yield app


@pytest.fixture(scope="module")
def stripe_app(tmp_path_factory, localstripe) -> Iterator[RunningApp]:
    """A server that charges through Stripe (PORTAL_GATEWAY=stripe) on localstripe, whose
    webhooks go to its /webhooks/stripe. Its demo data is seeded on the sandbox (the seed's cards
    are typed in; Stripe's are added in the browser)."""
    from tests import localstripe_peer

    tmp = tmp_path_factory.mktemp("stripe-app")
    port = _free_port()
    db_url = f"sqlite:///{tmp / 'portal.db'}"
    seed_env = _app_env(tmp, db_url, port)
    env = {
        **seed_env,
        "PORTAL_GATEWAY": "stripe",
        "PORTAL_STRIPE_SECRET_KEY": localstripe_peer.SECRET_KEY,
        "PORTAL_STRIPE_PUBLISHABLE_KEY": localstripe_peer.PUBLISHABLE_KEY,
        "PORTAL_STRIPE_WEBHOOK_SECRET": localstripe_peer.WEBHOOK_SECRET,
        "PORTAL_STRIPE_API_BASE": localstripe.base,
    }
    for app in _serve(tmp, port, db_url, env, seed_env=seed_env):
        localstripe.add_webhook(f"browser-{port}", f"{app.base_url}/webhooks/stripe")
        OTHER_APPS.append(app)
        yield app
        localstripe.add_webhook(f"browser-{port}", "http://127.0.0.1:9/gone")


# PORTAL_BROWSER_SCALED=1: the same tests against the scaled-out layout — PostgreSQL, Redis as
# Reflex's state manager and for rate limits, several backend workers (PORTAL_BROWSER_WORKERS).
SCALED = os.environ.get("PORTAL_BROWSER_SCALED") == "1"
PG_ADMIN_URL = os.environ.get("PORTAL_BROWSER_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("PORTAL_BROWSER_REDIS", "redis://127.0.0.1:6379")


@contextlib.contextmanager
def _scaled_out() -> Iterator[dict | None]:
    """A fresh PostgreSQL database and an empty Redis database number for one test session."""
    if not SCALED:
        yield None
        return
    import redis

    name = f"portal_browser_{secrets.token_hex(4)}"
    admin = sa.create_engine(f"{PG_ADMIN_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    client, db_number = None, None
    for number in range(8, 16):
        candidate = redis.Redis.from_url(f"{REDIS_URL}/{number}")
        if candidate.dbsize() == 0:
            client, db_number = candidate, number
            break
    assert client is not None, f"no empty Redis database among 8..15 on {REDIS_URL}"
    try:
        yield {
            "db_url": f"{PG_ADMIN_URL}/{name}",
            "redis_url": f"{REDIS_URL}/{db_number}",
            "workers": int(os.environ.get("PORTAL_BROWSER_WORKERS", "2")),
        }
    finally:
        client.flushdb()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _serve(
    tmp: Path, port: int, db_url: str, env: dict[str, str], seed_env: dict[str, str] | None = None
) -> Iterator[RunningApp]:
    log_path = tmp / "reflex.log"
    base_url = f"http://localhost:{port}"
    with log_path.open("w") as log:
        _run([sys.executable, "-m", "reflex", "db", "migrate"], env, log, log_path)
        _run([sys.executable, "-m", "portal_app.cli", "seed-demo"], seed_env or env, log, log_path)
        cmd = [sys.executable, "-m", "reflex", "run", "--env", "prod"]
        cmd += ["--frontend-port", str(port), "--backend-port", str(port)]
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = start_group(cmd, cwd=ROOT, env=env, log=log)
        try:
            _wait_until_up(base_url, proc, log_path)
            yield RunningApp(
                base_url=base_url,
                db_url=db_url,
                log_path=log_path,
                env=env,
                web_dir=tmp / "web",
            )
        finally:
            stop_group(proc)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_at(browser, running_app):
    """page_at(width) -> a fresh page in its own context; JS errors fail the test."""
    contexts, errors = [], []

    def open_page(width: int, height: int = 900, client_ip: str | None = None):
        headers = {"X-Forwarded-For": client_ip} if client_ip else None
        context = browser.new_context(
            viewport={"width": width, "height": height}, extra_http_headers=headers
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# --- Helpers for the sign-in, authorization and secret-scan tests ---------------------------------
#
# Everything a test sees that must never be stored or logged in the clear (magic-link tokens,
# session cookies, API keys, passwords) goes into SEEN_SECRETS; test_secret_scan.py, marked to run
# after every other test (`after_all_tests`), searches the servers' databases and logs for each.

SEEN_SECRETS: list[tuple[str, str]] = []  # (kind, value)
# The public URL is http://, so no __Host- prefix. Customers and staff have separate cookies.
COOKIE = "portal_sid"
STAFF_COOKIE = "portal_staff_sid"
PORTAL_STATE = (
    "reflex___state____state.portal_app___state___guard____private_state"
    ".portal_app___state___portal_home____portal_state"
)
MERCHANT_STATE = (
    "reflex___state____state.portal_app___state___guard____private_state"
    ".portal_app___state___merchant_home____merchant_state"
)
SESSION_STATE = "reflex___state____state.portal_app___state___guard____session_state"
LOGIN_STATE = "reflex___state____state.portal_app___state___login____login_state"
ROOT_STATE = harness.ROOT_STATE
VERIFY_LINK = re.compile(r"https?://[^\s\"'<>]+/auth/verify\?token=([A-Za-z0-9_\-%]+)")


def remember_secret(kind: str, value: str) -> str:
    if value and (kind, value) not in SEEN_SECRETS:
        SEEN_SECRETS.append((kind, value))
    return value


@pytest.fixture(scope="session")
def seen_secrets() -> list[tuple[str, str]]:
    return SEEN_SECRETS


def app_python(
    app: RunningApp, args: list[str], stdin: str | None = None
) -> subprocess.CompletedProcess:
    """`python <args>` with the server's environment, its output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=app.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def portal_cli(app: RunningApp, *args: str, stdin: str | None = None) -> str:
    """`python -m portal_app.cli ...` against the server's database and secret. The output is
    captured here, never written to the server log (create-api-key prints the key once)."""
    done = app_python(app, ["-m", "portal_app.cli", *args], stdin)
    if done.returncode != 0:
        pytest.fail(f"portal {' '.join(args)} failed: {done.stderr or done.stdout}", pytrace=False)
    return done.stdout.strip()


class AppDB:
    """Direct reads (and a few test-only writes) on the server's database."""

    def __init__(self, app: RunningApp):
        sqlite = app.db_url.startswith("sqlite")
        self.engine = sa.create_engine(
            app.db_url, connect_args={"timeout": 30} if sqlite else {}, pool_pre_ping=True
        )
        # As portal_app.config.load_settings: PORTAL_SECRET_KEY (tests/conftest.py sets one for
        # the unit tests, and the server inherits it), else the key in PORTAL_SECRET_FILE.
        self._secret_key = app.env.get("PORTAL_SECRET_KEY") or None
        self._secret_file = Path(app.env["PORTAL_SECRET_FILE"])

    def table_names(self) -> list[str]:
        return sorted(sa.inspect(self.engine).get_table_names())

    def rows(self, sql: str, **params) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def execute(self, sql: str, **params) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.text(sql), params).rowcount

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 under the server's secret: how session ids and tokens are stored."""
        secret = (self._secret_key or self._secret_file.read_text().strip()).encode()
        return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()

    def customer_id(self, email: str) -> int:
        found = self.scalar("SELECT id FROM customer WHERE email = :e", e=email)
        assert found is not None, f"no seeded customer {email}"
        return found

    def session_row(self, sid: str) -> dict:
        rows = self.rows("SELECT * FROM authsession WHERE sid_hash = :h", h=self.keyed_hash(sid))
        assert len(rows) == 1, "the session cookie matches no stored (hashed) session"
        return rows[0]

    def count_sessions(self, customer_id: int) -> int:
        return self.scalar("SELECT COUNT(*) FROM authsession WHERE customer_id = :c", c=customer_id)

    def max_audit_id(self) -> int:
        return self.scalar("SELECT COALESCE(MAX(id), 0) FROM auditevent")

    def audit_since(self, after_id: int, action: str | None = None) -> list[dict]:
        sql = "SELECT * FROM auditevent WHERE id > :a"
        if action:
            sql += " AND action = :act"
        rows = self.rows(sql + " ORDER BY id", a=after_id, act=action)
        for row in rows:
            for key in ("before", "after"):
                if isinstance(row[key], str):
                    row[key] = json.loads(row[key])
        return rows


def sqlite_utc(moment: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite: a naive ISO string with microseconds."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


@pytest.fixture(scope="session")
def db(running_app) -> Iterator[AppDB]:
    handle = AppDB(running_app)
    yield handle
    handle.engine.dispose()


# The same two operations through the service layer, for when the CLI fails (a CLI failure is
# reported by test_sign_in.py::test_cli_creates_admin_and_api_key; the other tests go on).
_SERVICE_SCRIPT = """
import sys
from sqlmodel import select
from portal_app.clock import SystemClock
from portal_app.db import session_scope
from portal_app.models import Merchant
from portal_app.services import api_keys, audit, portal_links, staff_auth
what, arg = sys.argv[1], sys.argv[2]
actor = audit.Actor("system", "browser-tests")
with session_scope() as session:
    merchant_id = session.exec(select(Merchant.id).where(Merchant.slug == "acme")).one()
    if what == "api_key":
        print(api_keys.create_api_key(session, SystemClock(), merchant_id=merchant_id, name=arg,
                                  actor=actor))
    else:
        staff = staff_auth.create_staff(session, SystemClock(), merchant_id=merchant_id, email=arg,
                                  password=sys.stdin.readline().rstrip("\\n"), actor=actor)
        print(f"created owner {staff.email} (id {staff.id})")
"""


def _cli_or_service(app: RunningApp, cli_args: list[str], what: str, arg: str, stdin=None) -> str:
    done = app_python(app, ["-m", "portal_app.cli", *cli_args], stdin)
    if done.returncode == 0:
        return done.stdout.strip()
    done = app_python(app, ["-c", _SERVICE_SCRIPT, what, arg], stdin)
    if done.returncode != 0:
        pytest.fail(f"creating {what} failed: {done.stderr or done.stdout}", pytrace=False)
    return done.stdout.strip()


@pytest.fixture(scope="session")
def api_key(running_app) -> str:
    out = _cli_or_service(
        running_app, ["create-api-key", "--name", "browser-tests"], "api_key", "browser-tests"
    )
    match = re.search(r"sk_portal_[A-Za-z0-9_\-]+", out)
    assert match, f"create-api-key printed no key: {out!r}"
    return remember_secret("api_key", match.group(0))


@dataclass(frozen=True)
class StaffLogin:
    email: str
    password: str


@pytest.fixture(scope="session")
def staff_admin(running_app) -> StaffLogin:
    login = StaffLogin("owner@acme.example", "Corr3ct-horse-" + secrets.token_urlsafe(12))
    remember_secret("password", login.password)
    out = _cli_or_service(
        running_app,
        ["create-admin", "--email", login.email, "--password-stdin"],
        "staff",
        login.email,
        stdin=login.password + "\n",
    )
    assert "created owner owner@acme.example" in out, out  # create-admin makes an owner
    return login


def http_request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, list[str]], bytes]:
    """One HTTP request, redirects not followed: (status, headers by lower-case name, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        found: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            found.setdefault(name.lower(), []).append(value)
        return response.status, found, response.read()
    finally:
        conn.close()


def create_portal_link(
    app: RunningApp, key: str, customer_id: int, return_url: str | None = None
) -> tuple[int, dict]:
    payload: dict = {"customer_id": customer_id}
    if return_url is not None:
        payload["return_url"] = return_url
    status, _, body = http_request(
        f"{app.base_url}/api/v1/portal-sessions",
        "POST",
        json.dumps(payload).encode(),
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    data = json.loads(body or b"{}")
    if "url" in data:
        remember_secret("link_token", token_of(data["url"]))
    return status, data


def token_of(link: str) -> str:
    token = parse_qs(urlsplit(link).query).get("token", [""])[0]
    assert token, f"no token in {link!r}"
    return token


def redeem_over_http(app: RunningApp, link: str, user_agent: str = "") -> str:
    """POST the confirmation form the way the page does; returns the session cookie's value.
    `user_agent` names the "device" the customer sees in their list of sessions."""
    remember_secret("link_token", token_of(link))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": app.base_url}
    if user_agent:
        headers["User-Agent"] = user_agent
    status, headers, body = http_request(
        f"{app.base_url}/auth/verify",
        "POST",
        urlencode({"token": token_of(link)}).encode(),
        headers,
    )
    assert status == 303, f"redeeming the link gave {status}: {body[:300]!r}"
    jar = SimpleCookie()
    for header in headers.get("set-cookie", []):
        jar.load(header)
    assert COOKIE in jar, f"no {COOKIE} cookie set: {headers.get('set-cookie')}"
    return remember_secret("session_id", jar[COOKIE].value)


@pytest.fixture
def sign_in_api(running_app, api_key, db):
    """sign_in_api(email) -> the cookie of a fresh customer session, made through the merchant
    API's one-time portal link (no magic-link request, so the per-email limit is not touched)."""

    def sign_in(email: str, user_agent: str = "") -> str:
        status, data = create_portal_link(running_app, api_key, db.customer_id(email))
        assert status == 201, data
        return redeem_over_http(running_app, data["url"], user_agent)

    return sign_in


def staff_sign_in_over_http(app: RunningApp, login: StaffLogin) -> str:
    """POST the merchant sign-in form the way the page does; returns the staff cookie's value."""
    status, headers, body = http_request(
        f"{app.base_url}/auth/staff/login",
        "POST",
        urlencode({"email": login.email, "password": login.password}).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": app.base_url},
    )
    assert status == 303 and headers["location"] == ["/merchant"], (status, body[:300])
    jar = SimpleCookie()
    for header in headers.get("set-cookie", []):
        jar.load(header)
    assert STAFF_COOKIE in jar and COOKIE not in jar, headers.get("set-cookie")
    return remember_secret("session_id", jar[STAFF_COOKIE].value)


def new_owner(app: RunningApp, email_prefix: str, password_prefix: str) -> tuple[str, str]:
    """A fresh owner of the demo merchant, made by `create-admin` (which makes owners)."""
    email = f"{email_prefix}-{secrets.token_hex(3)}@acme.example"
    password = remember_secret("password", password_prefix + secrets.token_urlsafe(12))
    out = portal_cli(
        app, "create-admin", "--email", email, "--password-stdin", stdin=password + "\n"
    )
    assert out.startswith(f"created owner {email} (id "), out
    return email, password


def staff_cookie_value(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == STAFF_COOKIE)


def sign_in_staff(page, app: RunningApp, email: str, password: str) -> None:
    """The merchant sign-in form filled in and sent in `page`; waits for the dashboard and
    remembers the staff cookie for the secret scan."""
    page.goto(f"{app.base_url}/merchant/login")
    page.locator("#staff-email").fill(email)
    page.locator("#staff-password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/merchant/?$"))
    remember_secret("session_id", staff_cookie_value(page))


def add_session_cookie(context, app: RunningApp, sid: str, name: str = COOKIE) -> None:
    """Put a session id into the browser as the customer cookie (or `name`: STAFF_COOKIE)."""
    context.add_cookies(
        [
            {
                "name": name,
                "value": sid,
                "url": app.base_url,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )


def request_link_in_browser(page, app: RunningApp, email: str) -> None:
    """The sign-in form: type the address, submit, wait for the (uniform) answer."""
    page.goto(f"{app.base_url}/login")
    page.locator("#email").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.locator("[data-testid=login-sent], [data-testid=login-error]").first.wait_for()


def newest_link_in_mailbox(page, app: RunningApp, email: str) -> str:
    """Open the dev mailbox and take the link from the newest sign-in mail to `email`.

    The mailbox answers only a direct connection from this machine, without proxy headers, and
    many pages here come through a simulated proxy hop (`X-Forwarded-For`, see `page_at`): it is
    read the way the developer at the demo reads it, in a browser context of its own."""
    context = page.context.browser.new_context()
    try:
        mailbox = context.new_page()
        mailbox.set_default_timeout(20_000)
        mailbox.goto(f"{app.base_url}/dev/mailbox")
        mails = mailbox.get_by_test_id("mail")
        mails.first.wait_for()
        mail = mails.filter(has_text="magic_link").filter(has_text=f"To: {email}").first
        match = VERIFY_LINK.search(mail.get_by_test_id("mail-body").inner_text())
    finally:
        context.close()
    assert match, "the sign-in mail carries no /auth/verify link"
    link = match.group(0)
    remember_secret("link_token", token_of(link))
    return link


_CLIENT_IPS = itertools.count(1)


def fresh_client_ip() -> str:
    """A client address no other page of this run used (198.18.0.0/15 is for testing)."""
    n = next(_CLIENT_IPS)
    return f"198.18.{n // 250}.{n % 250 + 1}"


def cookie_in(context, name: str = COOKIE) -> dict | None:
    """The browser's customer session cookie (or `name`: STAFF_COOKIE), None when absent."""
    return next((c for c in context.cookies() if c["name"] == name), None)


def sign_in_via_mailbox(page, app: RunningApp, email: str) -> str:
    """The whole customer flow in the browser; returns the session cookie's value."""
    request_link_in_browser(page, app, email)
    error = page.get_by_test_id("login-error")
    assert page.get_by_test_id("login-sent").is_visible(), (
        error.inner_text() if error.count() else "neither sent nor an error"
    )
    link = newest_link_in_mailbox(page, app, email)
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/portal/?$"))
    page.get_by_test_id("greeting").wait_for()
    cookie = cookie_in(page.context)
    assert cookie is not None, "signing in set no session cookie"
    return remember_secret("session_id", cookie["value"])


def run_async(coro_fn, *args, timeout: float = 120):
    """Run an async scenario in its own thread and loop (Playwright's sync API owns this one)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro_fn(*args)).result(timeout=timeout)


class RawClient:
    """A bare socket.io client speaking Reflex's event protocol, as the generated
    `.web/utils/state.js` does: namespace and socket.io path `/_event`, the client token in the
    query string, the hydrate event in the CONNECT packet's auth, then `event` messages of
    {name: "<state full name>.<handler>", payload: {...}, router_data: {pathname, asPath, query}}.
    Every `event` message the server sends back is kept in `received`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        cookie: str | None = None,
        staff_cookie: str | None = None,
        origin: str | None = None,
    ):
        """`cookie` goes out as the customer cookie, `staff_cookie` as the staff cookie."""
        import socketio

        self.base_url = base_url
        self.token = token or str(uuid.uuid4())
        self.headers = {"Origin": origin or base_url, "User-Agent": "raw-socketio-test"}
        pairs = ((COOKIE, cookie), (STAFF_COOKIE, staff_cookie))
        header = "; ".join(f"{name}={value}" for name, value in pairs if value)
        if header:
            self.headers["Cookie"] = header
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[dict] = []
        self._arrived = asyncio.Event()
        self.sio.on("event", self._on_event, namespace="/_event")

    async def _on_event(self, data):
        self.received.append(data)
        self._arrived.set()

    @staticmethod
    def router_data(path: str) -> dict:
        return {"pathname": path, "asPath": path}

    async def connect(self, path: str = "/portal", hydrate: bool = True) -> list[dict]:
        router_data = self.router_data(path) if hydrate else None
        await connect_event_socket(
            self.sio, self.base_url, self.token, self.headers, router_data, wait_timeout=10
        )
        return await self.settle() if hydrate else []

    async def settle(self, quiet: float = 0.8, limit: float = 15.0) -> list[dict]:
        """Wait for the answer to what was sent: at least one message, then `quiet` seconds of
        silence. Returns the messages that arrived meanwhile."""
        start = len(self.received)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), quiet)
            except TimeoutError:
                if len(self.received) > start:
                    break
        return self.received[start:]

    async def call(self, handler: str, path: str = "/portal", **payload) -> list[dict]:
        await self.sio.emit(
            "event",
            {"name": handler, "payload": payload, "router_data": self.router_data(path)},
            namespace="/_event",
        )
        return await self.settle()

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


def merged_delta(messages: list[dict]) -> dict[str, dict]:
    """The last value of every var of every state across these messages."""
    merged: dict[str, dict] = {}
    for message in messages:
        for state, values in (message.get("delta") or {}).items():
            merged.setdefault(state, {}).update(values)
    return merged


def sent_events(messages: list[dict]) -> list[dict]:
    return [event for message in messages for event in message.get("events") or []]


def redirects(messages: list[dict]) -> list[str]:
    return [e["payload"]["path"] for e in sent_events(messages) if e.get("name") == "_redirect"]
