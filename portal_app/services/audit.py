"""Append-only audit trail, written in the caller's transaction, chained by SHA-256 per merchant."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.db import insert_ignore
from portal_app.models import AuditChainHead, AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who is asking: a customer, merchant staff, or the system (billing clock, CLI)."""

    type: str  # customer | merchant | system
    id: str = ""
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def customer(cls, customer_id: int, **context: str) -> Actor:
        return cls("customer", str(customer_id), **context)

    @classmethod
    def merchant(cls, staff_id: int | str, **context: str) -> Actor:
        return cls("merchant", str(staff_id), **context)


SYSTEM = Actor("system", "billing")


def record(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    actor: Actor,
    action: str,
    target_type: str = "",
    target_id: int | str = "",
    customer_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    result: str = "ok",
) -> AuditEvent:
    """Append one event in the caller's transaction."""
    entry = Entry(
        at=clock.now(),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        customer_id=customer_id,
        before=before,
        after=after,
        result=result,
    )
    return record_many(session, merchant_id, [entry], as_objects=True)[0]


@dataclass(frozen=True)
class Entry:
    at: datetime
    actor: Actor
    action: str
    target_type: str = ""
    target_id: int | str = ""
    customer_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    result: str = "ok"


def record_many(
    session: Session, merchant_id: int, entries: list[Entry], *, as_objects: bool = False
) -> list[AuditEvent]:
    """Append events in order. Claiming the links is one UPDATE on the chain head, which locks it
    until the caller commits, so concurrent transactions can never fork the chain and a rollback
    removes the events and their links together."""
    if not entries:
        return []
    last_seq, prev_hash = _claim_links(session, merchant_id, len(entries))
    rows = []
    for offset, entry in enumerate(entries):
        row = {
            "merchant_id": merchant_id,
            "seq": last_seq - len(entries) + 1 + offset,
            "created_at": entry.at,
            "actor_type": entry.actor.type,
            "actor_id": entry.actor.id,
            "customer_id": (
                entry.customer_id if entry.customer_id is not None else _customer_of(entry.actor)
            ),
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": str(entry.target_id),
            "before": _jsonable(entry.before),
            "after": _jsonable(entry.after),
            "result": entry.result,
            "ip": entry.actor.ip[:64],
            "user_agent": entry.actor.user_agent[:300],
            "request_id": entry.actor.request_id[:64],
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = _hash_fields(row)
        rows.append(row)
    session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.merchant_id == merchant_id)
        .values(last_hash=prev_hash)
    )
    if as_objects:
        events = [AuditEvent(**row) for row in rows]
        session.add_all(events)
        session.flush()
        return events
    session.connection().execute(AuditEvent.__table__.insert(), rows)
    return []


def _claim_links(session: Session, merchant_id: int, count: int) -> tuple[int, str]:
    """Reserve `count` sequence numbers; returns the last one and the hash before the first."""
    bump = (
        sa.update(AuditChainHead)
        .where(AuditChainHead.merchant_id == merchant_id)
        .values(last_seq=AuditChainHead.last_seq + count)
        .returning(AuditChainHead.last_seq, AuditChainHead.last_hash)
    )
    row = session.execute(bump).first()
    if row is None:
        insert_ignore(session, AuditChainHead, merchant_id=merchant_id)
        row = session.execute(bump).first()
    return row[0], row[1]


def _customer_of(actor: Actor) -> int | None:
    return int(actor.id) if actor.type == "customer" and actor.id.isdigit() else None


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else _plain(value)


def _plain(value: Any) -> Any:
    """What a JSON column stores and hands back, so hashes match after a round trip."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return _json_default(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot audit {type(value).__name__}")


HASHED_FIELDS = (
    "merchant_id",
    "seq",
    "created_at",
    "actor_type",
    "actor_id",
    "customer_id",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "result",
    "ip",
    "user_agent",
    "request_id",
)


def event_hash(event: AuditEvent) -> str:
    return _hash_fields({name: getattr(event, name) for name in (*HASHED_FIELDS, "prev_hash")})


def _hash_fields(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the event's fields, followed by the previous hash."""
    canonical = {name: fields[name] for name in HASHED_FIELDS}
    canonical["created_at"] = fields["created_at"].isoformat()
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((text + fields["prev_hash"]).encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(session: Session, merchant_id: int) -> ChainReport:
    """Walk the chain in order; report the first link that was edited, removed or reordered."""
    expected_prev = ""
    expected_seq = 1
    checked = 0
    rows = session.exec(
        select(AuditEvent).where(AuditEvent.merchant_id == merchant_id).order_by(AuditEvent.seq)
    )
    for event in rows:
        if event.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != expected_prev or event_hash(event) != event.hash:
            return ChainReport(False, checked, event.seq, f"event {event.seq} was altered")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = session.get(AuditChainHead, merchant_id)
    if head is not None and (head.last_seq != checked or head.last_hash != expected_prev):
        return ChainReport(False, checked, checked + 1, "the newest events were removed")
    return ChainReport(True, checked)
