"""Staff management for a merchant's owners: who is on the team, invitations by email, roles,
disabling and re-enabling members, and their sessions.

Invitations are one-time links like sign-in links (256-bit token, only its keyed hash stored,
INVITE_TTL, single use through a conditional UPDATE … RETURNING, a newer invite voids older ones);
the mail is sealed in the outbox. Accepting one sets a password (auth's rules) and signs in.

The last active owner can be neither demoted nor disabled. Every change that could remove an
owner first locks the merchant's row (SELECT … FOR UPDATE; SQLite's writer lock does the same), so
two concurrent demotions of the last two owners are serialised and the second sees one owner.

Every id from a caller is re-scoped to `merchant_id`: another merchant's member is "not found".
Each change records one audit event in the caller's transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import AuthSession, Merchant, PortalSettings, StaffInvite, StaffUser
from portal_app.services import audit, auth, features, mailer, staff_auth, staff_roles
from portal_app.services.errors import NotFound, PortalError
from portal_app.services.queries import count_rows

INVITE_TTL = timedelta(hours=72)
# Invitations one merchant may send per day: an owner's stolen session can't mail-bomb anyone.
INVITES_PER_DAY = 50
INVITE_PATH = "/auth/staff/invite"

INVITED, ACTIVE, DISABLED = "invited", "active", "disabled"


class StaffError(PortalError):
    code = "staff_error"


class LastOwner(StaffError):
    code = "last_owner"


@dataclass(frozen=True)
class Member:
    """One row of the Staff page: a member (active or disabled) or a pending invitation."""

    kind: str  # member | invite
    id: int  # StaffUser.id or StaffInvite.id
    email: str
    name: str
    role: str
    status: str  # invited | active | disabled
    last_sign_in: datetime | None
    open_sessions: int
    expires_at: datetime | None = None  # invitations only


@dataclass(frozen=True)
class StaffSession:
    id: int
    created_at: datetime
    last_seen_at: datetime
    ip: str
    user_agent: str


def _normalize_role(role: str) -> str:
    if role not in staff_roles.STAFF_ROLES:
        raise StaffError("Choose a role: viewer, support, admin or owner.", code="bad_role")
    return role


def _lock_team(session: Session, merchant_id: int) -> None:
    """Serialise changes to this merchant's team until commit (PostgreSQL row lock; on SQLite
    the transaction already holds the writer lock from BEGIN IMMEDIATE)."""
    session.exec(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update()).one()


def active_owner_count(session: Session, merchant_id: int) -> int:
    return count_rows(
        session,
        StaffUser,
        StaffUser.merchant_id == merchant_id,
        StaffUser.role == "owner",
        StaffUser.disabled_at.is_(None),
    )


def _refuse_if_last_owner(session: Session, merchant_id: int, member: StaffUser, doing: str):
    active_owner = member.role == "owner" and member.disabled_at is None
    if active_owner and active_owner_count(session, merchant_id) <= 1:
        raise LastOwner(
            f"You can't {doing} the last owner. Make another member an owner first, "
            "so someone can still manage staff."
        )


def _changing_member(session: Session, clock: Clock, member: StaffUser, actor, action: str, **kw):
    """The recorded change of one member (audited as target "staff")."""
    return audit.changing(
        session, clock, member, actor=actor, action=action, target_type="staff", **kw
    )


def _role(member: StaffUser) -> dict[str, str]:
    return {"role": member.role}


def _live_sessions(merchant_id: int, now: datetime, idle: timedelta):
    return (
        AuthSession.merchant_id == merchant_id,
        AuthSession.role == "staff",
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > now,
        AuthSession.last_seen_at > now - idle,
    )


def _idle(session: Session, merchant_id: int) -> timedelta:
    document = session.exec(
        select(PortalSettings.document).where(PortalSettings.merchant_id == merchant_id)
    ).first()
    return timedelta(minutes=features.from_document(document)["security.idle_timeout_minutes"])


# --- listing ------------------------------------------------------------------------------------


def list_members(session: Session, clock: Clock, merchant_id: int) -> list[Member]:
    """Members (owners first, then by email) and pending invitations, newest last."""
    now = clock.now()
    idle = _idle(session, merchant_id)
    last_sign_in = dict(
        session.exec(
            select(AuthSession.staff_id, sa.func.max(AuthSession.created_at))
            .where(AuthSession.merchant_id == merchant_id, AuthSession.role == "staff")
            .group_by(AuthSession.staff_id)
        ).all()
    )
    open_counts = dict(
        session.exec(
            select(AuthSession.staff_id, sa.func.count())
            .where(*_live_sessions(merchant_id, now, idle))
            .group_by(AuthSession.staff_id)
        ).all()
    )
    staff = session.exec(select(StaffUser).where(StaffUser.merchant_id == merchant_id)).all()
    members = [
        Member(
            kind="member",
            id=s.id,
            email=s.email,
            name=s.name,
            role=s.role,
            status=DISABLED if s.disabled_at is not None else ACTIVE,
            last_sign_in=_aware(last_sign_in.get(s.id)),
            open_sessions=0 if s.disabled_at is not None else open_counts.get(s.id, 0),
        )
        for s in staff
    ]
    members.sort(key=lambda m: (-staff_roles.rank(m.role), m.email))
    invites = session.exec(
        select(StaffInvite)
        .where(
            StaffInvite.merchant_id == merchant_id,
            StaffInvite.used_at.is_(None),
            StaffInvite.expires_at > now,
        )
        .order_by(StaffInvite.id)
    ).all()
    members += [
        Member(
            kind="invite",
            id=i.id,
            email=i.email,
            name="",
            role=i.role,
            status=INVITED,
            last_sign_in=None,
            open_sessions=0,
            expires_at=i.expires_at,
        )
        for i in invites
    ]
    return members


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands aggregates back as naive (or text) values; everything here is UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def list_sessions(
    session: Session, clock: Clock, *, merchant_id: int, staff_id
) -> list[StaffSession]:
    """A member's open sessions, most recently used first."""
    member = staff_auth.member_of(session, merchant_id, staff_id)
    now = clock.now()
    rows = session.exec(
        select(AuthSession)
        .where(
            AuthSession.staff_id == member.id,
            *_live_sessions(merchant_id, now, _idle(session, merchant_id)),
        )
        .order_by(AuthSession.last_seen_at.desc())
    ).all()
    return [
        StaffSession(
            id=r.id,
            created_at=r.created_at,
            last_seen_at=r.last_seen_at,
            ip=r.ip,
            user_agent=r.user_agent,
        )
        for r in rows
    ]


