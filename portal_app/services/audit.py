"""Append-only audit trail, written in the caller's transaction, chained by SHA-256 per merchant.
Each entry also yields the webhook events it stands for (services/webhook_events.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.db import insert_ignore
from portal_app.models import AuditChainHead, AuditCheckpoint, AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who is asking: a customer, merchant staff, or the system (billing clock, CLI)."""

    type: str  # customer | merchant | system
    id: str = ""
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    # Staff acting for this customer (a support portal link's session): the event names both,
    # the staff member as actor and the customer as its customer.
    for_customer: int | None = None

    @classmethod
    def customer(cls, customer_id: int, **context: str) -> Actor:
        return cls("customer", str(customer_id), **context)

    @classmethod
    def merchant(cls, staff_id: int | str, **context: str) -> Actor:
        return cls("merchant", str(staff_id), **context)

    @classmethod
    def acting(cls, staff_id: int, customer_id: int, **context: str) -> Actor:
        """A staff member in the portal as a customer, through a support link."""
        return cls("merchant", str(staff_id), for_customer=customer_id, **context)


SYSTEM = Actor("system", "billing")


@dataclass
class Change:
    """What `changing` yields: the body may rename the action, add facts to `after`, replace
    `after` outright, or drop the event (`skip`) when the body found nothing to do."""

    action: str
    before: dict[str, Any] | None
    extra: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] | None = None
    skip: bool = False


@contextmanager
def changing(
    session: Session,
    clock: Clock,
    row: Any,
    *,
    actor: Actor,
    action: str,
    snapshot: Callable[[Any], dict[str, Any]] | None = None,
    before: dict[str, Any] | None = None,
    claim: int | bool | None = None,
    target_type: str | None = None,
    target_id: int | str | None = None,
    merchant_id: int | None = None,
    customer_id: int | None = None,
    only_if_changed: bool = False,
    refuse: Callable[[], Exception] | None = None,
) -> Iterator[Change]:
    """The one shape of a recorded mutation of `row`.

    On entry: take `before` (from `snapshot(row)` unless given) and, with `claim`, move the
    row's `version` on with a conditional UPDATE (`claim=True`: from the version read; an int:
    from the version a preview was computed on), so of two concurrent changes one raises
    `refuse()`. On a clean exit: add and flush the row and append one audit event with merchant,
    customer and target taken from the row (or given, for a row keyed otherwise). With
    `only_if_changed`, an `after` equal to `before` records nothing. An
    exception records nothing (the caller's transaction rolls back)."""
    if before is None and snapshot is not None:
        before = snapshot(row)
    if claim is not None and claim is not False:
        claim_version(session, row, None if claim is True else int(claim), refuse)
    change = Change(action=action, before=before)
    yield change
    session.add(row)
    session.flush()
    if change.skip:
        return
    after = change.after
    if after is None and snapshot is not None:
        after = snapshot(row)
    if change.extra:
        after = {**(after or {}), **change.extra}
    if only_if_changed and after == before:
        return
    record(
        session,
        clock,
        merchant_id=merchant_id if merchant_id is not None else row.merchant_id,
        actor=actor,
        action=change.action,
        target_type=target_type or type(row).__tablename__,
        target_id=target_id if target_id is not None else row.id,
        customer_id=customer_id if customer_id is not None else getattr(row, "customer_id", None),
        before=change.before,
        after=after,
    )


