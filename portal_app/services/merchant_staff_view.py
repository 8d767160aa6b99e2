"""Staff → Staff (owners), for the screen: the team and a member's sessions as display rows, and
a role change that says what it did."""

from __future__ import annotations

from typing import TypedDict

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.services import audit, staff, staff_roles


class MemberRow(TypedDict):
    key: str  # "member-3" | "invite-7": unique across both kinds
    kind: str  # member | invite
    id: str
    email: str
    name: str
    role: str
    role_label: str
    status: str  # invited | active | disabled
    last_sign_in: str  # "Never" before the first
    open_sessions: str
    expires: str  # invitations only
    me: str  # "yes" for the member asking


class SessionRow(TypedDict):
    id: str
    started: str
    last_seen: str
    ip: str
    device: str
    current: str  # "yes" for the session asking


def members(session: Session, clock: Clock, *, merchant_id: int, me: int | None) -> list[MemberRow]:
    """The team (members, then pending invitations); `me` is the asking member's id."""
    when = formatting.iso_minute_utc
    return [
        {
            "key": f"{m.kind}-{m.id}",
            "kind": m.kind,
            "id": str(m.id),
            "email": m.email,
            "name": m.name,
            "role": m.role,
            "role_label": staff_roles.LABELS.get(m.role, m.role),
            "status": m.status,
            "last_sign_in": when(m.last_sign_in) or "Never",
            "open_sessions": str(m.open_sessions),
            "expires": when(m.expires_at),
            "me": "yes" if m.kind == "member" and m.id == me else "",
        }
        for m in staff.list_members(session, clock, merchant_id)
    ]


def sessions(
    session: Session, clock: Clock, *, merchant_id: int, staff_id: int, current_session: int
) -> list[SessionRow]:
    """A member's open sessions; `current_session` is the asking session's row id."""
    when = formatting.iso_minute_utc
    return [
        {
            "id": str(s.id),
            "started": when(s.created_at),
            "last_seen": when(s.last_seen_at),
            "ip": s.ip or "unknown",
            "device": s.user_agent or "unknown device",
            "current": "yes" if s.id == current_session else "",
        }
        for s in staff.list_sessions(session, clock, merchant_id=merchant_id, staff_id=staff_id)
    ]


def change_role(
    session: Session, clock: Clock, *, merchant_id: int, staff_id, role: str, actor: audit.Actor
) -> str:
    """`staff.change_role`; returns what it did ("ops@example.com is now Admin.")."""
    member = staff.change_role(
        session, clock, merchant_id=merchant_id, staff_id=staff_id, role=role, actor=actor
    )
    return f"{member.email} is now {staff_roles.LABELS[member.role]}."