# --- invitations --------------------------------------------------------------------------------


def invite_link(token: str) -> str:
    return auth.token_link(INVITE_PATH, token)


def invite(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    email: str,
    role: str,
    actor: audit.Actor,
    invited_by: int | None = None,
) -> str:
    """Invite `email` as `role`: mail a one-time link, void the address's older invitations.
    Returns the raw token (only for tests to follow; it is also in the sealed mail)."""
    try:
        address = auth.normalize_email(email)
    except auth.AuthError as exc:
        raise StaffError(str(exc), code="bad_email") from exc
    role = _normalize_role(role)
    existing = session.exec(
        select(StaffUser).where(StaffUser.merchant_id == merchant_id, StaffUser.email == address)
    ).first()
    if existing is not None:
        if existing.disabled_at is not None:
            raise StaffError(
                f"{address} is a disabled member. Enable them instead of inviting them again.",
                code="already_member",
            )
        raise StaffError(f"{address} is already on your team.", code="already_member")
    now = clock.now()
    sent_today = count_rows(
        session,
        StaffInvite,
        StaffInvite.merchant_id == merchant_id,
        StaffInvite.created_at > now - timedelta(1),
    )
    if sent_today >= INVITES_PER_DAY:
        raise StaffError(
            f"You have sent {INVITES_PER_DAY} invitations in the last 24 hours. "
            "Try again tomorrow.",
            code="too_many_invites",
        )
    voided = auth.void_unused(
        session,
        now,
        StaffInvite,
        StaffInvite.merchant_id == merchant_id,
        StaffInvite.email == address,
        outcome="voided",
    )
    token = secrets.token_urlsafe(32)
    row = StaffInvite(
        merchant_id=merchant_id,
        email=address,
        role=role,
        token_hash=auth.keyed_hash(token),
        invited_by=invited_by,
        created_at=now,
        expires_at=now + INVITE_TTL,
    )
    with audit.changing(
        session, clock, row, actor=actor, action="staff.invited", target_type="staff_invite"
    ) as change:
        session.add(row)
        session.flush()
        _mail_invite(session, clock, merchant_id, address, role, token)
        change.after = {"email": address, "role": role, "voided_invites": voided}
    return token


