"""Checkout confirm: latency one at a time (p50/p95), then N distinct visitors confirming at once.

    python bench/checkout.py [--serial 200] [--concurrent 50]          # SQLite (temporary file)
    python bench/checkout.py --postgres      # scratch database on 127.0.0.1:5432, dropped after

Each confirm is what the checkout page's Confirm does in the service layer: one unit of work that
claims the open session, creates the customer, vaults the sandbox card 4242…, subscribes, invoices,
charges, pays, issues the receipt and queues the welcome mail, then commits. Opening the sessions
is set-up (not timed). The concurrent part releases N threads at once (each its own connection)
and then checks: every confirm succeeded, one customer and one paid invoice per visitor, invoice
numbers gapless."""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import SystemClock
from portal_app.db import create_all, make_engine
from portal_app.models import Customer, Invoice, SandboxCharge
from portal_app.services import checkout, ratelimit
from portal_app.services.sandbox_gateway import SandboxGateway
from tests import factories

CARD = checkout.CardInput("4242424242424242", 12, 2035, "123")


def _open(engine: sa.Engine, clock, merchant_id: int, count: int) -> list[str]:
    with Session(engine) as session:
        ids = [
            checkout.open_link(
                session, clock, merchant_id=merchant_id, slug="pro", interval="month"
            )
            for _ in range(count)
        ]
        session.commit()
    return ids


def _confirm(engine: sa.Engine, clock, checkout_id: str, index: int, tag: str):
    with Session(engine) as session:
        result = checkout.confirm(
            session,
            clock,
            SandboxGateway(),
            checkout_id,
            card=CARD,
            # distinct visitors: their own address and email (the per-IP/email limits hold)
            ip=f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}",
            email=f"{tag}{index}@example.com",
            name=f"Visitor {index}",
        )
        session.commit()
    return result


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(url: str, serial: int, concurrent: int) -> None:
    from _server import machine_note

    engine = make_engine(url)
    create_all(engine)
    clock = SystemClock()
    ratelimit.reset_singletons()
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, clock)
        session.commit()
    merchant_id = catalog.merchant.id
    print(f"machine: {machine_note()}")
    print(f"database: {engine.dialect.name}")

    ids = _open(engine, clock, merchant_id, serial)
    times = []
    for index, checkout_id in enumerate(ids):
        t0 = time.perf_counter()
        _confirm(engine, clock, checkout_id, index, "serial")
        times.append((time.perf_counter() - t0) * 1000)
    print(
        f"{serial} confirms one at a time: p50 {statistics.median(times):.1f} ms, "
        f"p95 {_percentile(times, 0.95):.1f} ms, max {max(times):.1f} ms"
    )

    ratelimit.reset_singletons()
    ids = _open(engine, clock, merchant_id, concurrent)
    barrier = threading.Barrier(concurrent)
    outcomes: list = [None] * concurrent
    took: list[float] = [0.0] * concurrent

    def worker(index: int) -> None:
        own = make_engine(url)  # its own connection pool, like another worker process
        try:
            barrier.wait(60)
            t0 = time.perf_counter()
            try:
                outcomes[index] = _confirm(own, clock, ids[index], index, "rush")
            except Exception as exc:  # reported below, not hidden
                outcomes[index] = exc
            took[index] = (time.perf_counter() - t0) * 1000
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrent)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    with Session(engine) as session:
        customers = session.exec(
            select(sa.func.count(Customer.id)).where(Customer.email.like("rush%"))
        ).one()
        numbers = sorted(
            n for n in session.exec(select(Invoice.number).where(Invoice.status == "paid")) if n
        )
        charges = session.exec(select(sa.func.count(SandboxCharge.id))).one()
    gapless = numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else False
    print(
        f"{concurrent} concurrent confirms by distinct visitors: {concurrent - len(failed)} "
        f"succeeded, {len(failed)} failed, wall {wall:.2f} s, p50 "
        f"{statistics.median(took):.1f} ms, p95 {_percentile(took, 0.95):.1f} ms"
    )
    for exc in failed[:5]:
        print(f"  failure: {type(exc).__name__}: {exc}")
    print(
        f"customers created by them: {customers}; paid invoices in all: {len(numbers)} "
        f"(numbers {numbers[0] if numbers else '-'}..{numbers[-1] if numbers else '-'}, "
        f"gapless: {'yes' if gapless else 'NO'}); sandbox charges: {charges}"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serial", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a scratch database on 127.0.0.1:5432 (BENCH_PG_URL), dropped afterwards",
    )
    args = parser.parse_args()
    from _server import scratch_database

    with scratch_database("postgres" if args.postgres else "sqlite") as url:
        run(url, args.serial, args.concurrent)


if __name__ == "__main__":
    main()
