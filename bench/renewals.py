"""Renew N due subscriptions with the billing clock and print the time per 1,000.

    python bench/renewals.py --count 100000 [--batch-size 500]            # SQLite (temporary file)
    python bench/renewals.py --count 100000 --postgres    # scratch database on 127.0.0.1:5432
    python bench/renewals.py --db-url postgresql+psycopg://user@host/empty_db   # drops its tables!

--postgres creates a private database on BENCH_PG_URL (default
postgresql://postgres@127.0.0.1:5432/postgres, trust auth) and drops it at the end; --db-url uses
the given database as is and drops and recreates every Portal table in it.

Set-up (merchant, customers, vaulted cards, due subscriptions) is bulk-inserted, then analyzed on
PostgreSQL (as autovacuum would), and not timed;
the timed part is `billing_clock.advance`: per subscription one invoice with its line, a gapless
number, a sandbox charge, a payment, a receipt with its number, a queued receipt email and three
audit events, all committed."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from bench._server import bulk_card_rows
from portal_app.clock import FixedClock, add_months
from portal_app.db import make_engine
from portal_app.models import (
    Customer,
    Invoice,
    Merchant,
    PaymentMethod,
    Plan,
    Price,
    Product,
    SandboxCard,
    SandboxCharge,
    Subscription,
)
from portal_app.services import billing_clock
from portal_app.services.sandbox_gateway import SandboxGateway

START = datetime(2026, 1, 1, tzinfo=UTC)


def build(engine: sa.Engine, count: int) -> None:
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        merchant = Merchant(slug="bench", name="Bench", created_at=START)
        session.add(merchant)
        session.flush()
        product = Product(merchant_id=merchant.id, name="Bench")
        session.add(product)
        session.flush()
        plan = Plan(merchant_id=merchant.id, product_id=product.id, name="Pro", tier=1)
        session.add(plan)
        session.flush()
        price = Price(
            merchant_id=merchant.id,
            plan_id=plan.id,
            interval="month",
            amount=2900,
            currency="USD",
        )
        session.add(price)
        session.commit()
        ids = (merchant.id, plan.id, price.id)
    merchant_id, plan_id, price_id = ids
    end = add_months(START, 1)
    chunk = 5000
    with engine.begin() as conn:
        for offset in range(0, count, chunk):
            n = min(chunk, count - offset)
            conn.execute(
                sa.insert(Customer),
                [
                    {
                        "merchant_id": merchant_id,
                        "email": f"c{offset + i}@bench.test",
                        "name": f"Customer {offset + i}",
                        "currency": "USD",
                        "credit_balance": 0,
                        "billing_address": {},
                        "shipping_address": {},
                        "custom_fields": {},
                        "created_at": START,
                    }
                    for i in range(n)
                ],
            )
        customer_ids = [
            row[0] for row in conn.execute(sa.select(Customer.id).order_by(Customer.id))
        ]
        for offset in range(0, count, chunk):
            part = customer_ids[offset : offset + chunk]
            conn.execute(
                sa.insert(SandboxCard),
                [
                    {
                        "token": f"tok_bench_{cid}",
                        "brand": "visa",
                        "last4": "4242",
                        "exp_month": 12,
                        "exp_year": 2030,
                        "behaviour": "succeed",
                        "created_at": START,
                    }
                    for cid in part
                ],
            )
            conn.execute(sa.insert(PaymentMethod), bulk_card_rows(merchant_id, part, START))
            conn.execute(
                sa.insert(Subscription),
                [
                    {
                        "merchant_id": merchant_id,
                        "customer_id": cid,
                        "plan_id": plan_id,
                        "price_id": price_id,
                        "status": "active",
                        "current_period_start": START,
                        "current_period_end": end,
                        "cancel_at_period_end": False,
                        "discount_percent": 0,
                        "discount_cycles_remaining": 0,
                        "version": 1,
                        "created_at": START,
                    }
                    for cid in part
                ],
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DB_URL"))
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a scratch database on 127.0.0.1:5432 (BENCH_PG_URL), dropped afterwards",
    )
    args = parser.parse_args()
    from _server import scratch_database

    with scratch_database("postgres" if args.postgres else args.db_url or "sqlite") as url:
        run(url, args)


def run(url: str, args) -> None:
    from _server import machine_note

    engine = make_engine(url)
    print(f"machine: {machine_note()}")
    print(f"config: --count {args.count} --batch-size {args.batch_size}")
    t0 = time.perf_counter()
    build(engine, args.count)
    if engine.dialect.name == "postgresql":
        # A database that grew to this size has planner statistics (autovacuum keeps them); a
        # bulk load does not until autovacuum gets to it, so take them now, untimed.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    setup = time.perf_counter() - t0
    clock = FixedClock(add_months(START, 1) + timedelta(hours=1))
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = billing_clock.advance(engine, clock, SandboxGateway(), batch_size=args.batch_size)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    with Session(engine) as session:
        paid = session.exec(select(sa.func.count(Invoice.id)).where(Invoice.status == "paid")).one()
        charges = session.exec(select(sa.func.count(SandboxCharge.id))).one()
        numbers = session.exec(
            select(sa.func.min(Invoice.number), sa.func.max(Invoice.number))
        ).one()
    print(f"database: {engine.dialect.name}")
    print(f"subscriptions due: {args.count} (set-up {setup:.1f} s, not timed)")
    print(f"renewed: {report.renewed}, charged: {report.charged}, errors: {report.errors}")
    print(f"paid invoices: {paid}, gateway charges: {charges}, numbers {numbers[0]}..{numbers[1]}")
    print(f"billing clock: {elapsed:.2f} s total, {elapsed / args.count * 1000:.2f} s per 1,000")
    print(
        f"CPU of this process meanwhile: {cpu:.1f} s (the rest: waiting for the database or a CPU)"
    )
    engine.dispose()
    assert report.renewed == args.count == paid == charges, "renewal count mismatch"


if __name__ == "__main__":
    main()
