"""The sign-in form: ask for a magic link. Public by design; throttled and non-enumerating."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from portal_app import routes
from portal_app.services import auth, login_view
from portal_app.services.errors import PortalError, ServiceUnavailable
from portal_app.state.guard import CLOCK, actor_of

log = logging.getLogger(__name__)

REASONS = {
    "idle_timeout": "You were signed out after a period of inactivity. Sign in to continue.",
    "absolute_timeout": "Your session reached its time limit. Sign in to continue.",
    "signed_out": "You are signed out.",
    "checkout_done": "This checkout is already complete. Sign in to see your subscription.",
    "missing": "Sign in to continue.",
    "wrong_role": "Sign in to continue.",
    "expired": "Sign in to continue.",
    "ended": "This session was signed out from another device or after an email change.",
    "disabled": "Your account was disabled by an owner of your team. Ask an owner to enable it.",
}
SENT = (
    "If that address belongs to an account, a sign-in link is on its way. "
    "It works once and expires in 15 minutes."
)


STAFF_ERRORS = {
    "1": "Email or password is incorrect.",
    "email": "Enter a valid email address to get a sign-in link.",
}
STAFF_LINK_SENT = (
    "If that address belongs to a staff account, a sign-in link is on its way. "
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
        query = self.router.url.query_parameters
        self.staff_error = STAFF_ERRORS.get(query.get("error", ""), "")
        if query.get("link") == "sent":
            self.notice = STAFF_LINK_SENT
        self.sent = False

    @rx.event(background=True)
    async def request_link(self, form_data: dict):
        """Public: the same answer after the same work for known and unknown addresses (R1.7).
        The page gets its answer once the address is checked and counted against the limits;
        only then is it looked up and sent a link (via the outbox). A background event, so the
        tab's lock is not held meanwhile: an event sent right after this one (a fence) is not
        held up by the lookup's work either."""
        email = str(form_data.get("email", ""))[:400]
        query = self.router.url.query_parameters
        next_path = auth.safe_return_path(query.get("next", routes.PORTAL_HOME))
        actor = actor_of(self)
        async with self:
            self.submitting = True
        try:
            admitted = await asyncio.to_thread(login_view.admit, email, actor)
        except PortalError as exc:  # a bad address, or the database / Redis briefly unreachable
            async with self:
                self.error, self.sent, self.submitting = str(exc), False, False
            return
        async with self:
            if admitted.merchant_id is None:
                self.error, self.sent = "The portal is not set up yet.", False
            elif admitted.decision.allowed:
                self.error, self.sent = "", True
            else:
                self.error, self.sent = admitted.decision.message(), False
            self.submitting = False
        # The answer is on the page (the block's exit sent it); nothing before it depended on
        # who the address is. (A generator, so a caller can also step through it to here.)
        yield
        if admitted.merchant_id is None:
            return
        try:
            await asyncio.to_thread(login_view.follow_up, CLOCK, admitted, next_path, actor)
        except ServiceUnavailable as exc:
            log.warning("sign-in link request not completed: %s", exc)
            async with self:
                self.error, self.sent = str(exc), False
