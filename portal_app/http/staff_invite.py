"""Accepting a staff invitation: GET/HEAD /auth/staff/invite shows the set-password form and never
uses the link (mail scanners open links); only its POST (same-origin, throttled per address like
/auth/verify) uses it, creates the member with that password and signs them in with the staff
cookie. The password goes straight to the server in a plain form post, never into Reflex state."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal_app.db import read_scope, session_scope
from portal_app.http import common
from portal_app.http.routes import CLOCK, _run_sync, peek_link, redeem_failed, redeem_refusal
from portal_app.services import auth, refusals, staff, staff_roles

_FIELD = (
    "display:block;width:100%;box-sizing:border-box;padding:10px;margin:4px 0 14px;"
    "border:1px solid #c8ccd4;border-radius:6px;font-size:1rem"
)


def _expired(message: str = "") -> Response:
    return common.page(
        "Invitation not valid",
        "<h1>This invitation can't be used</h1>"
        f"<p>{common.escape(message or staff.USED_OR_EXPIRED)}</p>"
        '<a class="button" href="/merchant/login">Go to merchant sign-in</a>',
        status=410,
    )


def _form(token: str, pending: staff.PendingInvite, error: str = "", name: str = "") -> Response:
    alert = f'<p role="alert" style="color:#b42318"><strong>{common.escape(error)}</strong></p>'
    role = staff_roles.LABELS.get(pending.role, pending.role)
    return common.page(
        "Join the team",
        f"<h1>Join {common.escape(pending.merchant_name)}</h1>"
        f"<p>You were invited as <strong>{common.escape(role)}</strong> with "
        f"<strong>{common.escape(pending.email)}</strong>. Choose a password to finish.</p>"
        + (alert if error else "")
        + '<form method="post" action="/auth/staff/invite">'
        f'<input type="hidden" name="token" value="{common.escape(token)}">'
        f'<input type="email" name="username" value="{common.escape(pending.email)}" '
        'autocomplete="username" hidden>'
        '<label for="invite-name">Your name (optional)</label>'
        f'<input id="invite-name" name="name" maxlength="200" autocomplete="name" '
        f'value="{common.escape(name)}" style="{_FIELD}">'
        '<label for="invite-password">Password</label>'
        f'<input id="invite-password" name="password" type="password" required '
        f'minlength="{auth.MIN_PASSWORD_LENGTH}" autocomplete="new-password" '
        f'aria-describedby="password-rule" style="{_FIELD}" autofocus>'
        '<label for="invite-confirm">Repeat the password</label>'
        f'<input id="invite-confirm" name="password_confirm" type="password" required '
        f'minlength="{auth.MIN_PASSWORD_LENGTH}" autocomplete="new-password" style="{_FIELD}">'
        f'<p id="password-rule" style="font-size:.875rem">At least {auth.MIN_PASSWORD_LENGTH} '
        "characters. A few unrelated words make a strong one.</p>"
        '<button type="submit">Set password and sign in</button></form>',
        status=400 if error else 200,
    )


def invite_page(request: Request) -> Response:
    token, pending = peek_link(request, staff.peek_invite)
    if pending is None:
        return _expired()
    return _form(token, pending)


async def invite_post(request: Request) -> Response:
    form = await request.form()
    fields = {k: str(form.get(k, "")) for k in ("token", "password", "password_confirm", "name")}
    return await _run_sync(_accept, request, fields)


def _accept(request: Request, fields: dict[str, str]) -> Response:
    refusal = redeem_refusal(request, "staff_invite")
    if refusal is not None:
        return refusal
    token, name = fields["token"], fields["name"][:200]
    with read_scope() as session:
        pending = staff.peek_invite(session, CLOCK, token)
    if pending is None:
        redeem_failed(request)
        _audit_rejection(request)
        return _expired()
    if fields["password"] != fields["password_confirm"]:
        return _form(token, pending, "The two passwords don't match.", name)
    failure = None
    with session_scope() as session:
        try:
            signed_in = staff.accept_invite(
                session,
                CLOCK,
                token=token,
                password=fields["password"],
                name=name,
                actor=common.actor_for(request),
            )
        except (staff.StaffError, auth.AuthError) as exc:
            failure = exc
        else:
            max_age = int((signed_in.auth_session.expires_at - CLOCK.now()).total_seconds())
    if isinstance(failure, staff.StaffError):  # used or expired meanwhile, or already a member
        redeem_failed(request)
        _audit_rejection(request)
        return _expired(str(failure))
    if failure is not None:  # the password breaks a rule: the link is still unused
        return _form(token, pending, str(failure), name)
    response = RedirectResponse("/merchant", status_code=303)
    common.set_session_cookie(response, signed_in.session_id, max_age, role="staff")
    return response


def _audit_rejection(request: Request) -> None:
    """Counted like a rejected sign-in link (services.refusals), not one chained event each."""
    common.tally_refusal(request, action=refusals.LINK_REJECTED, rule="staff_invite")
