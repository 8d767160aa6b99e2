"""Who is signed in. Magic links (256-bit tokens, stored as HMAC-SHA256, 15 minutes, single use,
redeemed atomically), server-side sessions (idle and absolute timeouts, revocable), merchant staff
passwords (argon2 through passlib's API) and merchant API keys that create one-time portal links.

Raw tokens, session ids and keys exist only in the link, the cookie or the caller's hands; the
database and the audit trail see keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from passlib.context import CryptContext
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.config import load_settings
from portal_app.models import (
    ApiKey,
    AuthSession,
    Customer,
    LoginToken,
    Merchant,
    PortalSettings,
    StaffSignInLink,
    StaffUser,
)
from portal_app.services import audit, features, mailer, ratelimit, refusals, staff_roles
from portal_app.services.errors import NotFound, PortalError

LINK_TTL = timedelta(minutes=15)
PORTAL_LINK_TTL = timedelta(minutes=60)
# A staff member acting for a customer (support link) gets at most this long a session.
ACTING_SESSION_TTL = timedelta(minutes=60)
# The old address's link that undoes an email change: it signs no one in (services.profile).
EMAIL_CANCEL = "email_cancel"
SIGN_IN_PURPOSES = ("login", "portal_link", "email_change")
TOUCH_EVERY = timedelta(seconds=60)
MIN_PASSWORD_LENGTH = 12
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")

passwords = CryptContext(schemes=["argon2"], deprecated="auto")
# Verified when the account does not exist, so a wrong email costs what a wrong password costs.
_DUMMY_HASH = passwords.hash(secrets.token_urlsafe(16))


class AuthError(PortalError):
    code = "auth_error"


class SessionEnded(AuthError):
    """The session is missing, revoked or timed out; `reason` says which for the sign-in page."""

    code = "session_ended"

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@lru_cache(maxsize=1)
def _secret() -> bytes:
    return load_settings().secret_key.encode()


def keyed_hash(value: str) -> str:
    return hmac.new(_secret(), value.encode(), hashlib.sha256).hexdigest()


def normalize_email(email: str) -> str:
    value = (email or "").strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise AuthError("Enter a valid email address.")
    return value


def safe_return_path(path: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash tricks."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in path):
        return "/"
    return path[:500]


def portal_merchant_id(session: Session) -> int | None:
    """The merchant this deployment serves: PORTAL_MERCHANT's slug, else the first merchant."""
    slug = load_settings().merchant_slug
    query = select(Merchant.id)
    query = query.where(Merchant.slug == slug) if slug else query.order_by(Merchant.id)
    return session.exec(query).first()


# --- magic links --------------------------------------------------------------------------------


def request_login_link(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    email: str,
    return_to: str,
    actor: audit.Actor,
) -> str | None:
    """Queue a sign-in link if the email belongs to a customer. The caller answers the same way
    either way; the raw token is returned only so tests can follow the link."""
    address = normalize_email(email)
    customer = session.exec(
        select(Customer).where(Customer.merchant_id == merchant_id, Customer.email == address)
    ).first()
    if customer is None:
        audit.record(
            session,
            clock,
            merchant_id=merchant_id,
            actor=actor,
            action="auth.link_requested",
            target_type="email",
            target_id=_masked(address),
            result="unknown_email",
        )
        return None
    token = _issue_token(
        session, clock, customer=customer, purpose="login", return_to=return_to, ttl=LINK_TTL
    )
    link = f"{load_settings().public_url}/auth/verify?{urlencode({'token': token})}"
    mailer.queue(
        session,
        clock,
        customer=customer,
        kind="magic_link",
        subject="Your sign-in link",
        body=(
            f"Hello {customer.name or customer.email},\n\n"
            f"Use this link to sign in to your billing portal. It works once and expires in "
            f"{int(LINK_TTL.total_seconds() // 60)} minutes:\n\n{link}\n\n"
            "If you did not ask for it, you can ignore this email."
        ),
    )
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="auth.link_requested",
        target_type="customer",
        target_id=customer.id,
        customer_id=customer.id,
    )
    return token


