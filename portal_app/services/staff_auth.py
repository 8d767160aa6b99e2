"""Merchant staff sign-in: accounts with argon2 passwords (through passlib's API), password
sign-in, and the emailed one-time sign-in link that is the way in while the password form is
refused for an account (services.ratelimit's lock-out), and an owner lifting that lock-out."""

from __future__ import annotations

import secrets

from passlib.context import CryptContext
from sqlmodel import Session, select

from portal_app import routes
from portal_app.clock import Clock
from portal_app.models import StaffSignInLink, StaffUser
from portal_app.services import audit, auth, mailer, ratelimit, staff_roles
from portal_app.services.auth import (
    LINK_TTL,
    MIN_PASSWORD_LENGTH,
    AuthError,
    SignIn,
    keyed_hash,
    masked,
    normalize_email,
)
from portal_app.services.errors import NotFound

passwords = CryptContext(schemes=["argon2"], deprecated="auto")
# Verified when the account does not exist, so a wrong email costs what a wrong password costs.
_DUMMY_HASH = passwords.hash(secrets.token_urlsafe(16))
STAFF_LINK_PATH = "/auth/staff/link"


def member_of(session: Session, merchant_id: int, staff_id) -> StaffUser:
    """The member `staff_id` of this merchant (the id may come from a browser): another
    merchant's member is not found."""
    found = session.exec(
        select(StaffUser).where(StaffUser.id == int(staff_id), StaffUser.merchant_id == merchant_id)
    ).first()
    if found is None:
        raise NotFound("Staff member not found.")
    return found


def check_new_password(password: str) -> None:
    """The rule for every new staff password (create-admin, an accepted invitation)."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AuthError(
            f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.", code="weak_password"
        )


def create_staff(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    email: str,
    password: str,
    name: str = "",
    role: str = "owner",
    actor: audit.Actor,
) -> StaffUser:
    address = normalize_email(email)
    check_new_password(password)
    if role not in staff_roles.STAFF_ROLES:
        raise AuthError("Unknown staff role.")
    exists = session.exec(
        select(StaffUser.id).where(StaffUser.merchant_id == merchant_id, StaffUser.email == address)
    ).first()
    if exists is not None:
        raise AuthError("A staff account with that email already exists.")
    staff = StaffUser(
        merchant_id=merchant_id,
        email=address,
        name=name,
        role=role,
        password_hash=passwords.hash(password),
        created_at=clock.now(),
    )
    with audit.changing(
        session, clock, staff, actor=actor, action="staff.create", target_type="staff"
    ) as change:
        change.after = {"email": address, "role": role}
    return staff


def staff_sign_in(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    email: str,
    password: str,
    actor: audit.Actor,
) -> SignIn:
    """Password sign-in; the same message and about the same time for unknown email and wrong
    password. Throttling and lock-out are the caller's (ratelimit), before this is called."""
    try:
        address = normalize_email(email)
    except AuthError:
        address = ""
    staff = (
        session.exec(
            select(StaffUser).where(
                StaffUser.merchant_id == merchant_id, StaffUser.email == address
            )
        ).first()
        if address
        else None
    )
    valid = passwords.verify(password or "", staff.password_hash if staff else _DUMMY_HASH)
    if staff is None or not valid or staff.disabled_at is not None:
        audit.record(
            session,
            clock,
            merchant_id=merchant_id,
            actor=actor,
            action="auth.password_failed",
            target_type="staff",
            target_id=masked(address) if address else "",
            result="denied",
        )
        raise AuthError("Email or password is incorrect.", code="bad_credentials")
    if passwords.needs_update(staff.password_hash):
        staff.password_hash = passwords.hash(password)
        session.add(staff)
    return _staff_session(session, clock, staff, actor, via="password")


def _staff_session(session, clock, staff: StaffUser, actor: audit.Actor, *, via: str) -> SignIn:
    auth_session, sid = auth.open_session(
        session, clock, merchant_id=staff.merchant_id, role="staff", staff_id=staff.id, actor=actor
    )
    audit.record(
        session,
        clock,
        merchant_id=staff.merchant_id,
        actor=audit.Actor.merchant(staff.id, ip=actor.ip, user_agent=actor.user_agent),
        action="auth.sign_in",
        target_type="session",
        target_id=auth_session.id,
        after={"via": via},
    )
    return SignIn(sid, auth_session, routes.MERCHANT_HOME)


