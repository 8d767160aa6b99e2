"""What every HTTP route needs: the client's address, the session cookies' names, same-origin
checks and a minimal HTML page for answers that are not part of the Reflex app."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from portal_app.clock import SystemClock
from portal_app.config import load_settings
from portal_app.db import session_scope
from portal_app.services import audit, auth, ratelimit, refusals


def is_https() -> bool:
    return load_settings().public_url.startswith("https://")


ROLES = ("customer", "staff")
_COOKIE_BASE = {"customer": "portal_sid", "staff": "portal_staff_sid"}


def cookie_name(role: str = "customer") -> str:
    """Customers and staff each have their own cookie, so one browser can hold both (a staff
    member previewing the portal, or who is also a customer) and neither sign-in replaces the
    other. `__Host-` pins the cookie to this host and path / (browsers insist on Secure for it)."""
    base = _COOKIE_BASE[role]
    return f"__Host-{base}" if is_https() else base


def set_session_cookie(response: Response, session_id: str, max_age: int, *, role: str) -> None:
    response.set_cookie(
        cookie_name(role),
        session_id,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(),
    )


def clear_session_cookie(response: Response, *, role: str) -> None:
    response.delete_cookie(
        cookie_name(role), path="/", httponly=True, samesite="lax", secure=is_https()
    )


def client_ip(request: Request) -> str:
    """The client's address for an HTTP route: the TCP peer and every X-Forwarded-For line, in
    order, through `ratelimit.client_ip` (the one rule, also used for the socket)."""
    peer = request.client.host if request.client else ""
    return ratelimit.client_ip(
        peer, request.headers.getlist("x-forwarded-for"), load_settings().trusted_proxies
    )


def router_client_ip(router) -> str:
    """The same decision for an event on the socket, from what Reflex captured at the handshake:
    `router.session.client_ip` is the TCP peer (rxconfig keeps Reflex's own trusted_proxy_hops
    at 0) and the raw `x-forwarded-for` holds every line of the handshake's header, joined in
    order with ", " (reflex.app._decode_asgi_headers)."""
    forwarded = router.headers.raw_headers.get("x-forwarded-for")
    return ratelimit.client_ip(
        router.session.client_ip or "", forwarded, load_settings().trusted_proxies
    )


def actor_for(request: Request) -> audit.Actor:
    return audit.Actor(
        "anonymous",
        "",
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", "")[:300],
    )


def own_origins() -> set[str]:
    parts = urlsplit(load_settings().public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    twins = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}
    origins = {origin}
    if parts.hostname in twins:
        port = f":{parts.port}" if parts.port else ""
        origins.add(f"{parts.scheme}://{twins[parts.hostname]}{port}")
    return origins


def same_origin(request: Request) -> bool:
    """A browser POST says where it comes from; refuse one from another site (CSRF)."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True  # not a browser form post (curl, server-to-server)
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == f"{request.url.scheme}://{request.url.netloc}":
        return True
    return origin in own_origins()


def page(title: str, body_html: str, status: int = 200) -> HTMLResponse:
    """A small self-contained page (no scripts) in the portal's look."""
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f6f7fb;
margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center;color:#1c2024}}
main{{background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.1);padding:32px;
max-width:420px;width:calc(100% - 48px)}}
h1{{font-size:1.35rem;margin:0 0 12px}} p{{line-height:1.5;color:#4a4f57}}
button,a.button{{display:inline-block;background:#4f46e5;color:#fff;border:0;border-radius:8px;
padding:12px 20px;font-size:1rem;cursor:pointer;text-decoration:none;width:100%;
text-align:center;box-sizing:border-box}}
button:focus-visible,a:focus-visible{{outline:3px solid #a5b4fc;outline-offset:2px}}
</style></head><body><main>{body_html}</main></body></html>"""
    return HTMLResponse(
        document,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def tally_refusal(request: Request, *, action: str, rule: str, account: str = "") -> None:
    """Count a refusal of this portal's merchant (services.refusals) in a transaction of its own:
    tallied, not chained, one row a minute per key."""
    with session_scope() as session:
        merchant_id = auth.portal_merchant_id(session)
        if merchant_id is not None:
            refusals.record(
                session,
                SystemClock(),
                merchant_id=merchant_id,
                action=action,
                rule=rule,
                ip=client_ip(request),
                account=account,
            )