def _issue_token(
    session: Session,
    clock: Clock,
    *,
    customer: Customer,
    purpose: str,
    return_to: str,
    ttl: timedelta,
    new_email: str | None = None,
    return_url: str | None = None,
    acting_staff_id: int | None = None,
    void_older: bool = True,
) -> str:
    """A fresh token voids the customer's older unused ones of the same purpose (unless
    `void_older` is False: a new email change must not void the last one's cancel link)."""
    now = clock.now()
    if void_older:
        session.execute(
            sa.update(LoginToken)
            .where(
                LoginToken.customer_id == customer.id,
                LoginToken.purpose == purpose,
                LoginToken.used_at.is_(None),
            )
            .values(used_at=now)
        )
    token = secrets.token_urlsafe(32)
    session.add(
        LoginToken(
            merchant_id=customer.merchant_id,
            customer_id=customer.id,
            email=customer.email,
            token_hash=keyed_hash(token),
            purpose=purpose,
            new_email=new_email,
            return_to=safe_return_path(return_to),
            return_url=return_url,
            created_at=now,
            expires_at=now + ttl,
            acting_staff_id=acting_staff_id,
        )
    )
    session.flush()
    return token


issue_token = _issue_token  # for services with links of their own (profile's cancel link)


def claim_token(
    session: Session, clock: Clock, token: str, *, purposes: tuple[str, ...]
) -> LoginToken | None:
    """Use a token of one of `purposes` once: the conditional UPDATE … RETURNING lets exactly
    one of any number of concurrent uses through; None for the others and for a bad token."""
    if not token or len(token) > 200:
        return None
    now = clock.now()
    used = session.execute(
        sa.update(LoginToken)
        .where(
            LoginToken.token_hash == keyed_hash(token),
            LoginToken.purpose.in_(purposes),
            LoginToken.used_at.is_(None),
            LoginToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(LoginToken.id)
    ).first()
    return None if used is None else session.get(LoginToken, used[0])


def peek_token(session: Session, clock: Clock, token: str) -> LoginToken | None:
    """What a link would do, without using it (GET and HEAD never sign anyone in)."""
    if not token or len(token) > 200:
        return None
    row = session.exec(select(LoginToken).where(LoginToken.token_hash == keyed_hash(token))).first()
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return row


@dataclass(frozen=True)
class SignIn:
    session_id: str  # the raw id: it goes into the cookie and nowhere else
    auth_session: AuthSession
    return_to: str


def redeem_login_token(
    session: Session, clock: Clock, *, token: str, merchant_id: int, actor: audit.Actor
) -> SignIn:
    """Use a link once. The conditional UPDATE … RETURNING lets exactly one of any number of
    concurrent redemptions through; the others see 'already used or expired'."""
    row = claim_token(session, clock, token, purposes=SIGN_IN_PURPOSES)
    if row is None:  # tallied, not chained: guessing links must not grow the audit chain
        refusals.record(
            session,
            clock,
            merchant_id=merchant_id,
            action=refusals.LINK_REJECTED,
            rule="bad_token",
            ip=actor.ip,
        )
        raise AuthError("This sign-in link was already used or has expired. Request a new one.")
    customer = session.get(Customer, row.customer_id)
    if row.purpose == "email_change":
        _apply_email_change(session, clock, customer, row.new_email, actor)
    auth_session, sid = _open_session(
        session,
        clock,
        merchant_id=row.merchant_id,
        role="customer",
        customer_id=customer.id,
        actor=actor,
        return_url=row.return_url,
        acting_staff_id=row.acting_staff_id,
    )
    signed, via = _as_customer(actor, customer.id), {"via": row.purpose}
    if row.acting_staff_id is not None:
        signed = audit.Actor.acting(
            row.acting_staff_id, customer.id, ip=actor.ip, user_agent=actor.user_agent
        )
        via["acting_staff_id"] = row.acting_staff_id
    audit.record(
        session,
        clock,
        merchant_id=row.merchant_id,
        actor=signed,
        action="auth.sign_in",
        target_type="session",
        target_id=auth_session.id,
        customer_id=customer.id,
        after=via,
    )
    return SignIn(sid, auth_session, row.return_to)


def _apply_email_change(session, clock, customer: Customer, new_email: str, actor) -> None:
    taken = session.exec(
        select(Customer.id).where(
            Customer.merchant_id == customer.merchant_id, Customer.email == new_email
        )
    ).first()
    if taken is not None:
        raise AuthError("That email address is already in use.")
    before = customer.email
    customer.email = new_email
    session.add(customer)
    revoke_all(session, clock, customer_id=customer.id, actor=actor, reason="email_change")
    audit.record(
        session,
        clock,
        merchant_id=customer.merchant_id,
        actor=_as_customer(actor, customer.id),
        action="profile.email_changed",
        target_type="customer",
        target_id=customer.id,
        customer_id=customer.id,
        before={"email": before},
        after={"email": new_email},
    )


def request_email_change(
    session: Session, clock: Clock, *, customer_id: int, new_email: str, actor: audit.Actor
) -> str:
    """The new address must confirm before it replaces the old one; returns the raw token."""
    customer = session.get(Customer, customer_id)
    address = normalize_email(new_email)
    if address == customer.email:
        raise AuthError("That is already your email address.")
    token = _issue_token(
        session,
        clock,
        customer=customer,
        purpose="email_change",
        return_to="/profile",
        ttl=LINK_TTL,
        new_email=address,
    )
    link = f"{load_settings().public_url}/auth/verify?{urlencode({'token': token})}"
    mailer.queue(
        session,
        clock,
        customer=customer,
        kind="email_change",
        to_address=address,
        subject="Confirm your new email address",
        body=f"Confirm {address} as your billing email by opening this link:\n\n{link}\n",
    )
    audit.record(
        session,
        clock,
        merchant_id=customer.merchant_id,
        actor=actor,
        action="profile.email_change_requested",
        target_type="customer",
        target_id=customer.id,
        customer_id=customer.id,
        after={"new_email": address},
    )
    return token


# --- sessions -----------------------------------------------------------------------------------


def _open_session(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    role: str,
    actor: audit.Actor,
    customer_id: int | None = None,
    staff_id: int | None = None,
    return_url: str | None = None,
    acting_staff_id: int | None = None,
) -> tuple[AuthSession, str]:
    settings = features.load(session, merchant_id)
    now = clock.now()
    sid = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=settings["security.absolute_timeout_hours"])
    if acting_staff_id is not None:
        expires_at = min(expires_at, now + ACTING_SESSION_TTL)
    row = AuthSession(
        sid_hash=keyed_hash(sid),
        merchant_id=merchant_id,
        role=role,
        customer_id=customer_id,
        staff_id=staff_id,
        acting_staff_id=acting_staff_id,
        return_url=return_url,
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
        ip=actor.ip[:64],
        user_agent=actor.user_agent[:300],
    )
    session.add(row)
    session.flush()
    return row, sid


