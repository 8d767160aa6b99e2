"""A worker is SIGKILLed in the middle of a billing-clock run over 2,000 due subscriptions
(`portal billing-run`, as cron runs it): only whole batches were kept, and running it again
renews every subscription exactly once, charges nobody twice and keeps invoice numbers
gapless. On a SQLite file and on a private PostgreSQL cluster."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import sqlalchemy as sa
from sqlmodel import Session, func, select

from portal_app import db
from portal_app.config import PROJECT_ROOT
from portal_app.models import (
    Invoice,
    Payment,
    Receipt,
    SandboxCharge,
    Subscription,
)
from tests.faults.support import build_due_renewals, portal_cli, wait_until, writer_busy

COUNT = 2000
BATCH = 100


def _renewal_invoices(engine: sa.Engine) -> int:
    with db.read_scope(engine) as session:  # a reader: never holds up the worker on SQLite
        return session.exec(
            select(func.count()).where(Invoice.billing_reason == "subscription_cycle")
        ).one()


def _renewed(output: str) -> int:
    return int(re.search(r"renewed=(\d+)", output).group(1))


def test_billing_run_killed_mid_run_finishes_on_rerun_without_double_charges(database):
    url, engine = database
    started = time.perf_counter()
    end = build_due_renewals(engine, COUNT)
    setup_seconds = time.perf_counter() - started
    env = {**os.environ, "PORTAL_DB_URL": url}

    # first worker: killed with SIGKILL once a few batches are committed, while it is in the
    # middle of writing the next one
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "portal_app.cli", "billing-run", "--batch-size", str(BATCH)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _renewal_invoices(engine) >= 3 * BATCH, 300, "three committed batches")
        wait_until(lambda: writer_busy(engine), 60, "a batch being written", interval=0.005)
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
        worker.stdout.close()
        worker.stderr.close()
    killed_after = time.perf_counter() - started
    assert worker.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    kept = _renewal_invoices(engine)
    assert 3 * BATCH <= kept < COUNT
    assert kept % BATCH == 0, f"{kept} renewals kept: a batch was half-written"
    with Session(engine) as session:
        charges = session.exec(select(func.count()).select_from(SandboxCharge)).one()
        assert charges == kept  # nothing charged for the batch that died
        moved = session.exec(
            select(func.count()).where(Subscription.current_period_end > end)
        ).one()
        assert moved == kept

    # the next run (cron, five minutes later) picks up the rest
    started = time.perf_counter()
    rerun = portal_cli("billing-run", "--batch-size", str(BATCH), env={"PORTAL_DB_URL": url})
    rerun_seconds = time.perf_counter() - started
    assert rerun.returncode == 0, rerun.stderr
    assert _renewed(rerun.stdout) == COUNT - kept
    assert _renewed(portal_cli("billing-run", env={"PORTAL_DB_URL": url}).stdout) == 0

    with Session(engine) as session:
        renewals = session.exec(
            select(Invoice.subscription_id, Invoice.number, Invoice.status).where(
                Invoice.billing_reason == "subscription_cycle"
            )
        ).all()
        assert len(renewals) == COUNT
        assert len({subscription_id for subscription_id, _, _ in renewals}) == COUNT  # once each
        assert {status for _, _, status in renewals} == {"paid"}
        assert sorted(number for _, number, _ in renewals) == list(range(1, COUNT + 1))
        charges = session.exec(select(func.count()).select_from(SandboxCharge)).one()
        payments = session.exec(select(func.count()).select_from(Payment)).one()
        assert charges == payments == COUNT  # gateway charges == invoices paid
        receipts = sorted(session.exec(select(Receipt.number)))
        assert receipts == list(range(1, COUNT + 1))
        still_due = session.exec(
            select(func.count()).where(Subscription.current_period_end <= end)
        ).one()
        assert still_due == 0
    verify = portal_cli("audit-verify", env={"PORTAL_DB_URL": url})
    assert verify.returncode == 0 and ", ok" in verify.stdout, verify.stdout + verify.stderr
    print(
        f"\n{engine.dialect.name}: set-up {setup_seconds:.1f} s; killed after {killed_after:.1f} s"
        f" with {kept} renewed; re-run renewed {COUNT - kept} in {rerun_seconds:.1f} s"
    )
