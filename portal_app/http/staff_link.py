"""Emailed one-time sign-in links for staff: the way in when the password form is refused for an
account (too many failed passwords from all addresses together, ratelimit's `password_account`).

POST /auth/staff/link/request answers the same for every address ("if it belongs to a staff
account, a link is on its way"), throttled per address and client IP like customer links; over a
limit the same answer comes back and no mail goes out (R2.2). The answer is sent before the
lookup, so a known and an unknown address take the same time (the link is issued in the
response's background task). GET/HEAD /auth/staff/link shows a confirmation and never uses the
link (mail scanners open links); its POST uses it once and sets the staff cookie."""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal_app.db import session_scope
from portal_app.http import common
from portal_app.http.routes import CLOCK, _run_sync, peek_link, redeem_link
from portal_app.services import audit, auth, ratelimit, refusals, staff_auth
from portal_app.services.auth import AuthError

log = logging.getLogger(__name__)
REQUEST_PATH = "/auth/staff/link/request"
_FIELD = (
    "display:block;width:100%;box-sizing:border-box;padding:10px;margin:4px 0 14px;"
    "border:1px solid #c8ccd4;border-radius:6px;font-size:1rem"
)


def link_form(email: str = "") -> str:
    """The "Email me a sign-in link" form, for the pages this module answers with."""
    return (
        f'<form method="post" action="{REQUEST_PATH}">'
        '<label for="staff-link-email">Email</label>'
        f'<input id="staff-link-email" name="email" type="email" required autocomplete="username"'
        f' value="{common.escape(email)}" style="{_FIELD}">'
        '<button type="submit">Email me a sign-in link</button></form>'
    )


def password_refused(request: Request, decision: ratelimit.Decision, email: str) -> Response:
    """The account-wide limit: no password is checked for this account for a while, from any
    address; the member can still get in with an emailed link. Tallied, not chained."""
    common.tally_refusal(
        request, action=refusals.THROTTLED, rule="staff_login:password_account", account=email
    )
    return common.page(
        "Password sign-in paused",
        "<h1>Password sign-in is paused for this account</h1>"
        "<p>There have been too many wrong passwords for this account, so we stopped accepting "
        f"passwords for it for now. {common.escape(_wait(decision))} We can email you a "
        "one-time sign-in link instead; it works once, for 15 minutes.</p>"
        + link_form(email)
        + '<p><a href="/merchant/login">Back to merchant sign-in</a></p>',
        status=429,
    )


def _wait(decision: ratelimit.Decision) -> str:
    minutes = max(1, -(-decision.retry_after_seconds // 60))
    return f"Passwords work again in about {minutes} minute{'s' if minutes != 1 else ''}."


async def request_post(request: Request) -> Response:
    form = await request.form()
    return await _run_sync(_request, request, str(form.get("email", ""))[:400])


def _request(request: Request, email: str) -> Response:
    if not common.same_origin(request):
        return common.page("Not allowed", "<h1>Not allowed</h1>", status=403)
    try:
        address = auth.normalize_email(email)
    except AuthError:
        return RedirectResponse("/merchant/login?error=email", status_code=303)
    ip = common.client_ip(request)
    decision = ratelimit.get_limiter().hit(
        ("link_email", f"staff:{address}"), ("link_ip_minute", ip), ("link_ip_hour", ip)
    )
    actor = common.actor_for(request)
    answer = RedirectResponse("/merchant/login?link=sent", status_code=303)
    answer.background = BackgroundTask(_run_sync, _issue, address, actor, decision)
    return answer


def _issue(address: str, actor: audit.Actor, decision: ratelimit.Decision) -> None:
    """After the answer went out: the link if the address is a member's, or the tally if a
    limit refused it. Failures are logged (the person asks again), never shown."""
    try:
        with session_scope() as session:
            merchant_id = auth.portal_merchant_id(session)
            if merchant_id is None:
                return
            if not decision.allowed:
                refusals.record(
                    session,
                    CLOCK,
                    merchant_id=merchant_id,
                    action=refusals.THROTTLED,
                    rule=f"staff_link_request:{decision.rule}",
                    ip=actor.ip,
                    account=address if decision.rule == "link_email" else "",
                )
                return
            staff_auth.request_staff_link(
                session, CLOCK, merchant_id=merchant_id, email=address, actor=actor
            )
    except Exception:
        log.exception("staff sign-in link request failed")


def link_page(request: Request) -> Response:
    token, email = peek_link(request, staff_auth.peek_staff_link)
    if email is None:
        return _expired()
    return common.page(
        "Sign in to the dashboard",
        "<h1>Sign in to the dashboard</h1>"
        f"<p>Continue as <strong>{common.escape(email)}</strong>.</p>"
        f'<form method="post" action="{staff_auth.STAFF_LINK_PATH}">'
        f'<input type="hidden" name="token" value="{common.escape(token)}">'
        '<button type="submit" autofocus>Sign in</button></form>',
    )


def _expired(status: int = 410) -> Response:
    return common.page(
        "Link not valid",
        "<h1>This sign-in link can't be used</h1><p>Sign-in links work once and for 15 "
        "minutes. Ask for a new one.</p>" + link_form(),
        status=status,
    )


async def link_post(request: Request) -> Response:
    form = await request.form()
    return await _run_sync(_redeem, request, str(form.get("token", "")))


def _redeem(request: Request, token: str) -> Response:
    return redeem_link(
        request,
        token,
        redeem=staff_auth.redeem_staff_link,
        role="staff",
        throttle_action="staff_link",
        refused=lambda _failure: _expired(status=400),
    )