@dataclass(frozen=True)
class SignedIn:
    """A checked session: who is asking, and the merchant's settings read with it."""

    id: int
    merchant_id: int
    role: str
    customer_id: int | None
    staff_id: int | None
    settings: features.FeatureSet
    staff_role: str | None = None  # read from StaffUser at every check, for staff sessions
    acting_staff_id: int | None = None  # a customer session opened by a staff support link


# Built once: the session check runs at every privileged event, and a prebuilt Core statement
# skips SQLAlchemy's statement building and ORM loading (about a third of the check's CPU).
_SESSION_BY_HASH = (
    select(
        AuthSession.id,
        AuthSession.merchant_id,
        AuthSession.role,
        AuthSession.customer_id,
        AuthSession.staff_id,
        AuthSession.acting_staff_id,
        AuthSession.last_seen_at,
        AuthSession.expires_at,
        AuthSession.revoked_at,
        AuthSession.revoked_reason,
        PortalSettings.document,
        StaffUser.role.label("staff_role"),
        StaffUser.disabled_at.label("staff_disabled_at"),
    )
    .outerjoin(PortalSettings, PortalSettings.merchant_id == AuthSession.merchant_id)
    # the member behind a staff session, or the one acting in a customer session (disabling
    # them ends both kinds)
    .outerjoin(
        StaffUser,
        StaffUser.id == sa.func.coalesce(AuthSession.staff_id, AuthSession.acting_staff_id),
    )
    .where(AuthSession.sid_hash == sa.bindparam("sid_hash"))
)
_TOUCH = (
    sa.update(AuthSession)
    .where(AuthSession.id == sa.bindparam("row_id"))
    .values(last_seen_at=sa.bindparam("now"))
)


