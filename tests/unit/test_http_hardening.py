"""The hardening middleware, driven as an ASGI server drives it: uploads need a live admin staff
session and a body within the limit before any of it is read (a declared Content-Length over
the limit, or streamed chunks counted past it, get 413); every response gets the security
headers. The app behind it parses the multipart form with Starlette, as Reflex's /_upload does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import replace

import pytest
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

import portal_app.portal_app as portal
from portal_app.config import DEFAULT_MAX_UPLOAD_BYTES, load_settings
from portal_app.http import hardening
from portal_app.http.common import cookie_name, page
from portal_app.models import StaffUser
from portal_app.services import audit, auth, digital_admin
from portal_app.state.guard import CLOCK

LIMIT = 64 * 1024
BOUNDARY = "portalboundary"


def multipart(size: int, name: str = "handbook.pdf") -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + b"x" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


class Inner:
    """What sits behind the middleware: parses the form (spooling it, like Reflex's upload) and
    records how much of the body it was given."""

    def __init__(self):
        self.calls = 0
        self.parsed: list[int] = []

        async def upload(request: Request):
            self.calls += 1
            form = await request.form()
            sizes = [len(await f.read()) for f in form.getlist("files")]
            self.parsed.extend(sizes)
            await form.close()
            return JSONResponse({"sizes": sizes})

        async def html(request: Request):
            self.calls += 1
            return HTMLResponse("<!doctype html><p>page</p>")

        async def own_policy(request: Request):
            return page("Sign in", "<h1>Sign in</h1>")

        self.app = Starlette(
            routes=[
                Route("/_upload", upload, methods=["POST"]),
                Route("/", html),
                Route("/auth/verify", own_policy),
                Route("/echo", upload, methods=["POST"]),
            ]
        )

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


class Client:
    """Feeds a body in chunks and counts what the app pulled; collects what was sent back."""

    def __init__(self, chunks: list[bytes]):
        self.chunks = list(chunks)
        self.pulled = 0
        self.messages: list[dict] = []

    async def receive(self):
        if not self.chunks:
            return {"type": "http.disconnect"}
        chunk = self.chunks.pop(0)
        self.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message):
        self.messages.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.messages if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return {k.decode().lower(): v.decode() for k, v in start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )


def request(
    middleware,
    path: str = "/_upload",
    *,
    body: bytes = b"",
    chunk: int = 8192,
    declare_length: bool = True,
    cookies: dict[str, str] | None = None,
    method: str = "POST",
) -> Client:
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    if declare_length:
        headers.append((b"content-length", str(len(body)).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    if cookies:
        header = "; ".join(f"{name}={value}" for name, value in cookies.items())
        headers.append((b"cookie", header.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3000),
    }
    client = Client([body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""])
    asyncio.run(middleware(scope, client.receive, client.send))
    return client


@pytest.fixture
def staff(app_db):
    """Session ids by who holds them: the staff member's live session under each role (the
    guard and the middleware read the role from the database at every check), a customer's."""
    sid = app_db["sessions"]["staff"]

    class Sessions(dict):
        def __getitem__(self, who):
            if who == "customer":
                return app_db["sessions"]["alice@example.com"]
            with Session(app_db["engine"]) as session:
                member = session.exec(
                    select(StaffUser).where(StaffUser.email == "ops@example.com")
                ).one()
                member.role = who
                session.add(member)
                session.commit()
            return sid

    return Sessions()


@pytest.fixture
def inner():
    return Inner()


@pytest.fixture
def middleware(inner, monkeypatch):
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "http://localhost:3000")
    return hardening.HardeningMiddleware(inner, replace(load_settings(), max_upload_bytes=LIMIT))


def admin(staff) -> dict[str, str]:
    return {cookie_name("staff"): staff["admin"]}


# --- uploads -------------------------------------------------------------------------------------


def test_authenticated_upload_within_the_limit_passes(middleware, inner, staff):
    for role in ("admin", "owner"):
        sent = request(
            middleware, body=multipart(40_000), cookies={cookie_name("staff"): staff[role]}
        )
        assert sent.status == 200, sent.body
        assert json.loads(sent.body) == {"sizes": [40_000]}
    # chunked, without a length, under the limit: all of it gets through too
    sent = request(middleware, body=multipart(50_000), declare_length=False, cookies=admin(staff))
    assert sent.status == 200 and json.loads(sent.body) == {"sizes": [50_000]}
    assert inner.parsed == [40_000, 40_000, 50_000]


