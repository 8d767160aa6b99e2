"""Time invoice PDF downloads: first render (cold cache) and repeat downloads (warm cache).

    python bench/pdf.py [--count 50] [--db-url postgresql+psycopg://...]

Set-up (merchant with address and branding, customers with Latin, Greek, Cyrillic and CJK names
and billing addresses, one finalized three-line invoice each) is built in a scratch SQLite
database through the services and is not timed. Every timed download is what the portal does:
a fresh read-only session, `documents.invoice_pdf` (scope check, feature check, loading the
invoice, lines, customer, merchant and settings, the cache key, then the cache or a render).
The font is parsed once per process; that one-time cost is printed on its own."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CACHE_DIR = tempfile.mkdtemp(prefix="pdf-cache-")
os.environ["PORTAL_CACHE_DIR"] = CACHE_DIR
os.environ.setdefault("PORTAL_SECRET_KEY", "bench-secret-not-for-production")

from sqlmodel import Session, SQLModel  # noqa: E402

from portal_app.clock import FixedClock, add_months  # noqa: E402
from portal_app.db import create_all, make_engine, read_scope  # noqa: E402
from portal_app.models import Customer, Merchant  # noqa: E402
from portal_app.services import audit, documents, features, invoices  # noqa: E402
from portal_app.services.invoices import LineSpec  # noqa: E402

START = datetime(2026, 1, 15, 12, tzinfo=UTC)
NAMES = ["Zoë Ångström", "Νίκος Παπαδόπουλος", "Ольга Иванова", "王小明", "Jordan Smith"]


def build(engine, count: int) -> list[tuple[int, int]]:
    SQLModel.metadata.drop_all(engine)
    create_all(engine)
    clock = FixedClock(START)
    pairs = []
    with Session(engine, expire_on_commit=False) as session:
        merchant = Merchant(
            slug="bench",
            name="Bench GmbH",
            address="Friedrichstraße 1\n10117 Berlin\nGermany",
            created_at=START,
        )
        session.add(merchant)
        session.flush()
        features.save(
            session,
            clock,
            merchant.id,
            {"branding.name": "Bench Cloud", "branding.color": "#0f766e"},
            audit.SYSTEM,
        )
        for n in range(count):
            customer = Customer(
                merchant_id=merchant.id,
                email=f"c{n}@bench.test",
                name=f"{NAMES[n % len(NAMES)]} {n}",
                billing_address={
                    "line1": f"{n} Demo Street",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                },
                created_at=START,
            )
            session.add(customer)
            session.flush()
            draft = invoices.create_draft(
                session,
                clock,
                customer=customer,
                currency="EUR",
                lines=[
                    LineSpec(
                        "subscription", "Pro plan (monthly)", 2900, START, add_months(START, 1)
                    ),
                    LineSpec(
                        "manual", f"Extra storage, {n % 7 + 1} \u00d7 100 GB", 500 * (n % 7 + 1)
                    ),
                    LineSpec("discount", "Loyalty discount 10 %", -290),
                ],
                billing_reason="subscription_cycle",
                period_start=START,
                period_end=add_months(START, 1),
            )
            invoices.finalize(session, clock, draft, audit.SYSTEM)
            pairs.append((customer.id, draft.id))
        session.commit()
    return pairs


def download(engine, clock, customer_id: int, invoice_id: int) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    with read_scope(engine) as session:
        data, _ = documents.invoice_pdf(
            session, clock, customer_id=customer_id, invoice_id=invoice_id
        )
    return (time.perf_counter() - t0) * 1000, data


def summary(label: str, samples: list[float]) -> str:
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    return f"{label:<44} median {statistics.median(samples):6.2f} ms   p95 {p95:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DB_URL"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    engine = make_engine(args.db_url or f"sqlite:///{tmp}/bench.db")
    pairs = build(engine, args.count)
    clock = FixedClock(START)

    t0 = time.perf_counter()
    documents.warm_up()
    warm_up = (time.perf_counter() - t0) * 1000

    first, sizes = [], []
    for customer_id, invoice_id in pairs:
        elapsed, data = download(engine, clock, customer_id, invoice_id)
        first.append(elapsed)
        sizes.append(len(data))
    memory = [download(engine, clock, c, i)[0] for c, i in pairs]
    disk = []
    for customer_id, invoice_id in pairs:
        documents.clear_memory_cache()  # as in a fresh process: served from the disk cache
        disk.append(download(engine, clock, customer_id, invoice_id)[0])

    with Session(engine) as session:
        docs = [
            documents.invoice_document(
                session,
                session.get(invoices.Invoice, invoice_id),
                features.load(session, session.get(invoices.Invoice, invoice_id).merchant_id),
            )
            for _, invoice_id in pairs
        ]
    fonts = documents._fonts()
    render_only, plain = [], []
    for doc in docs:
        t0 = time.perf_counter()
        documents.render(doc)
        render_only.append((time.perf_counter() - t0) * 1000)
    for doc in docs[:10]:  # plain fpdf2: add_font + fpdf2's own subsetting, per document
        t0 = time.perf_counter()
        documents._render(doc, fonts, fast=False)
        plain.append((time.perf_counter() - t0) * 1000)

    print(f"database: {engine.dialect.name}, invoices: {args.count}, cache: {CACHE_DIR}")
    print(f"font parse, once per process (warm_up): {warm_up:.0f} ms")
    print(summary("first download (cold cache, renders)", first))
    print(summary("repeat download (in-process LRU)", memory))
    print(summary("repeat download (disk cache, new process)", disk))
    print(summary("render only (layout + PDF bytes)", render_only))
    print(summary("plain fpdf2 render, 10 docs (for comparison)", plain))
    print(
        f"PDF size: median {statistics.median(sizes) / 1024:.1f} KiB, max {max(sizes) / 1024:.1f}"
    )
    print(f"fast-path fallbacks: {documents.drawing._fallbacks}")
    assert documents.drawing._fallbacks == 0, "the fast font path fell back to plain fpdf2"


if __name__ == "__main__":
    main()
