"""Webhook delivery: deliveries per second with one worker to a local receiver, and the time
from a change's commit to its delivery (p50/p95) with `portal worker` running.

    python bench/webhooks.py [--events 2000] [--latency 200] [--db sqlite|postgres|URL]

Throughput: N customer updates are committed first (each writes one customer.updated event for
one endpoint, 100 customers so one customer's order constrains little), then one
`webhook_delivery.deliver` run posts them all. Latency: a `portal worker` process (poll 1 s; on
PostgreSQL woken by NOTIFY) runs while the bench commits one change every 50 ms; each latency is
the receiver's arrival time minus the commit's end."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlmodel import Session

from portal_app.clock import SystemClock
from portal_app.db import create_all, install_guards, make_engine
from portal_app.services import audit, customer_accounts, webhook_delivery, webhook_endpoints
from tests import factories
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
ACTOR = audit.Actor("system", "bench")
CUSTOMERS = 100


def _change(engine, clock, merchant_id: int, n: int, mark: str) -> None:
    with Session(engine) as session:
        customer = customer_accounts.find_external(session, merchant_id, f"b{n % CUSTOMERS}")
        customer_accounts.update(
            session, clock, customer, {"metadata": {"mark": mark}}, actor=ACTOR
        )
        session.commit()


def run(url: str, events: int, latency_events: int) -> None:
    from _server import describe_url, machine_note, percentile

    engine = make_engine(url)
    create_all(engine)
    install_guards(engine)
    clock = SystemClock()
    receiver = Receiver().start()
    with Session(engine, expire_on_commit=False) as session:
        merchant_id = factories.make_catalog(session, clock).merchant.id
        session.commit()
    for n in range(CUSTOMERS):
        with Session(engine) as session:
            customer_accounts.upsert(
                session,
                clock,
                merchant_id=merchant_id,
                values={"email": f"b{n}@bench.test", "external_id": f"b{n}"},
                actor=ACTOR,
            )
            session.commit()
    with Session(engine) as session:
        webhook_endpoints.create_endpoint(
            session,
            clock,
            merchant_id=merchant_id,
            url=receiver.url,
            actor=ACTOR,
            event_types=["customer.updated"],
        )
        session.commit()
    print(f"webhooks on {describe_url(url)}; {machine_note()}")

    started = time.perf_counter()
    for n in range(events):
        _change(engine, clock, merchant_id, n, f"t{n}")
    written = time.perf_counter() - started
    started = time.perf_counter()
    report = webhook_delivery.deliver(engine, clock)
    seconds = time.perf_counter() - started
    assert report.succeeded == events == len(receiver.received), report
    rate = events / written
    print(f"  {events:,} events written in {written:.1f} s ({rate:.0f}/s, one commit each)")
    print(
        f"  one worker delivered {events:,} in {seconds:.2f} s: {events / seconds:.0f} deliveries/s"
    )

    env = {**os.environ, "PORTAL_DB_URL": url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "portal_app.cli", "worker", "--poll", "1", "--clock-every", "3600"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)  # started and listening
        committed: dict[str, float] = {}
        for n in range(latency_events):
            mark = f"l{n}"
            _change(engine, clock, merchant_id, n, mark)
            committed[mark] = time.time()
            time.sleep(0.05)
        deadline = time.time() + 60
        while len(receiver.received) < events + latency_events and time.time() < deadline:
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(30)
    arrived = {}
    for got in receiver.received[events:]:
        arrived[json.loads(got.body)["data"]["metadata"]["mark"]] = got.at
    lags = sorted((arrived[m] - committed[m]) * 1000 for m in committed if m in arrived)
    print(
        f"  commit → delivery with `portal worker` ({len(lags)} of {latency_events} changes, "
        f"one every 50 ms): p50 {percentile(lags, 50):.0f} ms, p95 {percentile(lags, 95):.0f} ms"
    )
    receiver.stop()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or a database URL")
    args = parser.parse_args()
    os.environ["PORTAL_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the receiver is on 127.0.0.1
    os.environ.setdefault("PORTAL_SECRET_KEY", "bench-secret-not-for-production")
    from _server import scratch_database

    with scratch_database(args.db) as url:
        run(url, args.events, args.latency)


if __name__ == "__main__":
    main()