def test_content_length_over_the_limit_is_refused_unread(middleware, inner, staff):
    sent = request(middleware, body=multipart(LIMIT + 1), cookies=admin(staff))
    assert sent.status == 413
    assert "larger than the limit" in json.loads(sent.body)["detail"]
    assert sent.headers["connection"] == "close"
    assert sent.pulled == 0 and inner.calls == 0  # not one byte read, the app never ran


def test_chunked_body_is_counted_and_cut_off_at_the_limit(middleware, inner, staff):
    body = multipart(10 * LIMIT)
    sent = request(middleware, body=body, declare_length=False, cookies=admin(staff))
    assert sent.status == 413, sent.body
    assert "larger than the limit" in json.loads(sent.body)["detail"]
    assert inner.calls == 1 and inner.parsed == []  # the handler never got a file
    assert sent.pulled <= LIMIT + 8192  # read up to the limit plus the chunk that crossed it
    assert len([m for m in sent.messages if m["type"] == "http.response.start"]) == 1


def test_a_lying_content_length_is_still_counted(middleware, inner, staff):
    """A client that declares a small length and sends more (a server that does not enforce the
    declared length would pass it on) is cut off by the count all the same."""
    body = multipart(10 * LIMIT)
    client = Client([body[i : i + 8192] for i in range(0, len(body), 8192)])
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/_upload",
        "headers": [
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", b"100"),
            (b"cookie", f"{cookie_name('staff')}={staff['admin']}".encode()),
        ],
        "query_string": b"",
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(middleware(scope, client.receive, client.send))
    assert client.status == 413 and client.pulled <= LIMIT + 8192


@pytest.mark.parametrize("who", ["nobody", "bogus", "customer", "viewer", "support", "revoked"])
def test_unauthenticated_or_lower_role_upload_is_refused_before_reading(
    middleware, inner, staff, app_db, who
):
    if who == "revoked":
        with Session(app_db["engine"]) as session:
            auth.sign_out(session, CLOCK, staff["admin"], audit.SYSTEM, role="staff")
            session.commit()
    staff_cookie = cookie_name("staff")
    cookies = {
        "nobody": lambda: {},
        "bogus": lambda: {staff_cookie: "not-a-session"},
        # a customer's session in the staff cookie, and the customer cookie itself
        "customer": lambda: {staff_cookie: staff["customer"], cookie_name(): staff["customer"]},
        "viewer": lambda: {staff_cookie: staff["viewer"]},
        "support": lambda: {staff_cookie: staff["support"]},
        "revoked": lambda: admin(staff),
    }[who]()
    # small, and declared: only the missing session can be the reason
    sent = request(middleware, body=multipart(100), cookies=cookies)
    assert sent.status == 401
    assert "Sign in" in json.loads(sent.body)["detail"]
    assert sent.pulled == 0 and inner.calls == 0


def test_unauthenticated_refused_even_without_a_length(middleware, inner):
    sent = request(middleware, body=multipart(10 * LIMIT), declare_length=False)
    assert sent.status == 401 and sent.pulled == 0 and inner.calls == 0


def test_upload_check_covers_subpaths_but_not_downloads(middleware, inner):
    assert request(middleware, "/_upload/", body=b"x").status == 401
    # GET /_upload/<name> (Reflex's public file mount) is not an upload: no session needed
    sent = request(middleware, "/_upload/x.pdf", method="GET", body=b"")
    assert sent.status == 404


def test_other_routes_have_a_small_body_limit(middleware, inner):
    big = request(middleware, "/echo", body=multipart(hardening.MAX_BODY_BYTES + 1))
    assert big.status == 413 and big.pulled == 0
    small = request(middleware, "/echo", body=multipart(1000))
    assert small.status == 200


def test_malformed_content_length_is_refused(middleware, inner):
    client = Client([b"x"])
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "headers": [(b"content-length", b"12, 999999999")],
        "query_string": b"",
    }
    asyncio.run(middleware(scope, client.receive, client.send))
    assert client.status == 400 and client.pulled == 0


