"""The HTTP side of sign-in and the merchant API.

GET/HEAD /auth/verify shows a confirmation page and never uses the link (mail scanners open
links); only the POST from that page redeems it, sets the HttpOnly customer session cookie and
redirects. Staff sign in at /auth/staff/login into their own cookie (see `common.cookie_name`), so
a customer link opened in the same browser never signs a staff member out of the dashboard; each
sign-out route ends and clears only its own kind of session.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from portal_app.clock import SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.http import common
from portal_app.services import (
    audit,
    auth,
    digital,
    magic_links,
    ratelimit,
    refusals,
    staff_auth,
)
from portal_app.services.auth import AuthError
from portal_app.services.errors import NotFound, PortalError, ServiceUnavailable

CLOCK = SystemClock()


def _throttled(
    decision: ratelimit.Decision, request: Request, action: str, *, account: str = ""
) -> Response:
    """429, tallied (services.refusals) rather than chained: one row a minute per key."""
    common.tally_refusal(
        request, action=refusals.THROTTLED, rule=f"{action}:{decision.rule}", account=account
    )
    return common.page(
        "Too many attempts",
        f"<h1>Too many attempts</h1><p>{common.escape(decision.message())}</p>"
        '<a class="button" href="/login">Back to sign-in</a>',
        status=429,
    )


def verify_page(request: Request) -> Response:
    token = request.query_params.get("token", "")
    with read_scope() as session:
        row = magic_links.peek_token(session, CLOCK, token)
        if row is not None and row.purpose not in auth.SIGN_IN_PURPOSES:
            row = None  # an email change's cancel link has its own page and signs no one in
        purpose = row.purpose if row else None
        shown_email = row.new_email or row.email if row else ""
    if row is None:
        return common.page(
            "Link expired",
            "<h1>This link has expired</h1><p>Sign-in links work once and for 15 minutes. "
            'Ask for a new one.</p><a class="button" href="/login">Get a new link</a>',
            status=410,
        )
    action = "Confirm email address" if purpose == "email_change" else "Sign in"
    return common.page(
        action,
        f"<h1>{action}</h1><p>Continue as <strong>{common.escape(shown_email)}</strong>.</p>"
        '<form method="post" action="/auth/verify">'
        f'<input type="hidden" name="token" value="{common.escape(token)}">'
        f'<button type="submit" autofocus>{action}</button></form>',
    )


async def verify_post(request: Request) -> Response:
    form = await request.form()
    token = str(form.get("token", ""))
    return await _run_sync(_redeem, request, token)


def _redeem(request: Request, token: str) -> Response:
    return redeem_link(
        request,
        token,
        redeem=magic_links.redeem_login_token,
        role="customer",
        throttle_action="redeem",
        refused=lambda failure: common.page(
            "Link not valid",
            f"<h1>Link not valid</h1><p>{common.escape(str(failure))}</p>"
            '<a class="button" href="/login">Get a new link</a>',
            status=400,
        ),
    )


def peek_link(request: Request, peek):
    """The `token` query parameter of a link's GET and what `peek(session, clock, token)` finds
    for it, read-only: showing the page never uses the link."""
    token = request.query_params.get("token", "")
    with read_scope() as session:
        return token, peek(session, CLOCK, token)


def redeem_refusal(request: Request, throttle_action: str) -> Response | None:
    """The answer to a one-time link's POST before the link is looked at: 403 from another
    origin, 429 while the client IP is over its limit of failed redemptions; None to go on."""
    if not common.same_origin(request):
        return common.page("Not allowed", "<h1>Not allowed</h1>", status=403)
    decision = ratelimit.get_limiter().check(("redeem_ip", common.client_ip(request)))
    if not decision.allowed:
        return _throttled(decision, request, throttle_action)
    return None


def redeem_failed(request: Request) -> None:
    """Count a used, expired or unknown link against the client IP (see `redeem_refusal`)."""
    ratelimit.get_limiter().hit(("redeem_ip", common.client_ip(request)))


def redeem_link(request: Request, token: str, *, redeem, role: str, throttle_action: str, refused):
    """The POST of a one-time sign-in link (a customer's magic link, a staff member's emailed
    link): same-origin only, failed redemptions limited per client IP, the session cookie of
    `role` on success. `redeem(session, clock, token=, merchant_id=, actor=)` is the service;
    `refused(error)` the page for a used, expired or unknown link (its rejection is tallied and
    committed with the unit of work)."""
    refusal = redeem_refusal(request, throttle_action)
    if refusal is not None:
        return refusal
    failure = None
    with session_scope() as session:
        merchant_id = auth.portal_merchant_id(session)
        try:
            actor = common.actor_for(request)
            signed_in = redeem(session, CLOCK, token=token, merchant_id=merchant_id, actor=actor)
        except AuthError as exc:
            failure = exc
        else:
            max_age = int((signed_in.auth_session.expires_at - CLOCK.now()).total_seconds())
    if failure is not None:
        redeem_failed(request)
        return refused(failure)
    response = RedirectResponse(signed_in.return_to, status_code=303)
    common.set_session_cookie(response, signed_in.session_id, max_age, role=role)
    return response


async def logout(request: Request) -> Response:
    """The portal's "Sign out": ends the customer session only (a staff session stays)."""
    return await _run_sync(_logout, request, "customer", "/login?reason=signed_out")


async def staff_logout(request: Request) -> Response:
    """The dashboard's "Sign out": ends the staff session only (a customer session stays)."""
    return await _run_sync(_logout, request, "staff", "/merchant/login?reason=signed_out")


