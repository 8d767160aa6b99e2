"""An ASGI middleware around the whole app (pages, the event socket, Reflex's endpoints and our
routes): security headers on every response, and request bodies bounded before anyone reads them.

Reflex's `/_upload` parses the whole multipart body (spooled to the temp directory) before the
upload handler runs, and runs the handler with the headers of the token's last socket event, not
the upload's own. So here, before a byte of the body is read, an upload must carry a live staff
session cookie of a role that may upload (admin), and a `Content-Length` within
`PORTAL_MAX_UPLOAD_BYTES`; a body without a length (chunked) is counted as it streams and cut off
at the limit with a 413. Every other request body is held to `MAX_BODY_BYTES`.

Mounted with `rx.App(api_transformer=[routes, hardening.wrap])`: Reflex applies the transformers
in order to its backend app with the compiled frontend already mounted (`--env prod`), so the
static pages pass through here too. Only Reflex's outermost layer (its CORS middleware answering
a preflight `OPTIONS`) sits outside."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal_app.clock import SystemClock
from portal_app.config import Settings, StripeSettings, load_settings
from portal_app.db import session_scope
from portal_app.http.common import cookie_name
from portal_app.services import auth, staff_roles
from portal_app.services.errors import PortalError

log = logging.getLogger(__name__)
CLOCK = SystemClock()

UPLOAD_PATH = "/_upload"
# The only upload handler (the catalog's digital-product file) needs an admin; a lower role is
# refused here so it cannot make the server spool a large body the handler would refuse anyway.
UPLOAD_STAFF_ROLE = "admin"
# Every other request (sign-in forms, the merchant API's JSON) is small.
MAX_BODY_BYTES = 1024 * 1024
HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy(
    public_url: str, script_hashes: Iterable[str] = (), stripe: StripeSettings | None = None
) -> str:
    """The policy for the Reflex build (checked in Chromium: tests/browser/test_security_headers).

    - scripts: this origin, plus the exact inline scripts of the compiled pages by their SHA-256
      (`inline_script_hashes`: React Router's boot and hydration data, the theme and scroll
      restoration snippets, all fixed at build time). No 'unsafe-inline', so an injected
      <script> or on* attribute does not run. 'unsafe-eval' is needed: Reflex runs every
      server-sent script event with `eval` in the page (`rx.toast`, `rx.clear_selected_files`
      arrive as `_call_script`), so without it no toast from a handler would show.
    - styles: 'unsafe-inline', since Radix Themes and Emotion write <style> elements and style
      attributes at run time.
    - connect: this origin, and the public origin's http and websocket URLs (the event socket
      `/_event`, uploads) also under the loopback twin name (localhost / 127.0.0.1).
    - images: this origin, data: and blob: (icons, previews of a chosen file) and https: (the
      merchant's logo may live on their own site); fonts: this origin and data:.
    - no plugins, no framing by anyone (`frame-ancestors 'none'`), forms and <base> only to
      this origin.
    - with PORTAL_GATEWAY=stripe, Stripe.js as Stripe documents it: its script, its frames
      (the card field, 3-D Secure) and its API (or the test server's one address for all).
    """
    parts = urlsplit(public_url)
    secure = parts.scheme == "https"
    origins = [f"{parts.scheme}://{parts.netloc}"]
    twins = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}
    if parts.hostname in twins:
        port = f":{parts.port}" if parts.port else ""
        origins.append(f"{parts.scheme}://{twins[parts.hostname]}{port}")
    sockets = [("wss" if secure else "ws") + origin[origin.index(":") :] for origin in origins]
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-eval'", *(f"'sha256-{h}'" for h in script_hashes)],
        "style-src": ["'self'", "'unsafe-inline'"],
        # https: for the merchant's logo (`branding.logo_url` may be any https:// image)
        "img-src": ["'self'", "data:", "blob:", "https:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", *origins, *sockets],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    if stripe is not None:
        from portal_app.services.stripe_gateway import stripe_js_origins

        script, frames, api = stripe_js_origins(stripe)
        directives["script-src"].append(script)
        directives["frame-src"] = frames
        directives["connect-src"].append(api)
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


_INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)


def inline_script_hashes(static_dir: Path) -> list[str]:
    """Base64 SHA-256 of every inline script in the compiled pages (sorted, no repeats)."""
    found: set[str] = set()
    for page in static_dir.rglob("*.html"):
        for match in _INLINE_SCRIPT.finditer(page.read_text(encoding="utf-8", errors="replace")):
            if re.search(r"\bsrc\s*=", match.group(1), re.I):
                continue
            digest = hashlib.sha256(match.group(2).encode("utf-8")).digest()
            found.add(base64.b64encode(digest).decode())
    return sorted(found)


def frontend_dir() -> Path:
    """Where `reflex run --env prod` serves the compiled pages from (reflex.utils.exec
    get_frontend_mount)."""
    from reflex.utils import prerequisites
    from reflex_base import constants
    from reflex_base.config import get_config

    static = prerequisites.get_web_dir() / constants.Dirs.STATIC
    return (static / get_config().frontend_path.strip("/")).resolve()


def security_headers(
    settings: Settings, script_hashes: Iterable[str] = ()
) -> list[tuple[bytes, bytes]]:
    """Headers every response carries (a route's own Content-Security-Policy, stricter, wins)."""
    headers = [
        (
            "Content-Security-Policy",
            content_security_policy(settings.public_url, script_hashes, settings.stripe),
        ),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
    ]
    if settings.public_url.startswith("https://"):
        headers.append(("Strict-Transport-Security", HSTS))
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"


class HardeningMiddleware:
    """Pure ASGI (no buffering): wraps `receive` to count body bytes and `send` to add headers."""

    def __init__(
        self, app: ASGIApp, settings: Settings | None = None, static_dir: Path | None = None
    ) -> None:
        self.app = app
        self.settings = settings or load_settings()
        self._static_dir = static_dir
        self._headers: list[tuple[bytes, bytes]] | None = None

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Built at the first response, when the production build exists (it is compiled before
        the server starts); until there is one, without script hashes, looked for again."""
        if self._headers is not None:
            return self._headers
        directory = self._static_dir or frontend_dir()
        if not directory.is_dir():
            return security_headers(self.settings)
        self._headers = security_headers(self.settings, inline_script_hashes(directory))
        return self._headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(send)
        is_upload = scope["method"] == "POST" and (
            scope["path"] == UPLOAD_PATH or scope["path"].startswith(UPLOAD_PATH + "/")
        )
        limit = self.settings.max_upload_bytes if is_upload else MAX_BODY_BYTES
        if is_upload and not await self._may_upload(scope):
            await _refuse(send, 401, "Sign in to the dashboard as an admin to upload files.")
            return
        length = _content_length(scope["headers"])
        if length == -1:
            await _refuse(send, 400, "The Content-Length header is not valid.")
            return
        if length is not None and length > limit:
            await _refuse(send, 413, f"The upload is larger than the limit of {_megabytes(limit)}.")
            return
        await self._call_counted(scope, receive, send, limit)

    def _with_headers(self, send: Send) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_headers

    async def _call_counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Past `limit` streamed bytes the app sees the client disconnect (it stops reading;
        Starlette's parser drops what it spooled) and the client gets a 413 instead of whatever
        the app answers to that, unless the app had already started its response."""
        received, over, started = 0, False, False

        async def counted_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to the cut-off body; the 413 goes out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not over or started:
                raise
            log.info("request body over %d bytes cut off", limit)
        if over and not started:
            await _refuse(send, 413, f"The upload is larger than the limit of {_megabytes(limit)}.")

    async def _may_upload(self, scope: Scope) -> bool:
        cookies = cookie_parser(_header(scope["headers"], b"cookie", "; "))
        sid = cookies.get(cookie_name("staff"))
        if not sid:
            return False
        try:
            return await asyncio.to_thread(_live_staff_session, sid)
        except PortalError:  # the database is unreachable: refuse rather than read the body
            log.warning("upload refused: the session could not be checked")
            return False


def _live_staff_session(sid: str) -> bool:
    with session_scope() as session:
        try:
            signed_in = auth.load_session(session, CLOCK, sid, role="staff")
        except auth.SessionEnded:
            return False  # an expiry found here is audited and committed with this unit
    return staff_roles.allows(signed_in.staff_role, UPLOAD_STAFF_ROLE)


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes, joiner: str) -> str:
    return joiner.join(value.decode("latin-1") for key, value in headers if key.lower() == name)


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The declared length; None when absent (chunked), -1 when malformed or contradictory."""
    values = {value.strip() for key, value in headers if key.lower() == b"content-length"}
    if not values:
        return None
    if len(values) != 1 or not (value := values.pop()).isdigit():
        return -1
    return int(value)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wrap(app: ASGIApp) -> ASGIApp:
    """The `api_transformer` entry: Reflex calls it with its backend app."""
    return HardeningMiddleware(app)
