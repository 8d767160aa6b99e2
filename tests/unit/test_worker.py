"""`portal worker` as a process: it delivers what is committed, stops cleanly on SIGTERM, and a
worker SIGKILLed mid-delivery leads to one more delivery with the same webhook-id, nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from portal_app.clock import FixedClock
from portal_app.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from portal_app.services import audit, customer_accounts, webhook_delivery, webhook_endpoints
from tests.webhook_receiver import Receiver, Reply

STAFF = audit.Actor.merchant(1)


@pytest.fixture
def shop(session, catalog, monkeypatch):
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE", "1")
    session.commit()
    return catalog


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def _start_worker(engine, log_path):
    env = {
        **os.environ,
        "PORTAL_DB_URL": engine.url.render_as_string(hide_password=False),
        "PORTAL_WEBHOOK_ALLOW_PRIVATE": "1",
    }
    env.pop("PORTAL_SMTP_HOST", None)
    log = open(log_path, "w")  # noqa: SIM115 (the process writes it until it ends)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portal_app.cli",
            "worker",
            "--poll",
            "0.2",
            "--clock-every",
            "3600",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _wait_for(lambda: "worker: started" in log_path.read_text(), 30, "the worker to start")
    return process


def _wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _setup(engine, clock, merchant_id, url, email="zoe@example.com"):
    with Session(engine) as session:
        webhook_endpoints.create_endpoint(
            session, clock, merchant_id=merchant_id, url=url, actor=STAFF
        )
        session.commit()
    with Session(engine) as session:
        customer_accounts.upsert(
            session, clock, merchant_id=merchant_id, values={"email": email}, actor=STAFF
        )
        session.commit()


def test_the_worker_delivers_and_stops_cleanly_on_sigterm(engine, shop, receiver, tmp_path):
    clock = FixedClock(datetime.now(UTC))
    log_path = tmp_path / "worker.log"
    worker = _start_worker(engine, log_path)
    try:
        _setup(engine, clock, shop.merchant.id, receiver.url)
        _wait_for(lambda: len(receiver.received) == 1, 30, "the delivery")
        _wait_for(lambda: "webhooks 1 delivered" in log_path.read_text(), 10, "the log line")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    log = log_path.read_text()
    assert "worker: stopped" in log and "Traceback" not in log
    with Session(engine) as session:
        (delivery,) = session.exec(select(WebhookDelivery)).all()
        assert (delivery.status, delivery.attempts) == ("succeeded", 1)


def test_a_worker_killed_mid_delivery_leads_to_one_redelivery_with_the_same_id(
    engine, shop, receiver, tmp_path
):
    receiver.replies = [Reply(200, hang=5.0)]  # the worker is killed while it waits for this
    clock = FixedClock(datetime.now(UTC))
    worker = _start_worker(engine, tmp_path / "worker.log")
    try:
        _setup(engine, clock, shop.merchant.id, receiver.url)
        _wait_for(lambda: len(receiver.received) == 1, 30, "the first post")
        worker.kill()
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    with Session(engine) as session:
        (delivery,) = session.exec(select(WebhookDelivery)).all()
        assert (delivery.status, delivery.attempts) == ("sending", 1)
    # Before the claim's lease ends nobody takes it; after, the next run sends it again.
    assert webhook_delivery.deliver(engine, FixedClock(datetime.now(UTC))).attempts == 0
    clock = FixedClock(datetime.now(UTC) + webhook_delivery.CLAIM_LEASE + timedelta(seconds=1))
    assert webhook_delivery.deliver(engine, clock).succeeded == 1
    ids = receiver.ids()
    assert len(ids) == 2 and ids[0] == ids[1]
    with Session(engine) as session:
        attempts = session.exec(select(WebhookAttempt).order_by(WebhookAttempt.number)).all()
        assert [(a.number, a.status_code, a.error) for a in attempts] == [
            (1, None, webhook_delivery.INTERRUPTED),
            (2, 200, ""),
        ]
        assert len(session.exec(select(WebhookEvent)).all()) == 1
        (delivery,) = session.exec(select(WebhookDelivery)).all()
        assert (delivery.status, delivery.attempts) == ("succeeded", 2)