def _logout(request: Request, role: str, landing: str) -> Response:
    if not common.same_origin(request):
        return common.page("Not allowed", "<h1>Not allowed</h1>", status=403)
    sid = request.cookies.get(common.cookie_name(role))
    with session_scope() as session:
        auth.sign_out(session, CLOCK, sid, common.actor_for(request), role=role)
    response = RedirectResponse(landing, status_code=303)
    common.clear_session_cookie(response, role=role)
    return response


async def staff_login(request: Request) -> Response:
    form = await request.form()
    return await _run_sync(
        _staff_login, request, str(form.get("email", "")), str(form.get("password", ""))
    )


def _staff_login(request: Request, email: str, password: str) -> Response:
    if not common.same_origin(request):
        return common.page("Not allowed", "<h1>Not allowed</h1>", status=403)
    ip = common.client_ip(request)
    # Lock-out counts per (account, address): a stranger's failures lock out only the
    # stranger's address. Past the account-wide limit the password form is refused from
    # everywhere and the member signs in with an emailed link (http/staff_link.py).
    pair = ratelimit.staff_lock_key(email, ip)
    account = pair[0]
    limiter, backoff = ratelimit.get_limiter(), ratelimit.get_backoff()
    decision = limiter.check(("password_ip", ip), ("password_account", account))
    locked = backoff.locked_for(pair)
    if locked and decision.allowed:
        decision = ratelimit.Decision(False, locked, "account_backoff")
    if not decision.allowed:
        from portal_app.http import staff_link

        if decision.rule == "password_account":
            return staff_link.password_refused(request, decision, email)
        return _throttled(decision, request, "staff_login", account=account.partition(":")[2])
    failure = None
    with session_scope() as session:
        merchant_id = auth.portal_merchant_id(session)
        try:
            signed_in = staff_auth.staff_sign_in(
                session,
                CLOCK,
                merchant_id=merchant_id,
                email=email,
                password=password,
                actor=common.actor_for(request),
            )
        except AuthError as exc:
            failure = exc
        else:
            max_age = int((signed_in.auth_session.expires_at - CLOCK.now()).total_seconds())
    if failure is not None:
        limiter.hit(("password_ip", ip), ("password_account", account))
        backoff.record_failure(pair)
        return RedirectResponse("/merchant/login?error=1", status_code=303)
    backoff.clear(pair)
    response = RedirectResponse("/merchant", status_code=303)
    common.set_session_cookie(response, signed_in.session_id, max_age, role="staff")
    return response


def download_file(request: Request) -> Response:
    """A signed, expiring link that also needs the owner's session cookie."""
    token = request.path_params["token"]
    with session_scope() as session:
        try:
            owner = auth.load_session(
                session, CLOCK, request.cookies.get(common.cookie_name("customer")), role="customer"
            )
        except auth.SessionEnded:
            return RedirectResponse("/login?reason=expired&next=/downloads", status_code=303)
        actor = audit.Actor.customer(
            owner.customer_id,
            ip=common.client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
        try:
            if not token.split(".")[1:2] == [str(owner.customer_id)]:
                raise NotFound("This download link is not valid.")
            served = digital.open_download(session, CLOCK, token=token, actor=actor)
        except PortalError as exc:
            failure = exc
        else:
            failure = None
    if failure is not None:
        return common.page(
            "Download unavailable",
            f"<h1>Download unavailable</h1><p>{common.escape(str(failure))}</p>"
            '<a class="button" href="/downloads">Back to downloads</a>',
            status=404 if isinstance(failure, NotFound) else 410,
        )
    return FileResponse(
        served.path,
        filename=served.filename,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


async def _run_sync(function, *args):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


async def _unavailable(request: Request, exc: ServiceUnavailable) -> Response:
    """The database or Redis is unreachable: a clear 503 (JSON for the API), never a stack trace."""
    headers = {"Retry-After": "30", "Cache-Control": "no-store"}
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(exc)}, status_code=503, headers=headers)
    response = common.page(
        "Try again in a moment",
        f"<h1>Try again in a moment</h1><p>{common.escape(str(exc))}</p>"
        '<a class="button" href="/login">Back to sign-in</a>',
        status=503,
    )
    response.headers.update(headers)
    return response


def build_http_app() -> Starlette:
    # They use our helpers, so they are imported here.
    from portal_app.api import app as api_app
    from portal_app.http import (
        brand,
        checkout_links,
        email_change,
        staff_invite,
        staff_link,
        stripe_webhooks,
    )

    return Starlette(
        exception_handlers={ServiceUnavailable: _unavailable},
        routes=[
            Route("/auth/verify", verify_page, methods=["GET", "HEAD"]),
            Route("/auth/verify", verify_post, methods=["POST"]),
            Route("/auth/logout", logout, methods=["POST"]),
            Route("/auth/staff/login", staff_login, methods=["POST"]),
            Route("/auth/staff/logout", staff_logout, methods=["POST"]),
            Route(staff_auth.STAFF_LINK_PATH, staff_link.link_page, methods=["GET", "HEAD"]),
            Route(staff_auth.STAFF_LINK_PATH, staff_link.link_post, methods=["POST"]),
            Route(staff_link.REQUEST_PATH, staff_link.request_post, methods=["POST"]),
            Route("/auth/staff/invite", staff_invite.invite_page, methods=["GET", "HEAD"]),
            Route("/auth/staff/invite", staff_invite.invite_post, methods=["POST"]),
            Route(email_change.PATH, email_change.cancel_page, methods=["GET", "HEAD"]),
            Route(email_change.PATH, email_change.cancel_post, methods=["POST"]),
            Mount(api_app.PREFIX, app=api_app.build_api()),
            Route("/files/{token}", download_file, methods=["GET"]),
            *brand.ROUTES,
            *checkout_links.ROUTES,
            *stripe_webhooks.ROUTES,
        ],
    )