def _mail_invite(session: Session, clock: Clock, merchant_id: int, address, role, token) -> None:
    merchant = session.get(Merchant, merchant_id)
    hours = int(INVITE_TTL.total_seconds() // 3600)
    mailer.queue_staff(
        session,
        clock,
        merchant_id=merchant_id,
        to_address=address,
        kind="staff_invite",
        subject=f"You're invited to the {merchant.name} dashboard",
        body=(
            f"Hello,\n\nYou have been invited to join the {merchant.name} billing dashboard as "
            f"{staff_roles.LABELS[role]}. Open this link to choose a password and sign in. "
            f"It works once and expires in {hours} hours:\n\n{invite_link(token)}\n\n"
            "If you were not expecting this, you can ignore this email."
        ),
    )


def reinvite(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    invite_id,
    actor: audit.Actor,
    invited_by: int | None = None,
) -> str:
    """Send a pending invitation again: a new link with the same role; the old link stops."""
    pending = session.exec(
        select(StaffInvite).where(
            StaffInvite.id == int(invite_id),
            StaffInvite.merchant_id == merchant_id,
            StaffInvite.used_at.is_(None),
        )
    ).first()
    if pending is None:
        raise NotFound("Invitation not found, or already used.")
    return invite(
        session,
        clock,
        merchant_id=merchant_id,
        email=pending.email,
        role=pending.role,
        actor=actor,
        invited_by=invited_by,
    )


def revoke_invite(
    session: Session, clock: Clock, *, merchant_id: int, invite_id, actor: audit.Actor
) -> None:
    """Withdraw a pending invitation: its link stops working."""
    revoked = session.execute(
        sa.update(StaffInvite)
        .where(
            StaffInvite.id == int(invite_id),
            StaffInvite.merchant_id == merchant_id,
            StaffInvite.used_at.is_(None),
        )
        .values(used_at=clock.now(), outcome="revoked")
        .returning(StaffInvite.email)
    ).first()
    if revoked is None:
        raise NotFound("Invitation not found, or already used.")
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="staff.invite_revoked",
        target_type="staff_invite",
        target_id=int(invite_id),
        after={"email": revoked[0]},
    )


@dataclass(frozen=True)
class PendingInvite:
    email: str
    role: str
    merchant_name: str


def peek_invite(session: Session, clock: Clock, token: str) -> PendingInvite | None:
    """What an invitation link is for, without using it (GET and HEAD never use it)."""
    if not auth.plausible_token(token):
        return None
    found = session.exec(
        select(StaffInvite.email, StaffInvite.role, Merchant.name)
        .join(Merchant, Merchant.id == StaffInvite.merchant_id)
        .where(
            StaffInvite.token_hash == auth.keyed_hash(token),
            StaffInvite.used_at.is_(None),
            StaffInvite.expires_at > clock.now(),
        )
    ).first()
    return PendingInvite(*found) if found else None


USED_OR_EXPIRED = (
    "This invitation was already used or has expired. Ask an owner of the team for a new one."
)


def accept_invite(
    session: Session,
    clock: Clock,
    *,
    token: str,
    password: str,
    name: str = "",
    actor: audit.Actor,
) -> auth.SignIn:
    """Use an invitation once: create the member with this password (auth's rules) and sign
    them in. A weak password is refused before the link is used, so it can be tried again; of
    any number of concurrent redemptions exactly one gets through (conditional UPDATE)."""
    staff_auth.check_new_password(password)
    used = auth.claim_once(
        session, clock, StaffInvite, token, returning=StaffInvite.id, outcome="accepted"
    )
    if used is None:
        raise StaffError(USED_OR_EXPIRED, code="invite_used")
    row = session.get(StaffInvite, used[0])
    invitee = audit.Actor("invite", str(row.id), ip=actor.ip, user_agent=actor.user_agent)
    try:
        member = staff_auth.create_staff(
            session,
            clock,
            merchant_id=row.merchant_id,
            email=row.email,
            password=password,
            name=name.strip()[:200],
            role=row.role,
            actor=invitee,
        )
    except auth.AuthError as exc:  # joined meanwhile through another path (create-admin)
        raise StaffError(str(exc), code="already_member") from exc
    row.staff_id = member.id
    session.add(row)
    return staff_auth.staff_sign_in(
        session,
        clock,
        merchant_id=row.merchant_id,
        email=row.email,
        password=password,
        actor=actor,
    )