def load_session(session: Session, clock: Clock, session_id: str | None, *, role: str) -> SignedIn:
    """The session behind a cookie, checked at every privileged event: present, not revoked,
    of this role, inside the absolute and idle timeouts. Activity moves the idle deadline."""
    if not session_id or len(session_id) > 200:
        raise SessionEnded("Please sign in.", "missing")
    found = session.connection().execute(_SESSION_BY_HASH, {"sid_hash": keyed_hash(session_id)})
    found = found.first()
    if found is None:
        raise SessionEnded("Please sign in.", "missing")
    if found.revoked_at is not None:
        raise SessionEnded("Please sign in.", found.revoked_reason or "missing")
    if found.role != role:
        raise SessionEnded("Please sign in.", "wrong_role")
    if found.staff_disabled_at is not None:
        raise SessionEnded("Please sign in.", "disabled")
    if found.acting_staff_id is not None and not staff_roles.allows(found.staff_role, "support"):
        raise SessionEnded("Please sign in.", "disabled")  # the member lost the support role
    settings = features.from_document(found.document)
    now = clock.now()
    idle = timedelta(minutes=settings["security.idle_timeout_minutes"])
    if now >= found.expires_at or now - found.last_seen_at >= idle:
        reason = "absolute_timeout" if now >= found.expires_at else "idle_timeout"
        row = session.get(AuthSession, found.id)
        row.revoked_at, row.revoked_reason = now, reason
        session.add(row)
        audit.record(
            session,
            clock,
            merchant_id=row.merchant_id,
            actor=_session_actor(row),
            action="auth.session_expired",
            target_type="session",
            target_id=row.id,
            customer_id=row.customer_id,
            after={"reason": reason},
        )
        raise SessionEnded("Your session has ended. Please sign in again.", reason)
    if now - found.last_seen_at >= TOUCH_EVERY:
        session.connection().execute(_TOUCH, {"row_id": found.id, "now": now})
    return SignedIn(
        id=found.id,
        merchant_id=found.merchant_id,
        role=found.role,
        customer_id=found.customer_id,
        staff_id=found.staff_id,
        settings=settings,
        staff_role=found.staff_role,
        acting_staff_id=found.acting_staff_id,
    )


def _session_actor(row: AuthSession) -> audit.Actor:
    if row.acting_staff_id is not None:
        return audit.Actor.acting(row.acting_staff_id, row.customer_id)
    if row.role == "customer":
        return audit.Actor.customer(row.customer_id)
    return audit.Actor.merchant(row.staff_id)


def sign_out(
    session: Session,
    clock: Clock,
    session_id: str | None,
    actor: audit.Actor,
    *,
    role: str | None = None,
) -> None:
    """End the session behind a cookie. With `role`, only a session of that role: the portal's
    sign-out never ends a staff session and the dashboard's never a customer one."""
    if not session_id:
        return
    row = session.exec(
        select(AuthSession).where(AuthSession.sid_hash == keyed_hash(session_id))
    ).first()
    if row is None or row.revoked_at is not None:
        return
    if role is not None and row.role != role:
        return
    row.revoked_at, row.revoked_reason = clock.now(), "signed_out"
    session.add(row)
    audit.record(
        session,
        clock,
        merchant_id=row.merchant_id,
        actor=actor,
        action="auth.sign_out",
        target_type="session",
        target_id=row.id,
        customer_id=row.customer_id,
    )


