"""The sign-in form: ask for a magic link. Public by design; throttled and non-enumerating."""

from __future__ import annotations

import asyncio

import reflex as rx

from portal_app.db import session_scope
from portal_app.services import audit, auth, ratelimit
from portal_app.services.errors import PortalError
from portal_app.state.guard import CLOCK, actor_of

REASONS = {
    "idle_timeout": "You were signed out after a period of inactivity. Sign in to continue.",
    "absolute_timeout": "Your session reached its time limit. Sign in to continue.",
    "signed_out": "You are signed out.",
    "missing": "Sign in to continue.",
    "wrong_role": "Sign in to continue.",
    "expired": "Sign in to continue.",
    "ended": "This session was signed out from another device or after an email change.",
}
SENT = (
    "If that address belongs to an account, a sign-in link is on its way. "
    "It works once and expires in 15 minutes."
)


class LoginState(rx.State):
    notice: str = ""
    error: str = ""
    sent: bool = False
    submitting: bool = False
    staff_error: str = ""

    @rx.event
    def load(self):
        """Page load: explain why we are here (timeout, sign-out); nothing private is read."""
        reason = self.router.url.query_parameters.get("reason", "")
        self.notice = REASONS.get(reason, "")
        self.error = ""
        self.staff_error = (
            "Email or password is incorrect."
            if self.router.url.query_parameters.get("error") == "1"
            else ""
        )
        self.sent = False

    @rx.event
    async def request_link(self, form_data: dict):
        """Public: the same answer for known and unknown addresses; mail goes via the outbox."""
        email = str(form_data.get("email", ""))[:400]
        next_path = auth.safe_return_path(self.router.url.query_parameters.get("next", "/portal"))
        self.submitting = True
        yield
        actor = actor_of(self)
        try:
            message = await asyncio.to_thread(_request, email, next_path, actor)
        except PortalError as exc:  # a refusal, or the database / Redis briefly unreachable
            self.error, self.sent = str(exc), False
        else:
            if message is None:
                self.error, self.sent = "", True
            else:
                self.error, self.sent = message, False
        self.submitting = False


def _request(email: str, next_path: str, actor: audit.Actor) -> str | None:
    """None when handled (sent or not); otherwise the throttle message to show."""
    address = auth.normalize_email(email)
    limiter = ratelimit.get_limiter()
    decision = limiter.hit(
        ("link_email", address), ("link_ip_minute", actor.ip), ("link_ip_hour", actor.ip)
    )
    with session_scope() as session:
        merchant_id = auth.portal_merchant_id(session)
        if merchant_id is None:
            return "The portal is not set up yet."
        if not decision.allowed:
            audit.record(
                session,
                CLOCK,
                merchant_id=merchant_id,
                actor=actor,
                action="auth.throttled",
                target_type="route",
                target_id="link_request",
                result="throttled",
                after={"rule": decision.rule},
            )
            return decision.message()
        auth.request_login_link(
            session,
            CLOCK,
            merchant_id=merchant_id,
            email=address,
            return_to=next_path,
            actor=actor,
        )
    return None
