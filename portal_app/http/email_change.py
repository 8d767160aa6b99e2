"""The old address's "that wasn't me" link for an email change (services.profile).

GET/HEAD shows what the link will do and never uses it (mail scanners open links); only the
POST from that page cancels the change, puts the old address back and ends every session. It
signs no one in: afterwards the owner asks for a sign-in link as usual."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal_app.clock import SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.http import common
from portal_app.services import auth, email_change, magic_links, ratelimit, refusals
from portal_app.services.errors import ProfileError

CLOCK = SystemClock()
PATH = "/auth/email-change/cancel"


def _expired(status: int = 410) -> Response:
    return common.page(
        "Link not valid",
        "<h1>This link is not valid any more</h1><p>It was already used or has expired. If "
        "someone changed your email without asking you, contact us.</p>"
        '<a class="button" href="/login">Sign in</a>',
        status=status,
    )


def cancel_page(request: Request) -> Response:
    token = request.query_params.get("token", "")
    with read_scope() as session:
        row = magic_links.peek_token(session, CLOCK, token)
        valid = row is not None and row.purpose == auth.EMAIL_CANCEL
        old, new = (row.email, row.new_email or "") if valid else ("", "")
    if not valid:
        return _expired()
    return common.page(
        "Cancel email change",
        "<h1>Cancel the email change?</h1>"
        f"<p>This puts <strong>{common.escape(old)}</strong> back as your billing email "
        f"(instead of {common.escape(new)}) and signs out every session, on every device.</p>"
        f'<form method="post" action="{PATH}">'
        f'<input type="hidden" name="token" value="{common.escape(token)}">'
        '<button type="submit" autofocus>Cancel the change and sign out everywhere</button>'
        "</form>",
    )


async def cancel_post(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_cancel, request, str(form.get("token", "")))


def _cancel(request: Request, token: str) -> Response:
    if not common.same_origin(request):
        return common.page("Not allowed", "<h1>Not allowed</h1>", status=403)
    ip = common.client_ip(request)
    limiter = ratelimit.get_limiter()
    decision = limiter.check(("redeem_ip", ip))  # the same budget as bad sign-in links
    failure = None
    with session_scope() as session:
        merchant_id = auth.portal_merchant_id(session)
        if not decision.allowed:
            if merchant_id is not None:
                refusals.record(
                    session,
                    CLOCK,
                    merchant_id=merchant_id,
                    action=refusals.THROTTLED,
                    rule=decision.rule,
                    ip=ip,
                )
        else:
            try:
                done = email_change.cancel_email_change(
                    session,
                    CLOCK,
                    token=token,
                    merchant_id=merchant_id,
                    actor=common.actor_for(request),
                )
            except ProfileError as exc:
                failure = exc  # the refusal is tallied and committed with this unit of work
    if not decision.allowed:
        return common.page(
            "Too many attempts",
            f"<h1>Too many attempts</h1><p>{common.escape(decision.message())}</p>",
            status=429,
        )
    if failure is not None:
        limiter.hit(("redeem_ip", ip))
        return _expired(status=400)
    email = common.escape(done.email)
    outcome = {
        "reverted": f"Your billing email is <strong>{email}</strong> again.",
        "voided": "The change was not made: the link sent to the new address no longer works.",
        "kept": f"Your old address now belongs to another account, so your billing email stays "
        f"<strong>{email}</strong>. Contact us to sort it out.",
    }[done.outcome]
    return common.page(
        "Email change cancelled",
        "<h1>Email change cancelled</h1>"
        f"<p>{outcome} Every session was signed out. Sign in again with a new link.</p>"
        '<a class="button" href="/login">Sign in</a>',
    )