def revoke_all(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    actor: audit.Actor,
    reason: str,
    keep_session_id: int | None = None,
) -> int:
    """End every session (and unused link) of a customer: sign-out everywhere, email change."""
    now = clock.now()
    query = sa.update(AuthSession).where(
        AuthSession.customer_id == customer_id, AuthSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        query = query.where(AuthSession.id != keep_session_id)
    ended = session.execute(query.values(revoked_at=now, revoked_reason="ended")).rowcount
    if keep_session_id is None:
        session.execute(
            sa.update(LoginToken)
            .where(
                LoginToken.customer_id == customer_id,
                LoginToken.used_at.is_(None),
                # the old address's undo link outlives the change it can undo
                LoginToken.purpose != EMAIL_CANCEL,
            )
            .values(used_at=now)
        )
    customer = session.get(Customer, customer_id)
    audit.record(
        session,
        clock,
        merchant_id=customer.merchant_id,
        actor=actor,
        action="auth.sessions_revoked",
        target_type="customer",
        target_id=customer_id,
        customer_id=customer_id,
        after={"sessions": ended, "reason": reason},
    )
    return ended


def live_sessions_of(customer_id, now):
    """The criteria of a customer's live sessions (either argument may be a bind parameter)."""
    return (
        AuthSession.customer_id == customer_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > now,
    )


def list_sessions(session: Session, clock: Clock, customer_id: int) -> list[AuthSession]:
    return list(
        session.exec(
            select(AuthSession)
            .where(*live_sessions_of(customer_id, clock.now()))
            .order_by(AuthSession.last_seen_at.desc())
        )
    )


def end_session(
    session: Session, clock: Clock, *, customer_id: int, session_row_id: int, actor: audit.Actor
) -> None:
    """A customer ends one of their own sessions (another device). Staff acting for the
    customer (a support link) may not: which devices stay signed in is the customer's call."""
    if actor.for_customer is not None:
        raise AuthError("Only the customer can sign out their other devices.")
    row = session.exec(
        select(AuthSession).where(
            AuthSession.id == session_row_id, AuthSession.customer_id == customer_id
        )
    ).first()
    if row is None:
        raise NotFound("Session not found.")
    if row.revoked_at is not None:
        raise AuthError("That session has already ended.")
    row.revoked_at, row.revoked_reason = clock.now(), "ended"
    session.add(row)
    audit.record(
        session,
        clock,
        merchant_id=row.merchant_id,
        actor=actor,
        action="auth.session_ended",
        target_type="session",
        target_id=row.id,
        customer_id=customer_id,
    )


# --- merchant staff -----------------------------------------------------------------------------


def check_new_password(password: str) -> None:
    """The rule for every new staff password (create-admin, an accepted invitation)."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AuthError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")


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
    session.add(staff)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="staff.create",
        target_type="staff",
        target_id=staff.id,
        after={"email": address, "role": role},
    )
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
            target_id=_masked(address) if address else "",
            result="denied",
        )
        raise AuthError("Email or password is incorrect.")
    if passwords.needs_update(staff.password_hash):
        staff.password_hash = passwords.hash(password)
        session.add(staff)
    return _staff_session(session, clock, staff, actor, via="password")


def _staff_session(session, clock, staff: StaffUser, actor: audit.Actor, *, via: str) -> SignIn:
    auth_session, sid = _open_session(
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
    return SignIn(sid, auth_session, "/merchant")


# --- staff sign-in links and unlocking ------------------------------------------------------------

STAFF_LINK_PATH = "/auth/staff/link"


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
    session.execute(
        sa.update(StaffSignInLink)
        .where(StaffSignInLink.staff_id == staff.id, StaffSignInLink.used_at.is_(None))
        .values(used_at=now)
    )
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
    link = f"{load_settings().public_url}{STAFF_LINK_PATH}?{urlencode({'token': token})}"
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
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="auth.staff_link_requested",
        target_type="staff",
        target_id=staff.id,
    )
    return token


def peek_staff_link(session: Session, clock: Clock, token: str) -> str | None:
    """The email a staff link would sign in, without using it (GET and HEAD use nothing)."""
    if not token or len(token) > 200:
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
    staff_id = None
    if token and len(token) <= 200:
        now = clock.now()
        staff_id = session.execute(
            sa.update(StaffSignInLink)
            .where(
                StaffSignInLink.token_hash == keyed_hash(token),
                StaffSignInLink.merchant_id == merchant_id,
                StaffSignInLink.used_at.is_(None),
                StaffSignInLink.expires_at > now,
            )
            .values(used_at=now)
            .returning(StaffSignInLink.staff_id)
        ).scalar()
    staff = session.get(StaffUser, staff_id) if staff_id is not None else None
    if staff is None or staff.disabled_at is not None:
        refusals.record(
            session,
            clock,
            merchant_id=merchant_id,
            action=refusals.LINK_REJECTED,
            rule="bad_staff_link",
            ip=actor.ip,
        )
        raise AuthError("This sign-in link was already used or has expired. Request a new one.")
    return _staff_session(session, clock, staff, actor, via="email_link")


def unlock_staff(
    session: Session, clock: Clock, *, merchant_id: int, staff_id: int, actor: audit.Actor
) -> None:
    """An owner lifts a member's password lock-out: every address's back-off for the account
    and the account-wide failure count (ratelimit). Audited; the counters live in Redis (or
    memory), so nothing else in the database changes."""
    staff = session.exec(
        select(StaffUser).where(StaffUser.id == staff_id, StaffUser.merchant_id == merchant_id)
    ).first()
    if staff is None:
        raise NotFound("Staff member not found.")
    account, _ = ratelimit.staff_lock_key(staff.email, "")
    ratelimit.get_backoff().clear_all(account)
    ratelimit.get_limiter().clear("password_account", account)
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="staff.unlocked",
        target_type="staff",
        target_id=staff.id,
    )


# --- merchant API keys and portal links -----------------------------------------------------------


def create_api_key(
    session: Session, clock: Clock, *, merchant_id: int, name: str, actor: audit.Actor
) -> str:
    """Returns the key once; only its keyed hash and a short prefix are kept."""
    raw = "sk_portal_" + secrets.token_urlsafe(32)
    key = ApiKey(
        merchant_id=merchant_id,
        name=name[:100],
        prefix=raw[:14],
        key_hash=keyed_hash(raw),
        created_at=clock.now(),
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="api_key.create",
        target_type="api_key",
        target_id=key.id,
        after={"prefix": key.prefix, "name": key.name},
    )
    return raw


def authenticate_api_key(session: Session, clock: Clock, raw: str | None) -> ApiKey | None:
    if not raw or len(raw) > 200:
        return None
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == keyed_hash(raw))).first()
    if key is None or key.revoked_at is not None:
        return None
    key.last_used_at = clock.now()
    session.add(key)
    return key


def allowed_return_url(url: str, public_url: str, allowed_origins: list[str]) -> bool:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    own = urlsplit(public_url)
    return origin == f"{own.scheme}://{own.netloc}".lower() or origin in {
        o.rstrip("/").lower() for o in allowed_origins
    }


def create_portal_link(
    session: Session, clock: Clock, *, api_key: ApiKey, customer_id: int, return_url: str | None
) -> tuple[str, datetime]:
    """Like Stripe's and Polar's portal sessions: a one-time link for one customer."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merchant_id != api_key.merchant_id:
        raise AuthError("No such customer.", code="not_found")
    settings = load_settings()
    origins = features.load(session, api_key.merchant_id)["api.return_url_origins"]
    if return_url and not allowed_return_url(return_url, settings.public_url, origins):
        raise AuthError("return_url must be on this portal or an allowed origin.")
    token = _issue_token(
        session,
        clock,
        customer=customer,
        purpose="portal_link",
        return_to="/",
        ttl=PORTAL_LINK_TTL,
        return_url=return_url,
    )
    audit.record(
        session,
        clock,
        merchant_id=api_key.merchant_id,
        actor=audit.Actor("api", api_key.prefix),
        action="portal_link.create",
        target_type="customer",
        target_id=customer.id,
        customer_id=customer.id,
    )
    url = f"{settings.public_url}/auth/verify?{urlencode({'token': token})}"
    return url, clock.now() + PORTAL_LINK_TTL


def issue_support_link(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    customer_id: int,
    actor: audit.Actor,
    acting_staff_id: int | None = None,
) -> str:
    """Merchant staff create a one-time portal link for a customer (same rules as the API's);
    returns the full URL. With `acting_staff_id` (support) the session it opens is marked as
    that member acting for the customer; the preview's stand-in customer goes without."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merchant_id != merchant_id:
        raise AuthError("No such customer.", code="not_found")
    token = _issue_token(
        session,
        clock,
        customer=customer,
        purpose="portal_link",
        return_to="/portal",
        ttl=PORTAL_LINK_TTL,
        acting_staff_id=acting_staff_id,
    )
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="portal_link.create",
        target_type="customer",
        target_id=customer.id,
        customer_id=customer.id,
        after={"acting_staff_id": acting_staff_id} if acting_staff_id is not None else None,
    )
    return f"{load_settings().public_url}/auth/verify?{urlencode({'token': token})}"


def _masked(email: str) -> str:
    """Enough of an address to investigate abuse, not enough to harvest it."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


def _as_customer(actor: audit.Actor, customer_id: int) -> audit.Actor:
    return audit.Actor(
        "customer",
        str(customer_id),
        ip=actor.ip,
        user_agent=actor.user_agent,
        request_id=actor.request_id,
    )
