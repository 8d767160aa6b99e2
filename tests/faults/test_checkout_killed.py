"""A web worker is SIGKILLed in the middle of a checkout confirm, at three steps of its one
transaction: the new customer written, the first invoice charged, the welcome mail queued. Each
time nothing of it is left (no customer, card, subscription, invoice, charge, payment, receipt,
mail or code redemption; the session still open and the code's count unchanged), and the
visitor's retry then completes it exactly once. On a SQLite file and a private PostgreSQL
cluster; the worker is `tests/faults/checkout_confirm_child.py`, running CheckoutState.confirm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from sqlmodel import Session, func, select

from portal_app import db
from portal_app.config import PROJECT_ROOT
from portal_app.models import (
    AuditEvent,
    CheckoutSession,
    Coupon,
    CouponRedemption,
    Customer,
    Invoice,
    OutboxEmail,
    Payment,
    PaymentMethod,
    PromotionCode,
    Receipt,
    SandboxCharge,
    Subscription,
)
from portal_app.services import checkout
from tests import factories
from tests.faults.support import CLOCK, PUBLIC_URL, wait_until, writer_busy

EMAIL = "kim@faults.test"
WRITTEN = (
    Customer,
    PaymentMethod,
    Subscription,
    Invoice,
    SandboxCharge,
    Payment,
    Receipt,
    OutboxEmail,
    CouponRedemption,
)


def _open_with_code(engine) -> tuple[str, int]:
    """A merchant's Pro plan opened at checkout with SPRING20 (20 % off, once) applied."""
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        coupon = Coupon(
            merchant_id=catalog.merchant.id, name="Spring", percent_off=20, created_at=CLOCK.now()
        )
        session.add(coupon)
        session.flush()
        session.add(
            PromotionCode(
                merchant_id=catalog.merchant.id,
                coupon_id=coupon.id,
                code="SPRING20",
                created_at=CLOCK.now(),
            )
        )
        checkout_id = checkout.open_link(
            session, CLOCK, merchant_id=catalog.merchant.id, slug="pro", interval="month"
        )
        checkout.apply_code(session, CLOCK, checkout_id, "SPRING20")
        session.commit()
    return checkout_id, coupon.id


def _counts(engine) -> dict[str, int]:
    with db.read_scope(engine) as session:
        return {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in WRITTEN
        }


def _worker(url: str, checkout_id: str, stop_at: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.checkout_confirm_child", checkout_id, stop_at],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PORTAL_DB_URL": url, "PORTAL_PUBLIC_URL": PUBLIC_URL},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_at(url: str, engine, checkout_id: str, stop_at: str) -> None:
    worker = _worker(url, checkout_id, stop_at)
    try:
        line = worker.stdout.readline()
        assert line.strip() == "STOPPED", line + worker.stderr.read()
        wait_until(lambda: writer_busy(engine), 30, "the confirm's open transaction")
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
        worker.stdout.close()
        worker.stderr.close()
    assert worker.returncode == -signal.SIGKILL


def test_a_confirm_killed_midway_leaves_nothing_and_the_retry_completes_once(database):
    url, engine = database
    checkout_id, coupon_id = _open_with_code(engine)
    nothing = dict.fromkeys((model.__name__ for model in WRITTEN), 0)
    assert _counts(engine) == nothing
    for stop_at in ("customer", "charge", "welcome"):
        _kill_at(url, engine, checkout_id, stop_at)
        assert _counts(engine) == nothing, f"killed after {stop_at}: something was kept"
        with db.read_scope(engine) as session:
            row = session.get(CheckoutSession, checkout_id)
            assert (row.status, row.customer_id, row.invoice_id) == ("open", None, None)
            assert session.get(Coupon, coupon_id).times_redeemed == 0
            # the details were kept in a unit of their own before the confirm began
            assert row.email == EMAIL

    # The visitor's retry completes it; a later confirm of the same session (another tab, a
    # second retry) is told it is complete and writes nothing more.
    for attempt, answer in enumerate(("DONE", "ERROR This checkout is already complete.")):
        done = subprocess.run(
            [sys.executable, "-m", "tests.faults.checkout_confirm_child", checkout_id, "none"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PORTAL_DB_URL": url, "PORTAL_PUBLIC_URL": PUBLIC_URL},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.stdout.strip() == answer, done.stdout + done.stderr
        counts = _counts(engine)
        assert counts == {
            **dict.fromkeys(nothing, 1),
            # the first invoice and the welcome mail with its sign-in link
            "OutboxEmail": counts["OutboxEmail"],
        }, f"attempt {attempt}"
        assert counts["OutboxEmail"] >= 1
    with db.read_scope(engine) as session:
        row = session.get(CheckoutSession, checkout_id)
        customer = session.exec(select(Customer).where(Customer.email == EMAIL)).one()
        invoice = session.get(Invoice, row.invoice_id)
        charge = session.exec(select(SandboxCharge)).one()
        assert (row.status, row.customer_id) == ("completed", customer.id)
        assert (invoice.status, invoice.customer_id, invoice.number) == ("paid", customer.id, 1)
        assert invoice.total == charge.amount == 1600  # Pro's $20 with 20 % off
        assert session.get(Coupon, coupon_id).times_redeemed == 1
        completed = session.exec(
            select(func.count()).where(AuditEvent.action == "checkout.completed")
        ).one()
        assert completed == 1
