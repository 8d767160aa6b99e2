"""`Idempotency-Key` on the API's POSTs, with Stripe's semantics.

The first request with a key leaves a marker in its own short transaction before it runs, so a
concurrent retry sees it. Its response is stored in the same transaction as its work, so "the
work committed" and "the response is stored" are one fact: a retry replays it, never runs it
again. A retry with another body is refused (422); a retry while the first is still running
waits for it a few seconds, then gets 409. A first request that died (its marker's lease ran
out, its work rolled back) may be retried. A request refused before it ran (bad input) stores
nothing, like Stripe. Records are kept 24 h."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.db import session_scope
from portal_app.models import IdempotencyRecord

KEEP = timedelta(hours=24)
LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: str


@dataclass(frozen=True)
class Outcome:
    """What `begin` decided: run the request under `record_id`, or answer with `replay` or an
    error (`refusal`: "mismatch" | "in_progress")."""

    record_id: int | None = None
    replay: Replay | None = None
    refusal: str | None = None


def request_hash(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def begin(
    clock: Clock, *, merchant_id: int, api_key_id: int, key: str, fingerprint: str
) -> Outcome:
    """Claim `key` for this request, or say what an earlier request with it decided."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        outcome = _try_claim(clock, merchant_id, api_key_id, key, fingerprint)
        if outcome.refusal != "in_progress" or time.monotonic() >= deadline:
            return outcome
        time.sleep(POLL_SECONDS)


def _try_claim(
    clock: Clock, merchant_id: int, api_key_id: int, key: str, fingerprint: str
) -> Outcome:
    now = clock.now()
    with session_scope() as session:
        row = _find(session, merchant_id, key)
        if row is not None and row.created_at <= now - KEEP:
            session.delete(row)  # expired: the key is new again
            session.flush()
            row = None
        if row is None:
            try:
                with session.begin_nested():
                    row = IdempotencyRecord(
                        merchant_id=merchant_id,
                        api_key_id=api_key_id,
                        key=key,
                        request_hash=fingerprint,
                        lease_until=now + LEASE,
                        created_at=now,
                    )
                    session.add(row)
                    session.flush()
            except sa.exc.IntegrityError:
                return Outcome(refusal="in_progress")  # a concurrent first request: look again
            return Outcome(record_id=row.id)
        if row.request_hash != fingerprint:
            return Outcome(refusal="mismatch")
        if row.done:
            return Outcome(replay=Replay(row.status_code, row.body))
        if row.lease_until > now:
            return Outcome(refusal="in_progress")
        # The first request died before it stored anything (its work rolled back with it): this
        # one takes the key over, by a conditional UPDATE so that only one retry does.
        taken = session.execute(
            sa.update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == row.id,
                IdempotencyRecord.done.is_(False),
                IdempotencyRecord.lease_until == row.lease_until,
            )
            .values(lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            return Outcome(refusal="in_progress")
        return Outcome(record_id=row.id)


def _find(session: Session, merchant_id: int, key: str) -> IdempotencyRecord | None:
    return session.exec(
        select(IdempotencyRecord).where(
            IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.key == key
        )
    ).first()


def finish(session: Session, record_id: int, status_code: int, body: str) -> None:
    """Store the response in the caller's transaction (the request's own work)."""
    session.execute(
        sa.update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(done=True, status_code=status_code, body=body)
        .execution_options(synchronize_session=False)
    )


def finish_alone(record_id: int, status_code: int, body: str) -> None:
    """Store a refusal the request's service gave after it started (its work rolled back)."""
    with session_scope() as session:
        finish(session, record_id, status_code, body)


def release(record_id: int) -> None:
    """Forget a claim whose request was refused before it ran: nothing is stored for it."""
    with session_scope() as session:
        session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def purge(session: Session, clock: Clock) -> int:
    """Drop records past 24 h (`billing_clock.advance_all_merchants`, the cron run, calls it)."""
    result = session.execute(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= clock.now() - KEEP)
    )
    return result.rowcount or 0