# --- roles, disabling, sessions -----------------------------------------------------------------


def change_role(
    session: Session, clock: Clock, *, merchant_id: int, staff_id, role: str, actor: audit.Actor
) -> StaffUser:
    role = _normalize_role(role)
    _lock_team(session, merchant_id)
    member = staff_auth.member_of(session, merchant_id, staff_id)
    if member.role == role:
        raise StaffError(f"{member.email} is already {staff_roles.LABELS[role]}.", code="unchanged")
    if role != "owner":
        _refuse_if_last_owner(session, merchant_id, member, "demote")
    with _changing_member(session, clock, member, actor, "staff.role_changed", snapshot=_role):
        member.role = role
    return member


def disable(
    session: Session, clock: Clock, *, merchant_id: int, staff_id, actor: audit.Actor
) -> int:
    """Disable a member: they can't sign in, and every session of theirs ends now (revoked
    rows; the guard also refuses a disabled member's session). Returns the sessions ended."""
    _lock_team(session, merchant_id)
    member = staff_auth.member_of(session, merchant_id, staff_id)
    if member.disabled_at is not None:
        raise StaffError(f"{member.email} is already disabled.", code="unchanged")
    _refuse_if_last_owner(session, merchant_id, member, "disable")
    now = clock.now()
    before = {"status": ACTIVE}
    with _changing_member(session, clock, member, actor, "staff.disabled", before=before) as change:
        member.disabled_at = now
        session.add(member)
        ended = _end_sessions(session, now, member.id, "disabled")
        change.after = {"status": DISABLED, "sessions_ended": ended}
    return ended


def enable(
    session: Session, clock: Clock, *, merchant_id: int, staff_id, actor: audit.Actor
) -> StaffUser:
    member = staff_auth.member_of(session, merchant_id, staff_id)
    if member.disabled_at is None:
        raise StaffError(f"{member.email} is already active.", code="unchanged")
    before = {"status": DISABLED}
    with _changing_member(session, clock, member, actor, "staff.enabled", before=before) as change:
        member.disabled_at = None
        change.after = {"status": ACTIVE}
    return member


def _end_sessions(session: Session, now: datetime, staff_id: int, reason: str, only=None) -> int:
    query = sa.update(AuthSession).where(
        AuthSession.staff_id == staff_id,
        AuthSession.role == "staff",
        AuthSession.revoked_at.is_(None),
    )
    if only is not None:
        query = query.where(AuthSession.id == only)
    return session.execute(query.values(revoked_at=now, revoked_reason=reason)).rowcount


def end_session(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    staff_id,
    session_row_id,
    actor: audit.Actor,
) -> None:
    """End one session of a member (a lost laptop, a shared computer)."""
    member = staff_auth.member_of(session, merchant_id, staff_id)
    if not _end_sessions(session, clock.now(), member.id, "ended", only=int(session_row_id)):
        raise NotFound("Session not found, or it has already ended.")
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="staff.session_ended",
        target_type="session",
        target_id=int(session_row_id),
        after={"staff_id": member.id},
    )


def end_all_sessions(
    session: Session, clock: Clock, *, merchant_id: int, staff_id, actor: audit.Actor
) -> int:
    """Sign a member out everywhere. Returns how many sessions ended."""
    member = staff_auth.member_of(session, merchant_id, staff_id)
    with _changing_member(session, clock, member, actor, "staff.sessions_ended") as change:
        ended = _end_sessions(session, clock.now(), member.id, "ended")
        if not ended:
            raise StaffError(f"{member.email} has no open sessions.", code="unchanged")
        change.after = {"sessions_ended": ended}
    return ended
