"""CSV import of customers with subscriptions: the time of a dry run, of the import, and of a
second import of the same file (which changes nothing), for N rows.

    python bench/customer_import.py [--rows 10000] [--db sqlite|postgres|URL]

Every row has an email, a name, an external id and metadata; half of them a monthly Pro
subscription renewing in 30 days. The database is a scratch one (SQLite file or a PostgreSQL
database on 127.0.0.1:5432, dropped afterwards)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlmodel import Session, func, select

from portal_app.clock import SystemClock
from portal_app.db import create_all, install_guards, make_engine
from portal_app.models import Customer, Subscription
from portal_app.services import audit, customer_import
from tests import factories


def _csv(rows: int, renews: str) -> bytes:
    lines = ["email,name,external_id,plan,interval,current_period_end,metadata.source"]
    for n in range(rows):
        plan = f"pro,month,{renews}" if n % 2 == 0 else ",,"
        lines.append(f"user{n}@example.com,User {n},ext-{n},{plan},bench")
    return ("\n".join(lines) + "\n").encode()


def run(url: str, rows: int) -> None:
    from _server import describe_url, machine_note

    engine = make_engine(url)
    create_all(engine)
    install_guards(engine)
    clock = SystemClock()
    with Session(engine, expire_on_commit=False) as session:
        merchant_id = factories.make_catalog(session, clock).merchant.id
        session.commit()
    data = _csv(rows, (clock.now() + timedelta(days=30)).date().isoformat())
    print(f"{rows:,} rows ({len(data) / 1e6:.1f} MB) on {describe_url(url)}; {machine_note()}")
    for label, dry_run in (("dry run", True), ("import", False), ("same file again", False)):
        started = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session:
            result = customer_import.import_csv(
                session,
                clock,
                merchant_id=merchant_id,
                data=data,
                actor=audit.Actor("system", "bench"),
                dry_run=dry_run,
            )
            session.commit()
        seconds = time.perf_counter() - started
        print(f"{label:>16}: {seconds:6.2f} s  {result.summary()}")
    with Session(engine) as session:
        customers = session.exec(select(func.count()).select_from(Customer)).one()
        subscriptions = session.exec(select(func.count()).select_from(Subscription)).one()
    print(f"in the database: {customers:,} customers, {subscriptions:,} subscriptions")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or a database URL")
    args = parser.parse_args()
    from _server import scratch_database

    with scratch_database(args.db) as url:
        run(url, args.rows)


if __name__ == "__main__":
    main()
