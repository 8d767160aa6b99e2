"""Who is signed in: server-side sessions (idle and absolute timeouts, revocable) and what every
way of signing in shares (keyed hashes, email and return-path rules, the link lifetimes).

The ways in live beside it: customer magic links (services.magic_links), staff passwords and
sign-in links (services.staff_auth), merchant API keys and portal links (services.portal_links).
Raw tokens, session ids and keys exist only in the link, the cookie or the caller's hands; the
database and the audit trail see keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.config import load_settings
from portal_app.models import AuthSession, Customer, LoginToken, Merchant, PortalSettings, StaffUser
from portal_app.services import audit, features, queries, refusals, staff_roles
from portal_app.services.errors import PortalError

LINK_TTL = timedelta(minutes=15)
PORTAL_LINK_TTL = timedelta(minutes=60)
# A staff member acting for a customer (support link) gets at most this long a session.
ACTING_SESSION_TTL = timedelta(minutes=60)
# The old address's link that undoes an email change: it signs no one in (services.email_change).
EMAIL_CANCEL = "email_cancel"
SIGN_IN_PURPOSES = ("login", "portal_link", "email_change")
TOUCH_EVERY = timedelta(seconds=60)
MIN_PASSWORD_LENGTH = 12
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
LINK_USED_OR_EXPIRED = "This sign-in link was already used or has expired. Request a new one."
# Longer than any token we issue: such a value is refused before it is hashed or looked up.
MAX_TOKEN_LENGTH = 200


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


def token_link(path: str, token: str) -> str:
    """The full URL of a one-time link: `path` on this portal, carrying the raw token."""
    return f"{load_settings().public_url}{path}?{urlencode({'token': token})}"


def plausible_token(token: str | None) -> bool:
    """Worth a lookup: present, and no longer than any token we issue."""
    return bool(token) and len(token) <= MAX_TOKEN_LENGTH


def claim_once(
    session: Session, clock: Clock, model, token: str | None, *where, returning, **values
):
    """Use a one-time token of `model` (a table with token_hash, used_at and expires_at): the
    conditional UPDATE … RETURNING marks the unused, unexpired row matching `where` used (and
    sets `values`), so exactly one of any number of concurrent uses gets its `returning` row;
    None for the others and for a bad token."""
    if not plausible_token(token):
        return None
    now = clock.now()
    return session.execute(
        sa.update(model)
        .where(
            model.token_hash == keyed_hash(token),
            *where,
            model.used_at.is_(None),
            model.expires_at > now,
        )
        .values(used_at=now, **values)
        .returning(returning)
    ).first()


def void_unused(session: Session, now, model, *where, **values) -> int:
    """Mark every unused one-time token of `model` matching `where` used (and set `values`):
    their links stop working. Returns how many."""
    return session.execute(
        sa.update(model).where(*where, model.used_at.is_(None)).values(used_at=now, **values)
    ).rowcount


def normalize_email(email: str) -> str:
    value = (email or "").strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise AuthError("Enter a valid email address.", code="invalid_email")
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


@dataclass(frozen=True)
class SignIn:
    session_id: str  # the raw id: it goes into the cookie and nowhere else
    auth_session: AuthSession
    return_to: str


def tally_bad_link(session: Session, clock: Clock, *, merchant_id: int, rule: str, ip: str):
    """A bad or used link is tallied, not chained: guessing links must not grow the audit chain."""
    refusals.record(
        session, clock, merchant_id=merchant_id, action=refusals.LINK_REJECTED, rule=rule, ip=ip
    )


def refuse_link(
    session: Session, clock: Clock, *, merchant_id: int, rule: str, ip: str
) -> AuthError:
    """A bad or used sign-in link, tallied; returns the error for the caller to raise."""
    tally_bad_link(session, clock, merchant_id=merchant_id, rule=rule, ip=ip)
    return AuthError(LINK_USED_OR_EXPIRED, code="bad_link")


def masked(email: str) -> str:
    """Enough of an address to investigate abuse, not enough to harvest it."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


def as_customer(actor: audit.Actor, customer_id: int) -> audit.Actor:
    return audit.Actor(
        "customer",
        str(customer_id),
        ip=actor.ip,
        user_agent=actor.user_agent,
        request_id=actor.request_id,
    )


# --- sessions -----------------------------------------------------------------------------------


def open_session(
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
        with _ending(session, clock, row, _session_actor(row), "auth.session_expired") as change:
            row.revoked_at, row.revoked_reason = now, reason
            change.after = {"reason": reason}
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


def _ending(session: Session, clock: Clock, row: AuthSession, actor: audit.Actor, action: str):
    """The recorded end of one session (expired, signed out, ended from another device)."""
    return audit.changing(session, clock, row, actor=actor, action=action, target_type="session")


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
    with _ending(session, clock, row, actor, "auth.sign_out"):
        row.revoked_at, row.revoked_reason = clock.now(), "signed_out"


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
    customer = session.get(Customer, customer_id)
    with audit.changing(
        session,
        clock,
        customer,
        actor=actor,
        action="auth.sessions_revoked",
        target_type="customer",
        customer_id=customer_id,
    ) as change:
        query = sa.update(AuthSession).where(
            AuthSession.customer_id == customer_id, AuthSession.revoked_at.is_(None)
        )
        if keep_session_id is not None:
            query = query.where(AuthSession.id != keep_session_id)
        ended = session.execute(query.values(revoked_at=now, revoked_reason="ended")).rowcount
        if keep_session_id is None:
            void_unused(
                session,
                now,
                LoginToken,
                LoginToken.customer_id == customer_id,
                # the old address's undo link outlives the change it can undo
                LoginToken.purpose != EMAIL_CANCEL,
            )
        change.after = {"sessions": ended, "reason": reason}
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
    row = queries.get_for_customer(session, AuthSession, customer_id, session_row_id, "Session")
    if row.revoked_at is not None:
        raise AuthError("That session has already ended.")
    with _ending(session, clock, row, actor, "auth.session_ended"):
        row.revoked_at, row.revoked_reason = clock.now(), "ended"
