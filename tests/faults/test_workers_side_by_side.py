"""Three `portal worker` processes on one PostgreSQL database with 3,000 due renewals and an
endpoint listening for subscription.renewed: each renewal happens once, invoice numbers have no
gaps, each of the 3,000 deliveries is attempted once, and more than one worker delivers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from sqlmodel import Session, func, select

from portal_app.config import PROJECT_ROOT
from portal_app.models import Invoice, Merchant, WebhookAttempt, WebhookDelivery
from portal_app.services import audit, webhook_endpoints
from tests.faults.support import CLOCK, build_due_renewals, wait_until
from tests.webhook_receiver import Receiver

COUNT = 3000
WORKERS = 3


def test_three_workers_renew_once_and_deliver_each_event_once(
    private_postgres, pg_engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE", "1")
    engine = pg_engine
    receiver = Receiver().start()
    started = time.perf_counter()
    build_due_renewals(engine, COUNT)
    with Session(engine) as session:
        merchant_id = session.exec(select(Merchant.id)).one()
        webhook_endpoints.create_endpoint(
            session,
            CLOCK,
            merchant_id=merchant_id,
            url=receiver.url,
            actor=audit.SYSTEM,
            event_types=["subscription.renewed"],
        )
        session.commit()
    setup = time.perf_counter() - started
    env = {**os.environ, "PORTAL_DB_URL": private_postgres.url, "PORTAL_WEBHOOK_ALLOW_PRIVATE": "1"}
    logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
    workers = []
    started = time.perf_counter()
    try:
        for log in logs:
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "portal_app.cli",
                        "worker",
                        "--poll",
                        "0.5",
                        "--clock-every",
                        "1",
                    ],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                )
            )
        wait_until(lambda: len(receiver.received) >= COUNT, 600, f"{COUNT} deliveries")
        elapsed = time.perf_counter() - started
        time.sleep(2)  # anything sent twice would arrive now
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(timeout=60) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        receiver.stop()
    texts = [log.read_text() for log in logs]
    assert all("worker: stopped" in t and "Traceback" not in t for t in texts), texts
    delivered_by = [sum(int(n) for n in re.findall(r"webhooks (\d+) delivered", t)) for t in texts]
    assert sum(delivered_by) == COUNT
    assert sum(1 for n in delivered_by if n) >= 2, delivered_by  # nobody waited on one worker

    with Session(engine) as session:
        renewals = session.exec(
            select(Invoice.subscription_id, Invoice.number).where(
                Invoice.billing_reason == "subscription_cycle"
            )
        ).all()
        assert len(renewals) == COUNT
        assert len({s for s, _ in renewals}) == COUNT  # each subscription renewed once
        assert sorted(n for _, n in renewals) == list(range(1, COUNT + 1))  # no gaps
        statuses = session.exec(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        ).all()
        assert statuses == [("succeeded", COUNT)]
        attempts = session.exec(select(func.count()).select_from(WebhookAttempt)).one()
        assert attempts == COUNT  # one attempt each
    ids = receiver.ids()
    assert len(ids) == COUNT and len(set(ids)) == COUNT
    renewed = {json.loads(r.body)["data"]["id"] for r in receiver.received}
    assert len(renewed) == COUNT
    print(
        f"\nset-up {setup:.1f} s; {WORKERS} workers renewed {COUNT} and delivered {COUNT} events "
        f"in {elapsed:.1f} s; deliveries per worker {delivered_by}"
    )
