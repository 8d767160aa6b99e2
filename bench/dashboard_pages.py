"""Time the service calls behind the merchant dashboard's list pages on one big merchant, and
count the SQL statements each page makes.

    python bench/dashboard_pages.py [--count 10000] [--runs 15] [--db-url postgresql+psycopg://...]

Set-up (not timed): one merchant with `--count` customers and `--count` finalized invoices
(about 55% paid, 30% open of which most are past due, 10% void, 5% uncollectible; due dates over
the past year; USD and some EUR) and a payment with its receipt per paid invoice, bulk-inserted.

Timed, each as a page load does it (a fresh read-only session, the calls the state makes):
the customers list (first page), customer search (a hit and a miss), the invoices page (totals +
list) on the first, a middle and the last page of "all", the first page of "overdue", and the
payments page. Prints the median and the worst of `--runs` runs in ms, the statements per page
(counted with a SQLAlchemy `before_cursor_execute` listener), and the database's plan for the
list statements, flagging full table scans."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, SQLModel

from bench._server import bulk_card_rows
from portal_app.clock import FixedClock
from portal_app.db import create_all, make_engine, read_scope
from portal_app.models import Customer, Invoice, Merchant, Payment, PaymentMethod, Receipt
from portal_app.services import customers, merchant_billing
from portal_app.services.paging import page_count

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CHUNK = 5000


def _status_of(i: int) -> str:
    slot = i % 20
    if slot < 11:
        return "paid"
    if slot < 17:
        return "open"
    if slot < 19:
        return "void"
    return "uncollectible"


def build(engine: sa.Engine, count: int) -> int:
    """Bulk-insert the merchant, its customers, cards, invoices and payments; returns its id."""
    SQLModel.metadata.drop_all(engine)
    create_all(engine)
    start = NOW - timedelta(days=365)
    with Session(engine) as session:
        merchant = Merchant(slug="bench", name="Bench", created_at=start)
        session.add(merchant)
        session.commit()
        merchant_id = merchant.id
    with engine.begin() as conn:
        for offset in range(0, count, CHUNK):
            conn.execute(
                sa.insert(Customer),
                [
                    {
                        "merchant_id": merchant_id,
                        "email": f"customer{i}@bench.test",
                        "name": f"Customer {i}",
                        "currency": "USD",
                        "credit_balance": 0,
                        "billing_address": {},
                        "shipping_address": {},
                        "custom_fields": {},
                        "created_at": start + timedelta(minutes=i),
                    }
                    for i in range(offset, min(offset + CHUNK, count))
                ],
            )
        customer_ids = [r[0] for r in conn.execute(sa.select(Customer.id).order_by(Customer.id))]
        for offset in range(0, count, CHUNK):
            conn.execute(
                sa.insert(PaymentMethod),
                bulk_card_rows(merchant_id, customer_ids[offset : offset + CHUNK], start),
            )
        card_of = dict(conn.execute(sa.select(PaymentMethod.customer_id, PaymentMethod.id)).all())
        for offset in range(0, count, CHUNK):
            rows = []
            for i in range(offset, min(offset + CHUNK, count)):
                due = start + timedelta(minutes=i * 52_560 // max(count, 1))  # over the year
                status = _status_of(i)
                amount = 900 + (i % 7) * 1000
                rows.append(
                    {
                        "merchant_id": merchant_id,
                        "customer_id": customer_ids[(i * 7919) % count],
                        "number": i + 1,
                        "status": status,
                        "billing_reason": "subscription_cycle",
                        "currency": "EUR" if i % 10 == 3 else "USD",
                        "total": amount,
                        "amount_paid": amount if status == "paid" else 0,
                        "created_at": due,
                        "finalized_at": due,
                        "due_at": due,
                        "paid_at": due if status == "paid" else None,
                        "voided_at": due if status == "void" else None,
                        "attempt_count": 1,
                    }
                )
            conn.execute(sa.insert(Invoice), rows)
        paid = conn.execute(
            sa.select(Invoice.id, Invoice.customer_id, Invoice.total, Invoice.currency)
            .where(Invoice.status == "paid")
            .order_by(Invoice.id)
        ).all()
        for offset in range(0, len(paid), CHUNK):
            part = paid[offset : offset + CHUNK]
            conn.execute(
                sa.insert(Payment),
                [
                    {
                        "merchant_id": merchant_id,
                        "customer_id": p.customer_id,
                        "invoice_id": p.id,
                        "payment_method_id": card_of[p.customer_id],
                        "amount": p.total,
                        "currency": p.currency,
                        "status": "succeeded",
                        "gateway_charge_id": f"ch_{p.id}",
                        "idempotency_key": f"inv_{p.id}_attempt_1",
                        "created_at": NOW,
                    }
                    for p in part
                ],
            )
        payments = conn.execute(
            sa.select(Payment.id, Payment.invoice_id, Payment.amount, Payment.currency).order_by(
                Payment.id
            )
        ).all()
        for offset in range(0, len(payments), CHUNK):
            conn.execute(
                sa.insert(Receipt),
                [
                    {
                        "merchant_id": merchant_id,
                        "payment_id": p.id,
                        "invoice_id": p.invoice_id,
                        "number": offset + n + 1,
                        "amount": p.amount,
                        "currency": p.currency,
                        "card_brand": "visa",
                        "card_last4": "4242",
                        "created_at": NOW,
                    }
                    for n, p in enumerate(payments[offset : offset + CHUNK])
                ],
            )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return merchant_id


class StatementCounter:
    """Counts statements sent to the database, and keeps the last ones for EXPLAIN."""

    def __init__(self, engine: sa.Engine):
        self.count = 0
        self.statements: list[tuple[str, object]] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("BEGIN", "ROLLBACK", "COMMIT", "PRAGMA")):
            return
        self.count += 1
        self.statements.append((statement, parameters))

    def reset(self) -> None:
        self.count = 0
        self.statements = []


def pages(merchant_id: int, count: int) -> dict:
    clock = FixedClock(NOW)
    last = page_count(count, merchant_billing.PAGE_SIZE)  # "all": every finalized invoice

    def invoices_page(status: str, page: int):
        def load(session):
            merchant_billing.invoice_totals(session, clock, merchant_id)
            return merchant_billing.list_invoices(
                session, clock, merchant_id, status=status, page=page
            )

        return load

    return {
        "customers list, page 1": lambda s: customers.search(s, merchant_id, "", 1, 25),
        "customer search (hit)": lambda s: customers.search(s, merchant_id, "customer 4242", 1, 25),
        "customer search (miss)": lambda s: customers.search(s, merchant_id, "nobody", 1, 25),
        "invoices all, page 1": invoices_page("all", 1),
        f"invoices all, page {last // 2} (middle)": invoices_page("all", last // 2),
        f"invoices all, page {last} (last)": invoices_page("all", last),
        "invoices overdue, page 1": invoices_page("overdue", 1),
        "payments, page 1": lambda s: merchant_billing.list_payments(s, merchant_id, page=1),
    }


def explain(engine: sa.Engine, statement: str, parameters) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return [str(r[-1]) for r in rows]
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return [str(r[0]) for r in rows]


def full_scans(plan: list[str], dialect: str) -> list[str]:
    """Plan lines that read a whole table (not through an index)."""
    if dialect == "sqlite":
        found = [  # "SCAN anon_1" reads a subquery's page of rows, not a table
            line
            for line in plan
            if line.startswith("SCAN") and "INDEX" not in line and "anon_" not in line
        ]
    else:
        found = [
            "Seq Scan on " + line.split("Seq Scan on ")[1].split()[0]
            for line in plan
            if "Seq Scan on " in line
        ]
    return list(dict.fromkeys(found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10000, help="customers and invoices")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per page")
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DB_URL"))
    parser.add_argument("--plans", action="store_true", help="print every statement's plan")
    args, ignored = parser.parse_known_args()  # `make bench` passes one BENCH_ARGS to all
    if ignored:
        print(f"(ignoring options for other benchmarks: {' '.join(ignored)})")
    url = args.db_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = make_engine(url)
    t0 = time.perf_counter()
    merchant_id = build(engine, args.count)
    print(f"database: {engine.dialect.name}")
    print(
        f"set-up (not timed): {args.count} customers, {args.count} invoices, payments and "
        f"receipts for the paid ones, in {time.perf_counter() - t0:.1f} s"
    )
    counter = StatementCounter(engine)
    print(f"{'page':<36} {'median ms':>10} {'max ms':>8} {'statements':>11}  full scans")
    for name, load in pages(merchant_id, args.count).items():
        timings, statements = [], set()
        for _ in range(args.runs + 1):  # the first run warms caches and is not counted
            counter.reset()
            start = time.perf_counter()
            with read_scope(engine) as session:
                result = load(session)
            timings.append((time.perf_counter() - start) * 1000)
            statements.add(counter.count)
        kept = list(counter.statements)
        timings = timings[1:]
        rows = result[0] if isinstance(result, tuple) else result.rows
        assert rows or "miss" in name, f"{name}: no rows"
        scans = []
        for statement, parameters in kept:
            plan = explain(engine, statement, parameters)
            scans += full_scans(plan, engine.dialect.name)
            if args.plans:
                print(f"    {statement.splitlines()[0][:90]}")
                print("\n".join(f"      {line}" for line in plan))
        print(
            f"{name:<36} {statistics.median(timings):>10.2f} {max(timings):>8.2f} "
            f"{'/'.join(str(n) for n in sorted(statements)):>11}  "
            f"{'; '.join(dict.fromkeys(scans)) or '-'}"
        )
    print(
        "(one merchant owns every row here, so a count over all its customers, invoices or "
        "payments reads the whole table whatever the index; substring search has no index)"
    )


if __name__ == "__main__":
    main()