def claim_version(
    session: Session, row: Any, expected: int | None, refuse: Callable[[], Exception] | None
) -> None:
    """Optimistic lock: only the transaction that moves `version` on may change the row."""
    model = type(row)
    version = row.version if expected is None else expected
    result = session.execute(
        sa.update(model)
        .where(model.id == row.id, model.version == version)
        .values(version=version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        if refuse is not None:
            raise refuse()
        raise RuntimeError(f"{model.__name__} {row.id} was changed concurrently")
    session.refresh(row)


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


def record_for_customer(
    session: Session,
    clock: Clock,
    customer: Any,
    *,
    actor: Actor,
    action: str,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event about one customer (the target), filed under that customer and their merchant."""
    return record_about(
        session,
        clock,
        customer,
        "customer",
        actor=actor,
        action=action,
        customer_id=customer.id,
        after=after,
    )


def record_about(
    session: Session,
    clock: Clock,
    target: Any,
    target_type: str,
    *,
    actor: Actor,
    action: str,
    customer_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    result: str = "ok",
) -> AuditEvent:
    """An event about one row of a merchant (the target: a customer, a payment, a staff member),
    filed under that row's merchant and, unless given, the row's own customer."""
    return record(
        session,
        clock,
        merchant_id=target.merchant_id,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target.id,
        customer_id=customer_id
        if customer_id is not None
        else getattr(target, "customer_id", None),
        before=before,
        after=after,
        result=result,
    )


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
    from portal_app.services import webhook_events  # it reads objects that import audit

    if as_objects:
        events = [AuditEvent(**row) for row in rows]
        session.add_all(events)
        session.flush()
        webhook_events.from_audit(session, merchant_id, entries)
        return events
    session.connection().execute(AuditEvent.__table__.insert(), rows)
    webhook_events.from_audit(session, merchant_id, entries)
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
    if actor.for_customer is not None:
        return actor.for_customer
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
    last_seq: int = 0  # the newest event found intact, and its hash (a checkpoint's values)
    last_hash: str = ""
    total: int = 0  # events in the chain as its head said when the check began
    from_seq: int = 0  # events up to this one were taken as verified (a checkpoint); 0 = all

    @property
    def complete(self) -> bool:
        """Whether every event up to the head was covered (by this walk or the checkpoint)."""
        return self.ok and self.last_seq >= self.total


# Plain rows, not ORM objects: nothing lands in the caller's identity map, and a long walk's
# memory stays flat.
_CHAIN_COLUMNS = [getattr(AuditEvent, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]
VERIFY_CHUNK = 10_000  # events read per statement: a chain of millions never sits in memory
RECENT_LIMIT = 2_000  # most events one dashboard load verifies; the rest wait for later loads


def verify_chain(session: Session, merchant_id: int) -> ChainReport:
    """Walk the whole chain in order; report the first link that was edited, removed or
    reordered, or a tail that was cut off."""
    return _walk(session, merchant_id, 0, "", limit=None)


def verify_recent(
    session: Session,
    clock: Clock,
    merchant_id: int,
    *,
    limit: int = RECENT_LIMIT,
    save: bool = True,
) -> ChainReport:
    """Verify from the stored checkpoint: its event must still hash to what was seen, and up to
    `limit` events after it must link on. An intact result moves the checkpoint forward (with
    `save`; else the caller passes the report to `save_checkpoint` in a write transaction), so
    each dashboard load costs the events appended since the last one, not the whole chain."""
    point = session.get(AuditCheckpoint, merchant_id)
    if point is None or point.seq == 0:
        report = _walk(session, merchant_id, 0, "", limit=limit)
    else:
        anchor = session.exec(
            select(AuditEvent).where(
                AuditEvent.merchant_id == merchant_id, AuditEvent.seq == point.seq
            )
        ).first()
        if anchor is None:
            return ChainReport(False, 0, point.seq, f"event {point.seq} is missing")
        if anchor.hash != point.hash or event_hash(anchor) != anchor.hash:
            return ChainReport(False, 0, point.seq, f"event {point.seq} was altered")
        report = _walk(session, merchant_id, point.seq, point.hash, limit=limit)
    if save:
        save_checkpoint(session, clock, merchant_id, report)
    return report


def verify_segment(
    session: Session, merchant_id: int, after_seq: int, prev_hash: str, limit: int
) -> ChainReport:
    """The full walk in steps: `limit` events after `after_seq` (whose hash is `prev_hash`).
    Chaining steps from seq 0 checks exactly what `verify_chain` checks, with progress between."""
    return _walk(session, merchant_id, after_seq, prev_hash, limit=limit)


def save_checkpoint(session: Session, clock: Clock, merchant_id: int, report: ChainReport) -> None:
    """Remember an intact report's newest event; never moves back (two loads may race)."""
    if not report.ok or report.checked == 0:
        return
    values = {"seq": report.last_seq, "hash": report.last_hash, "verified_at": clock.now()}
    moved = session.execute(
        sa.update(AuditCheckpoint)
        .where(AuditCheckpoint.merchant_id == merchant_id, AuditCheckpoint.seq < report.last_seq)
        .values(**values)
    )
    if moved.rowcount == 0 and session.get(AuditCheckpoint, merchant_id) is None:
        insert_ignore(session, AuditCheckpoint, merchant_id=merchant_id, **values)


def _walk(
    session: Session, merchant_id: int, after_seq: int, prev_hash: str, *, limit: int | None
) -> ChainReport:
    """Check the events after `after_seq` (whose hash is `prev_hash`), up to the head as read
    first (events appended meanwhile are left for the next check), at most `limit` of them."""
    head = session.get(AuditChainHead, merchant_id)
    total = head.last_seq if head is not None else 0
    end = total if limit is None else min(total, after_seq + limit)
    expected_seq, expected_prev, checked = after_seq + 1, prev_hash, 0

    def report(ok: bool, bad: int | None = None, problem: str = "") -> ChainReport:
        return ChainReport(
            ok, checked, bad, problem, expected_seq - 1, expected_prev, total, after_seq
        )

    while expected_seq <= end:
        chunk = session.execute(
            sa.select(*_CHAIN_COLUMNS)
            .where(
                AuditEvent.merchant_id == merchant_id,
                AuditEvent.seq >= expected_seq,
                AuditEvent.seq <= end,
            )
            .order_by(AuditEvent.seq)
            .limit(VERIFY_CHUNK)
        ).all()
        if not chunk:
            break
        for event in chunk:
            if event.seq != expected_seq:
                return report(False, expected_seq, f"event {expected_seq} is missing")
            if event.prev_hash != expected_prev or _hash_fields(event._mapping) != event.hash:
                return report(False, event.seq, f"event {event.seq} was altered")
            expected_prev = event.hash
            expected_seq += 1
            checked += 1
    if expected_seq <= end:
        return report(False, expected_seq, "the newest events were removed")
    if end == total and head is not None and head.last_hash != expected_prev:
        return report(False, total, "the newest events were removed")
    return report(True)
