"""A customer's email change. The new address must confirm its link before it replaces the old
one (services.magic_links applies it). A change needs a sign-in of the last 15 minutes, is rate
limited, and mails the old address a single-use link that undoes the change and ends every
session (`cancel_email_change`). A staff member acting for a customer (a support link's session)
can do none of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from portal_app import routes
from portal_app.clock import Clock
from portal_app.models import AuthSession, Customer, LoginToken
from portal_app.services import audit, auth, features, magic_links, mailer, ratelimit, refusals
from portal_app.services.errors import NotFound, ProfileError

# How recent the current sign-in must be to change the email (OWASP: re-authenticate first).
RECENT_SIGN_IN = timedelta(minutes=15)
# How long the old address's "that wasn't me" link works: well past the 15 minutes the new
# address has to confirm, so a change made while the owner was away can still be undone.
CANCEL_LINK_TTL = timedelta(days=3)
STAFF_ACTING = (
    "You are signed in as staff acting for this customer: only the customer can change their "
    "email address or sign-in settings."
)
REAUTH = "For your security, sign in again to change your email."
# email_change_status: what the email section of the profile page may offer
OPEN, STAFF_ACTING_GATE, REAUTH_GATE = "", "staff_acting", "reauth"


class ReauthRequired(ProfileError):
    """The current sign-in is older than RECENT_SIGN_IN: a fresh magic link first."""

    code = "reauth_required"


class StaffActing(ProfileError):
    code = "staff_acting"


class Throttled(ProfileError):
    """Over an email-change limit; the refusal is tallied in the caller's transaction, which
    should commit it (nothing else was written)."""

    code = "throttled"


def _throttled(session, clock, customer: Customer, decision, actor, **who: str) -> Throttled:
    """Tally an over-the-limit refusal (the caller's transaction commits it); the error to raise."""
    refusals.record(
        session,
        clock,
        merchant_id=customer.merchant_id,
        action=refusals.THROTTLED,
        rule=decision.rule,
        ip=actor.ip,
        **who,
    )
    return Throttled(decision.message())


@dataclass(frozen=True)
class EmailChangeLinks:
    """The raw tokens, for tests to follow; they live only in the two emails otherwise."""

    confirm_token: str
    cancel_token: str


@dataclass(frozen=True)
class CancelledChange:
    email: str  # the address the account has now
    old_email: str  # the address the cancel link was sent to
    reverted: bool  # the confirmed change was undone
    sessions_ended: int

    @property
    def outcome(self) -> str:
        """reverted | voided (never confirmed) | kept (the old address belongs to another
        customer now, so the account keeps the new one)."""
        if self.reverted:
            return "reverted"
        return "voided" if self.email == self.old_email else "kept"


def _sign_in_of(session: Session, customer_id: int, session_row_id: int) -> AuthSession:
    """The caller's own live session row: whether it is recent and whose it is come from the
    database, never from the browser."""
    row = session.get(AuthSession, session_row_id)
    if row is None or row.customer_id != customer_id or row.revoked_at is not None:
        raise NotFound("Session not found.")
    return row


def email_change_status(
    session: Session, clock: Clock, *, customer_id: int, session_row_id: int
) -> str:
    """OPEN, STAFF_ACTING_GATE (a support link's session) or REAUTH_GATE (signed in too long
    ago)."""
    row = _sign_in_of(session, customer_id, session_row_id)
    if row.acting_staff_id is not None:
        return STAFF_ACTING_GATE
    if clock.now() - row.created_at > RECENT_SIGN_IN:
        return REAUTH_GATE
    return OPEN


def _require_own_sign_in(session: Session, customer_id: int, session_row_id: int) -> None:
    if _sign_in_of(session, customer_id, session_row_id).acting_staff_id is not None:
        raise StaffActing(STAFF_ACTING)


def request_email_change(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    session_row_id: int,
    new_email: Any,
    actor: audit.Actor,
    limiter: ratelimit.RateLimiter,
) -> EmailChangeLinks:
    """Mail the new address a confirmation link (the change happens when it is opened) and the
    old address a link that cancels it and ends every session. Refused for a staff member acting
    for the customer, for a sign-in older than RECENT_SIGN_IN, and over the rate limits
    (`email_change_customer`, `email_change_ip`)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found.")
    features.require_feature(session, customer.merchant_id, "profile.email")
    gate = email_change_status(
        session, clock, customer_id=customer_id, session_row_id=session_row_id
    )
    if gate == STAFF_ACTING_GATE:
        raise StaffActing(STAFF_ACTING)
    if gate == REAUTH_GATE:
        raise ReauthRequired(REAUTH)
    address = auth.normalize_email(new_email if isinstance(new_email, str) else "")
    if address == customer.email:
        raise ProfileError("That is already your email address.")
    decision = limiter.hit(
        ("email_change_customer", str(customer.id)), ("email_change_ip", actor.ip or "-")
    )
    if not decision.allowed:
        raise _throttled(
            session, clock, customer, decision, actor, principal=f"customer:{customer.id}"
        )
    old_address = customer.email
    confirm = send_confirmation(
        session, clock, customer_id=customer.id, new_email=address, actor=actor
    )
    # Not voiding older cancel links: a second change must not disarm the first one's undo.
    cancel = magic_links.issue_token(
        session,
        clock,
        customer=customer,
        purpose=auth.EMAIL_CANCEL,
        return_to=routes.LOGIN,
        ttl=CANCEL_LINK_TTL,
        new_email=address,
        void_older=False,
    )
    link = auth.token_link("/auth/email-change/cancel", cancel)
    days = CANCEL_LINK_TTL.days
    mailer.queue(
        session,
        clock,
        customer=customer,
        kind="email_change_cancel",
        to_address=old_address,
        subject="Your billing email is being changed",
        body=(
            f"Hello {customer.name or old_address},\n\n"
            f"Someone signed in to your billing portal asked to change its email address from "
            f"{old_address} to {address}. The change happens when the new address confirms it.\n\n"
            "If that was you, there is nothing to do.\n\n"
            "If it was not you, open this link to cancel the change (or undo it, if it was "
            f"already confirmed) and sign out every session. It works once, for {days} days:"
            f"\n\n{link}\n"
        ),
    )
    return EmailChangeLinks(confirm, cancel)


def cancel_email_change(
    session: Session, clock: Clock, *, token: str, merchant_id: int | None, actor: audit.Actor
) -> CancelledChange:
    """The old address's link: void the pending confirmation, put the old address back if the
    change went through (unless another customer took it meanwhile), end every session. Single
    use; a bad or used link is tallied (commit the caller's transaction) and refused."""
    row = magic_links.claim_token(session, clock, token, purposes=(auth.EMAIL_CANCEL,))
    if row is None:
        if merchant_id is not None:
            auth.tally_bad_link(
                session, clock, merchant_id=merchant_id, rule="bad_cancel_token", ip=actor.ip
            )
        raise ProfileError("This link was already used or has expired.", code="bad_token")
    now = clock.now()
    # Void the confirmation first: a confirmation racing this waits for it, then finds its
    # link used; one that got there first has committed its new address, which we now see.
    auth.void_unused(
        session,
        now,
        LoginToken,
        LoginToken.customer_id == row.customer_id,
        LoginToken.purpose == "email_change",
    )
    customer = session.exec(
        select(Customer).where(Customer.id == row.customer_id).with_for_update()
    ).one()
    as_customer = audit.Actor.customer(customer.id, ip=actor.ip, user_agent=actor.user_agent)
    with audit.changing(
        session,
        clock,
        customer,
        actor=as_customer,
        action="profile.email_change_cancelled",
        snapshot=lambda found: {"email": found.email},
        target_type="customer",
        customer_id=customer.id,
    ) as change:
        reverted = customer.email != row.email and not _taken_by_another(session, customer, row)
        if reverted:
            customer.email = row.email
            session.add(customer)
            session.flush()
        ended = auth.revoke_all(
            session,
            clock,
            customer_id=customer.id,
            actor=as_customer,
            reason="email_change_cancelled",
        )
        change.extra.update(reverted=reverted, requested=row.new_email)
    return CancelledChange(customer.email, row.email, reverted, ended)


def _taken_by_another(session: Session, customer: Customer, row: LoginToken) -> bool:
    """The cancel link's old address belongs to another customer now."""
    return (
        session.exec(
            select(Customer.id).where(
                Customer.merchant_id == customer.merchant_id,
                Customer.email == row.email,
                Customer.id != customer.id,
            )
        ).first()
        is not None
    )


def send_reauth_link(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    session_row_id: int,
    actor: audit.Actor,
    limiter: ratelimit.RateLimiter,
) -> str | None:
    """A fresh sign-in link to the customer's own address that returns to the profile page,
    under the sign-in link limits. Not for a staff member acting for the customer. Returns the
    raw token (tests) or None when throttled (tallied; the caller commits and says so)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found.")
    _require_own_sign_in(session, customer_id, session_row_id)
    decision = limiter.hit(
        ("link_email", customer.email),
        ("link_ip_minute", actor.ip or "-"),
        ("link_ip_hour", actor.ip or "-"),
    )
    if not decision.allowed:
        raise _throttled(session, clock, customer, decision, actor, account=customer.email)
    return magic_links.request_login_link(
        session,
        clock,
        merchant_id=customer.merchant_id,
        email=customer.email,
        return_to=routes.PROFILE,
        actor=actor,
    )


def send_confirmation(
    session: Session, clock: Clock, *, customer_id: int, new_email: str, actor: audit.Actor
) -> str:
    """Mail the new address its confirmation link (it must confirm before it replaces the old
    one); returns the raw token. `request_email_change` checks the gates first."""
    customer = session.get(Customer, customer_id)
    address = auth.normalize_email(new_email)
    if address == customer.email:
        raise auth.AuthError("That is already your email address.")
    token = magic_links.issue_token(
        session,
        clock,
        customer=customer,
        purpose="email_change",
        return_to=routes.PROFILE,
        ttl=auth.LINK_TTL,
        new_email=address,
    )
    link = magic_links.verify_link(token)
    mailer.queue(
        session,
        clock,
        customer=customer,
        kind="email_change",
        to_address=address,
        subject="Confirm your new email address",
        body=f"Confirm {address} as your billing email by opening this link:\n\n{link}\n",
    )
    audit.record_for_customer(
        session,
        clock,
        customer,
        actor=actor,
        action="profile.email_change_requested",
        after={"new_email": address},
    )
    return token
