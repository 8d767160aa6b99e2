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
    """Append one event. The UPDATE on the chain head locks it until the caller commits, so two
    transactions can never fork the chain; a rollback removes the event and its link together."""
    seq, prev_hash = _claim_next_link(session, merchant_id)
    event = AuditEvent(
        merchant_id=merchant_id,
        seq=seq,
        created_at=clock.now(),
        actor_type=actor.type,
        actor_id=actor.id,
        customer_id=customer_id if customer_id is not None else _customer_of(actor),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=_jsonable(before),
        after=_jsonable(after),
        result=result,
        ip=actor.ip[:64],
        user_agent=actor.user_agent[:300],
        request_id=actor.request_id[:64],
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_hash(event)
    session.add(event)
    session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.merchant_id == merchant_id)
        .values(last_hash=event.hash)
    )
    session.flush()
    return event


def _claim_next_link(session: Session, merchant_id: int) -> tuple[int, str]:
    bump = (
        sa.update(AuditChainHead)
        .where(AuditChainHead.merchant_id == merchant_id)
        .values(last_seq=AuditChainHead.last_seq + 1)
        .returning(AuditChainHead.last_seq, AuditChainHead.last_hash)
    )
    row = session.execute(bump).first()
    if row is None:
        session.add(AuditChainHead(merchant_id=merchant_id))
        session.flush()
        row = session.execute(bump).first()
    return row[0], row[1]


def _customer_of(actor: Actor) -> int | None:
    return int(actor.id) if actor.type == "customer" and actor.id.isdigit() else None


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_json_default, sort_keys=True))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot audit {type(value).__name__}")


def event_hash(event: AuditEvent) -> str:
    canonical = json.dumps(
        {
            "merchant_id": event.merchant_id,
            "seq": event.seq,
            "created_at": event.created_at.isoformat(),
            "actor_type": event.actor_type,
            "actor_id": event.actor_id,
            "customer_id": event.customer_id,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "before": event.before,
            "after": event.after,
            "result": event.result,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "request_id": event.request_id,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((canonical + event.prev_hash).encode()).hexdigest()


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