def test_default_limit_fits_the_catalogs_largest_file():
    """A file digital_admin accepts must fit in one upload, with room for the form's framing."""
    assert digital_admin.FILE_MAX_BYTES < DEFAULT_MAX_UPLOAD_BYTES
    assert DEFAULT_MAX_UPLOAD_BYTES - digital_admin.FILE_MAX_BYTES <= 2 * 1024 * 1024
    framing = len(multipart(0, "x" * 255)) + 4096  # the file's part headers and the args field
    assert digital_admin.FILE_MAX_BYTES + framing <= DEFAULT_MAX_UPLOAD_BYTES


@pytest.mark.parametrize("raw", ["0", "-5", "12MB", "1e9", "²"])
def test_bad_limit_setting_is_refused_with_its_name(monkeypatch, raw):
    monkeypatch.setenv("PORTAL_MAX_UPLOAD_BYTES", raw)
    with pytest.raises(ValueError, match="PORTAL_MAX_UPLOAD_BYTES"):
        load_settings()


def test_limit_setting_is_read(monkeypatch):
    monkeypatch.setenv("PORTAL_MAX_UPLOAD_BYTES", "1048576")
    assert load_settings().max_upload_bytes == 1048576
    monkeypatch.delenv("PORTAL_MAX_UPLOAD_BYTES")
    assert load_settings().max_upload_bytes == DEFAULT_MAX_UPLOAD_BYTES


# --- headers -------------------------------------------------------------------------------------


def test_every_response_gets_the_security_headers(middleware, staff):
    for sent in (
        request(middleware, "/", method="GET"),
        request(middleware, "/nowhere", method="GET"),  # a 404
        request(middleware, body=multipart(100)),  # a refusal made by the middleware itself
        request(middleware, body=multipart(LIMIT + 1), cookies=admin(staff)),
    ):
        headers = sent.headers
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in headers  # http://


def test_a_routes_own_policy_is_kept(middleware):
    headers = request(middleware, "/auth/verify", method="GET").headers
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["x-frame-options"] == "DENY"


def test_hsts_only_on_https(inner, monkeypatch):
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://billing.example.com")
    secure = hardening.HardeningMiddleware(inner)
    headers = request(secure, "/", method="GET").headers
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "wss://billing.example.com" in headers["content-security-policy"]


def test_policy_allows_no_inline_script_and_names_the_socket():
    policy = hardening.content_security_policy("http://localhost:3000")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "ws://localhost:3000" in directives["connect-src"]
    assert "ws://127.0.0.1:3000" in directives["connect-src"]  # the loopback twin
    # the merchant's logo may be any https:// image (branding.logo_url), and nothing but https
    assert directives["img-src"].split() == ["'self'", "data:", "blob:", "https:"]


def test_websocket_scope_passes_through(middleware):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    wrapped = hardening.HardeningMiddleware(app, middleware.settings)
    asyncio.run(wrapped({"type": "websocket", "path": "/_event", "headers": []}, None, None))
    asyncio.run(wrapped({"type": "lifespan"}, None, None))
    assert seen == ["websocket", "lifespan"]


def test_the_app_is_wrapped():
    """The transformer sits last, so it wraps our routes, Reflex's endpoints and the pages."""
    transformers = portal.app.api_transformer
    assert isinstance(transformers, list) and transformers[-1] is hardening.wrap


def test_inline_scripts_of_the_build_are_allowed_by_hash(inner, tmp_path, middleware):
    """Each inline script of the compiled pages, exactly as written, and nothing else."""
    (tmp_path / "login").mkdir()
    (tmp_path / "index.html").write_text(
        '<html><script>window.a = 1;</script><script type="module" async="">import "/x.js";'
        '</script><script src="/assets/app.js"></script></html>'
    )
    (tmp_path / "login" / "index.html").write_text("<SCRIPT id=_R_>window.a = 1;</SCRIPT >")
    wrapped = hardening.HardeningMiddleware(inner, middleware.settings, static_dir=tmp_path)
    policy = request(wrapped, "/", method="GET").headers["content-security-policy"]
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
    expected = {
        "'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'"
        for text in (b"window.a = 1;", b'import "/x.js";')
    }
    assert set(script_src.split()[1:]) == {"'self'", "'unsafe-eval'", *expected}
