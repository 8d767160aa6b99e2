"""The invoices page for a customer with 10,000 invoices: time per page and SQL statements per page.

    python bench/invoices_page.py                      # SQLite (temporary file)
    python bench/invoices_page.py --db postgres        # scratch database on 127.0.0.1:5432
    python bench/invoices_page.py --db-url postgresql+psycopg://user@host/empty_db  # drops tables!
    python bench/invoices_page.py --invoices 10000 --others 200 --per-other 50 --repeat 30 -v

Set-up (not timed): the demo merchant's catalog is not needed; one merchant, the customer with
--invoices finalized invoices (one line each, mixed paid/open/void, a month apart) and --others
other customers with --per-other invoices each, bulk-inserted, numbers gapless.

Timed, for the first, middle and last page (20 rows a page, newest first), each --repeat times:
- `invoice_page` (portal_app/services/invoices_view.py): what `InvoicesState.load` and
  `go_to_page` run for the list: a count and one page of rows;
- what else a page load costs around it: the guard's session check (`auth.load_session` in a unit
  of work, as `@guarded` does) and the navigation's settings (`features.load` + the merchant, as
  `NavState.load` does).
SQL statements are counted with a SQLAlchemy `before_cursor_execute` listener on the engine the
app uses (transaction control such as SQLite's BEGIN is counted apart)."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PORTAL_SECRET_KEY", "bench-secret-not-for-production")

from _server import describe_url, machine_note, percentile, scratch_database

PAGE_SIZE_FALLBACK = 20


class StatementCounter:
    def __init__(self, engine):
        import sqlalchemy as sa

        self.queries: list[str] = []
        self.control = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _params, _context, _executemany) -> None:
        if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT")):
            self.control += 1
        else:
            self.queries.append(" ".join(statement.split()))

    def reset(self) -> None:
        self.queries.clear()
        self.control = 0


def build(engine, invoices: int, others: int, per_other: int) -> tuple[int, int, int]:
    """Returns (merchant id, customer id, session row id of a live customer session)."""
    import sqlalchemy as sa
    from sqlmodel import Session, SQLModel

    from portal_app.db import create_all
    from portal_app.models import AuthSession, Customer, Invoice, InvoiceLine, Merchant
    from portal_app.services import auth

    SQLModel.metadata.drop_all(engine)
    create_all(engine)
    start = datetime(2016, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        merchant = Merchant(slug="bench", name="Bench", created_at=start)
        session.add(merchant)
        session.flush()
        customers = [
            Customer(
                merchant_id=merchant.id,
                email=f"c{n}@bench.example",
                name=f"Customer {n}",
                created_at=start,
            )
            for n in range(others + 1)
        ]
        session.add_all(customers)
        session.flush()
        ids = [c.id for c in customers]
        merchant_id = merchant.id
        session.commit()
    target = ids[0]
    plan = [(target, invoices)] + [(cid, per_other) for cid in ids[1:]]
    rows, number = [], 0
    statuses = ("paid", "paid", "paid", "open", "void")
    for customer_id, count in plan:
        for k in range(count):
            number += 1
            when = start + timedelta(hours=6 * k + customer_id % 6)
            status = statuses[k % len(statuses)]
            rows.append(
                {
                    "merchant_id": merchant_id,
                    "customer_id": customer_id,
                    "number": number,
                    "status": status,
                    "billing_reason": "subscription_cycle",
                    "currency": "USD",
                    "total": 2900,
                    "amount_paid": 2900 if status == "paid" else 0,
                    "created_at": when,
                    "finalized_at": when,
                    "paid_at": when if status == "paid" else None,
                    "voided_at": when if status == "void" else None,
                    "attempt_count": 1 if status == "paid" else 0,
                }
            )
    chunk = 5000
    with engine.begin() as conn:
        for offset in range(0, len(rows), chunk):
            conn.execute(sa.insert(Invoice), rows[offset : offset + chunk])
        invoice_ids = [r[0] for r in conn.execute(sa.select(Invoice.id).order_by(Invoice.id))]
        for offset in range(0, len(invoice_ids), chunk):
            conn.execute(
                sa.insert(InvoiceLine),
                [
                    {
                        "invoice_id": iid,
                        "position": 0,
                        "kind": "subscription",
                        "description": "Pro (monthly)",
                        "amount": 2900,
                    }
                    for iid in invoice_ids[offset : offset + chunk]
                ],
            )
    sid = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with Session(engine) as session:
        row = AuthSession(
            sid_hash=auth.keyed_hash(sid),
            merchant_id=merchant_id,
            role="customer",
            customer_id=target,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=12),
            ip="127.0.0.1",
            user_agent="portal-bench",
        )
        session.add(row)
        session.commit()
    return merchant_id, target, sid


def timed(repeat: int, fn, counter: StatementCounter) -> tuple[list[float], int, int, list[str]]:
    fn()  # warm: imports, pool connection, statement caches
    times = []
    counter.reset()
    fn()
    queries, control, texts = len(counter.queries), counter.control, list(counter.queries)
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times, queries, control, texts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invoices", type=int, default=10000, help="the customer's invoices")
    parser.add_argument("--others", type=int, default=200, help="other customers")
    parser.add_argument("--per-other", type=int, default=50, help="invoices per other customer")
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per page")
    parser.add_argument("--db", default="sqlite", help="sqlite (default) | postgres | a URL")
    parser.add_argument(
        "--db-url", dest="db", help="a database URL (its Portal tables are dropped and recreated)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print the SQL statements")
    args = parser.parse_args()

    with scratch_database(args.db) as db_url:
        os.environ["PORTAL_DB_URL"] = db_url
        from portal_app.clock import SystemClock
        from portal_app.db import get_engine, read_scope, session_scope
        from portal_app.models import Merchant
        from portal_app.services import auth, features
        from portal_app.services import invoices_view as billing_docs

        engine = get_engine()
        t0 = time.perf_counter()
        merchant_id, customer_id, sid = build(engine, args.invoices, args.others, args.per_other)
        setup = time.perf_counter() - t0
        counter = StatementCounter(engine)
        page_size = getattr(billing_docs, "PAGE_SIZE", PAGE_SIZE_FALLBACK)
        pages = max(1, -(-args.invoices // page_size))
        clock = SystemClock()
        print("invoices_page: the portal's invoices list for one customer")
        print(
            f"config: database {engine.dialect.name} ({describe_url(db_url)}); the customer has "
            f"{args.invoices} invoices ({pages} pages of {page_size}); {args.others} other "
            f"customers x {args.per_other} invoices; {args.repeat} timed calls per page"
        )
        print(f"machine: {machine_note()}")
        print(f"set-up: {setup:.1f} s (bulk insert, not timed)")

        def guard() -> None:
            with session_scope() as session:
                auth.load_session(session, clock, sid, role="customer")

        def nav() -> None:
            with read_scope() as session:
                features.load(session, merchant_id)
                session.get(Merchant, merchant_id)

        print(f"\n{'what':<34} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'BEGINs':>7}")
        for label, fn in (("guard: session check", guard), ("nav: settings + merchant", nav)):
            times, queries, control, texts = timed(args.repeat, fn, counter)
            report(label, times, queries, control, texts, args.verbose)
        for label, page in (("first", 1), ("middle", (pages + 1) // 2), ("last", pages)):
            rows_seen = []

            def one_page(page=page, rows_seen=rows_seen) -> None:
                with read_scope() as session:
                    rows, total = billing_docs.invoice_page(
                        session, clock, customer_id=customer_id, page=page
                    )
                rows_seen[:] = [len(rows), total]

            times, queries, control, texts = timed(args.repeat, one_page, counter)
            report(
                f"read_page {label} (p{page}, {rows_seen[0]} rows)",
                times,
                queries,
                control,
                texts,
                args.verbose,
            )
            if rows_seen[1] != args.invoices:
                raise SystemExit(f"read_page counted {rows_seen[1]} invoices, not {args.invoices}")
        with contextlib.suppress(Exception):
            engine.dispose()


def report(label, times, queries, control, texts, verbose) -> None:
    ordered = sorted(times)
    print(
        f"{label:<34} {statistics.median(ordered) * 1000:>10.2f} "
        f"{percentile(ordered, 95) * 1000:>8.2f} {queries:>8} {control:>7}"
    )
    if verbose:
        for text in texts:
            print(f"    {text[:300]}")


if __name__ == "__main__":
    main()