# --- staff sign-in links and unlocking ------------------------------------------------------------


def request_staff_link(
    session: Session, clock: Clock, *, merchant_id: int, email: str, actor: audit.Actor
) -> str | None:
    """Email an active staff member a one-time sign-in link: the way in when the password form
    is refused for the account (services.ratelimit's per-account limit). Single use, LINK_TTL,
    only its keyed hash kept, and a new one voids the older ones, like a customer's magic link.
    The caller answers the same for any address; the raw token is returned only for tests."""
    address = normalize_email(email)
    staff = session.exec(
        select(StaffUser).where(
            StaffUser.merchant_id == merchant_id,
            StaffUser.email == address,
            StaffUser.disabled_at.is_(None),
        )
    ).first()
    if staff is None:
        return None
    now = clock.now()
    auth.void_unused(session, now, StaffSignInLink, StaffSignInLink.staff_id == staff.id)
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSignInLink(
            merchant_id=merchant_id,
            staff_id=staff.id,
            token_hash=keyed_hash(token),
            created_at=now,
            expires_at=now + LINK_TTL,
        )
    )
    session.flush()
    link = auth.token_link(STAFF_LINK_PATH, token)
    mailer.queue_staff(
        session,
        clock,
        merchant_id=merchant_id,
        to_address=staff.email,
        kind="magic_link",  # sealed in the outbox like every sign-in link
        subject="Your dashboard sign-in link",
        body=(
            f"Hello {staff.name or staff.email},\n\n"
            "Use this link to sign in to the merchant dashboard. It works once and expires in "
            f"{int(LINK_TTL.total_seconds() // 60)} minutes:\n\n{link}\n\n"
            "If you did not ask for it, someone may be trying your password: you can ignore "
            "this email, and your account's owner can see the attempts in the audit log."
        ),
    )
    audit.record_about(
        session, clock, staff, "staff", actor=actor, action="auth.staff_link_requested"
    )
    return token


def peek_staff_link(session: Session, clock: Clock, token: str) -> str | None:
    """The email a staff link would sign in, without using it (GET and HEAD use nothing)."""
    if not auth.plausible_token(token):
        return None
    return session.exec(
        select(StaffUser.email)
        .join(StaffSignInLink, StaffSignInLink.staff_id == StaffUser.id)
        .where(
            StaffSignInLink.token_hash == keyed_hash(token),
            StaffSignInLink.used_at.is_(None),
            StaffSignInLink.expires_at > clock.now(),
            StaffUser.disabled_at.is_(None),
        )
    ).first()


def redeem_staff_link(
    session: Session, clock: Clock, *, token: str, merchant_id: int, actor: audit.Actor
) -> SignIn:
    """Use a staff link once (the conditional UPDATE … RETURNING, as for customer links); a bad
    one is tallied like a bad customer link. Not held back by the password lock-out: owning the
    mailbox is the proof."""
    used = auth.claim_once(
        session,
        clock,
        StaffSignInLink,
        token,
        StaffSignInLink.merchant_id == merchant_id,
        returning=StaffSignInLink.staff_id,
    )
    staff = session.get(StaffUser, used[0]) if used is not None else None
    if staff is None or staff.disabled_at is not None:
        raise auth.refuse_link(
            session, clock, merchant_id=merchant_id, rule="bad_staff_link", ip=actor.ip
        )
    return _staff_session(session, clock, staff, actor, via="email_link")


def unlock_staff(
    session: Session, clock: Clock, *, merchant_id: int, staff_id: int, actor: audit.Actor
) -> None:
    """An owner lifts a member's password lock-out: every address's back-off for the account
    and the account-wide failure count (ratelimit). Audited; the counters live in Redis (or
    memory), so nothing else in the database changes."""
    staff = member_of(session, merchant_id, staff_id)
    account, _ = ratelimit.staff_lock_key(staff.email, "")
    ratelimit.get_backoff().clear_all(account)
    ratelimit.get_limiter().clear("password_account", account)
    audit.record_about(session, clock, staff, "staff", actor=actor, action="staff.unlocked")
