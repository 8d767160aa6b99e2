"""The merchant dashboard's home with a long audit chain: before, it walked every event at each
load; now it verifies from a stored checkpoint (audit.verify_recent).

    python bench/audit_chain.py [--events 1000000] [--db sqlite|postgres|URL] [--runs 20]

Set-up (not timed): one merchant, one staff member with a session, and `--events` chained audit
events bulk-inserted with their real hashes (the same rows `audit.record` writes).

Timed:
- the full walk (`audit.verify_chain`, what every dashboard load did before; `portal
  audit-verify` and the audit page's button do it now), once;
- the first dashboard load with no checkpoint yet (it verifies at most audit.RECENT_LIMIT events
  and leaves the rest to later loads);
- the dashboard home as the state's `load` runs it once a checkpoint exists: the session check
  (`auth.load_session`), `merchant_home.read` in a read-only session and the checkpoint write,
  with `--appended` new events written (untimed) before each of `--runs` loads. Median and max.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from sqlmodel import Session

from bench._server import describe_url, scratch_database
from portal_app.clock import FixedClock
from portal_app.db import create_all, make_engine, read_scope, session_scope
from portal_app.models import AuditChainHead, Merchant, StaffUser
from portal_app.services import audit, auth, merchant_home

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CHUNK = 10_000


def build(engine: sa.Engine, events: int) -> tuple[int, int, str]:
    """Merchant, staff member with a session, and `events` chained events; returns the
    merchant id, the staff id and the session id (the cookie's value)."""
    create_all(engine)
    clock = FixedClock(NOW)
    with Session(engine) as session:
        merchant = Merchant(slug="bench", name="Bench", created_at=NOW)
        session.add(merchant)
        session.flush()
        staff = StaffUser(
            merchant_id=merchant.id,
            email="owner@bench.test",
            password_hash="x",
            role="owner",
            created_at=NOW,
        )
        session.add(staff)
        session.flush()
        session.add(AuditChainHead(merchant_id=merchant.id))
        _, sid = auth.open_session(
            session,
            clock,
            merchant_id=merchant.id,
            role="staff",
            staff_id=staff.id,
            actor=audit.Actor.merchant(staff.id),
        )
        session.commit()
        merchant_id, staff_id = merchant.id, staff.id
    start = NOW - timedelta(days=365)
    for offset in range(0, events, CHUNK):
        entries = [
            audit.Entry(
                at=start + timedelta(seconds=30 * i),
                actor=audit.Actor.customer(1 + i % 5000, ip="203.0.113.7", user_agent="bench"),
                action="subscription.renew",
                target_type="subscription",
                target_id=1 + i % 5000,
                before={"period": i},
                after={"period": i + 1},
            )
            for i in range(offset, min(offset + CHUNK, events))
        ]
        with session_scope(engine) as session:
            audit.record_many(session, merchant_id, entries)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return merchant_id, staff_id, sid


def append(engine: sa.Engine, merchant_id: int, count: int, clock: FixedClock) -> None:
    with session_scope(engine) as session:
        for n in range(count):
            audit.record(
                session,
                clock,
                merchant_id=merchant_id,
                actor=audit.Actor.merchant(1, ip="127.0.0.1"),
                action="settings.update",
                target_type="settings",
                target_id=n,
            )


def dashboard_load(engine, clock, merchant_id: int, staff_id: int, sid: str):
    """What MerchantState.load does: the guard's session check, then the home's read and, when
    new events were verified, the checkpoint's short write."""
    with session_scope(engine) as session:
        auth.load_session(session, clock, sid, role="staff")
    with read_scope(engine) as session:
        home = merchant_home.read(session, clock, merchant_id=merchant_id, staff_id=staff_id)
    if merchant_home.needs_saving(home):
        with session_scope(engine) as session:
            audit.save_checkpoint(session, clock, merchant_id, home.chain)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", default=os.environ.get("BENCH_DB", "sqlite"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--appended", type=int, default=10, help="new events before each load")
    args, ignored = parser.parse_known_args()  # `make bench` passes one BENCH_ARGS to all
    if ignored:
        print(f"(ignoring options for other benchmarks: {' '.join(ignored)})")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with scratch_database(args.db) as url:
        engine = make_engine(url)
        t0 = time.perf_counter()
        merchant_id, staff_id, sid = build(engine, args.events)
        print(f"database: {engine.dialect.name} ({describe_url(url)})")
        print(f"set-up (not timed): {args.events} events in {time.perf_counter() - t0:.1f} s")
        clock = FixedClock(NOW)

        t0 = time.perf_counter()
        first = dashboard_load(engine, clock, merchant_id, staff_id, sid)
        print(
            f"first dashboard load, no checkpoint: {(time.perf_counter() - t0) * 1000:.1f} ms "
            f"({first.chain.checked} events verified; {merchant_home.chain_status(first.chain)})"
        )

        t0 = time.perf_counter()
        with read_scope(engine) as session:
            full = audit.verify_chain(session, merchant_id)
        print(
            f"full walk (verify_chain, every load's cost before): "
            f"{time.perf_counter() - t0:.1f} s, {full.checked} events, ok={full.ok}"
        )
        with session_scope(engine) as session:
            audit.save_checkpoint(session, clock, merchant_id, full)

        timings, checked = [], []
        for _ in range(args.runs):
            append(engine, merchant_id, args.appended, clock)
            t0 = time.perf_counter()
            home = dashboard_load(engine, clock, merchant_id, staff_id, sid)
            timings.append((time.perf_counter() - t0) * 1000)
            checked.append(home.chain.checked)
            assert home.chain.ok and home.chain.complete, merchant_home.chain_status(home.chain)
        print(
            f"dashboard home with a checkpoint, {args.appended} new events per load: "
            f"median {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms over "
            f"{args.runs} loads (events verified per load: {sorted(set(checked))}); "
            f"last status: {merchant_home.chain_status(home.chain)}"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
