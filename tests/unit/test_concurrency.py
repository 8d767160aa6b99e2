"""Issue #6 concurrency rules on real separate connections (SQLite and, with PORTAL_TEST_DB_URL,
PostgreSQL): fifty concurrent pays make one charge; two worker processes finalizing at once keep
invoice numbers gapless; of two concurrent plan changes one wins and the other gets a conflict.
(Twenty concurrent magic-link redemptions: tests/unit/test_auth.py.)"""

from __future__ import annotations

import multiprocessing
import os
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, func, select

from portal_app.clock import FixedClock
from portal_app.db import make_engine, session_scope
from portal_app.models import (
    AuditEvent,
    Invoice,
    Payment,
    Receipt,
    SandboxCharge,
    Subscription,
)
from portal_app.services import audit, invoices, plan_changes
from portal_app.services.errors import ConcurrentChange, PortalError
from portal_app.services.invoices import LineSpec
from tests import factories

CUSTOMER = audit.Actor.customer(1)


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _count(engine: sa.Engine, model, *where) -> int:
    with Session(engine) as check:
        return check.exec(select(func.count()).select_from(model).where(*where)).one()


_race = factories.race


# --- fifty concurrent pays ---------------------------------------------------------------------


def test_fifty_concurrent_pays_make_one_charge(engine, session, clock, gateway, customer, card):
    invoice = factories.finalized_invoice(session, clock, customer)
    session.commit()

    def pay(s):
        return factories.pay_invoice(s, clock, gateway, customer, invoice, CUSTOMER, card=card)

    started = time.perf_counter()
    outcomes, pids = _race(engine, [pay] * 50, hold_connection_first=True)
    elapsed = time.perf_counter() - started
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors == []
    assert sorted(o.status for o in outcomes) == ["already_paid"] * 49 + ["paid"]
    paid = next(o for o in outcomes if o.status == "paid")
    # every "already paid" answer points at the one payment
    assert {o.payment_id for o in outcomes} == {paid.payment_id}
    if engine.dialect.name == "postgresql":
        assert len(pids) == 50  # fifty server connections were open at the same time
    assert _count(engine, SandboxCharge) == 1
    assert _count(engine, Payment) == 1
    assert _count(engine, Receipt) == 1
    assert _count(engine, AuditEvent, AuditEvent.action == "invoice.paid") == 1
    with Session(engine) as check:
        row = check.get(Invoice, invoice.id)
        assert (row.status, row.amount_paid, row.attempt_count) == ("paid", 1500, 1)
        assert audit.verify_chain(check, customer.merchant_id).ok
    print(f"\n50 concurrent pays on {engine.dialect.name}: {elapsed:.2f} s")


# --- two worker processes finalizing at once ---------------------------------------------------


class _Abandoned(Exception):
    """Raised inside a unit of work to roll it back after its number was taken."""


def _finalize_worker(url, invoice_ids, abandon_every, barrier, results):
    """One 'worker' process: its own interpreter and engine, one transaction per invoice; every
    `abandon_every`-th transaction is rolled back after finalize took a number."""
    engine = make_engine(url)
    clock = FixedClock(datetime(2026, 1, 15, 12, tzinfo=UTC))
    finalized, abandoned = [], []
    try:
        barrier.wait(120)
        started = time.time()
        for index, invoice_id in enumerate(invoice_ids):
            try:
                with session_scope(engine) as s:
                    invoices.finalize(s, clock, s.get(Invoice, invoice_id), audit.SYSTEM)
                    if abandon_every and index % abandon_every == abandon_every - 1:
                        raise _Abandoned
                finalized.append(invoice_id)
            except _Abandoned:
                abandoned.append(invoice_id)
        results.put((os.getpid(), started, time.time(), finalized, abandoned, None))
    except Exception as exc:
        results.put((os.getpid(), 0.0, 0.0, finalized, abandoned, repr(exc)))
    finally:
        engine.dispose()


def test_two_worker_processes_finalizing_at_once_keep_numbers_gapless(
    engine, session, clock, customer
):
    drafts = [
        factories.draft_invoice(
            session, clock, customer, [LineSpec("manual", f"Item {n}", 100 + n)]
        ).id
        for n in range(120)
    ]
    session.commit()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(
            target=_finalize_worker,
            args=(_url(engine), drafts[part::2], 7, barrier, results),
        )
        for part in (0, 1)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert [r[5] for r in reports] == [None, None]
    (pid_a, start_a, end_a, *_), (pid_b, start_b, end_b, *_) = reports
    assert pid_a != pid_b
    assert start_a < end_b and start_b < end_a, "the two workers did not run at the same time"
    finalized = [i for r in reports for i in r[3]]
    abandoned = [i for r in reports for i in r[4]]
    assert len(finalized) + len(abandoned) == 120 and len(abandoned) == 2 * (60 // 7)
    with Session(engine) as check:
        rows = {i.id: i for i in check.exec(select(Invoice))}
        numbers = sorted(rows[i].number for i in finalized)
        assert numbers == list(range(1, len(finalized) + 1))  # no gap, no duplicate
        assert all(rows[i].status == "open" for i in finalized)
        assert all((rows[i].status, rows[i].number) == ("draft", None) for i in abandoned)
        finalize_events = check.exec(
            select(func.count()).where(AuditEvent.action == "invoice.finalize")
        ).one()
        assert finalize_events == len(finalized)
        assert audit.verify_chain(check, customer.merchant_id).ok
    print(
        f"\n2 processes finalized {len(finalized)} invoices ({len(abandoned)} rolled back) on "
        f"{engine.dialect.name} in {max(end_a, end_b) - min(start_a, start_b):.2f} s"
    )


# --- two concurrent plan changes ---------------------------------------------------------------


class _SlowGateway:
    """The sandbox gateway with a slow charge, so the first change's transaction is still open
    (row claimed, not committed) when the second one gets to the subscription."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay = inner, delay

    def charge(self, *args, **kwargs):
        time.sleep(self.delay)
        return self.inner.charge(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_two_concurrent_plan_changes_one_wins_the_other_gets_a_conflict(
    engine, session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(
        session, clock, gateway, customer, catalog.monthly["Basic"], actor=CUSTOMER
    )
    session.commit()
    # both browser tabs previewed the same subscription version
    version = factories.preview_change(
        session, clock, customer, sub, catalog.monthly["Pro"]
    ).version
    targets = [catalog.monthly["Pro"], catalog.monthly["Business"]]
    session.commit()  # ends the preview's transaction (SQLite: releases the write lock)
    charges_before = _count(engine, SandboxCharge)
    slow = _SlowGateway(gateway, 0.5)

    def change_to(price):
        return lambda s: factories.change_plan(
            s, clock, slow, customer, sub, price, expected_version=version, actor=CUSTOMER
        )

    outcomes, _ = _race(engine, [change_to(price) for price in targets])
    conflicts = [o for o in outcomes if isinstance(o, ConcurrentChange)]
    wins = [o for o in outcomes if isinstance(o, plan_changes.ChangeResult)]
    assert (len(wins), len(conflicts)) == (1, 1), outcomes
    conflict = conflicts[0]
    assert isinstance(conflict, PortalError) and conflict.code == "conflict"
    assert str(conflict) == (
        "This subscription was just changed somewhere else. Reload and try again."
    )
    winner_price = targets[outcomes.index(wins[0])].id
    with Session(engine) as check:
        row = check.get(Subscription, sub.id)
        assert (row.price_id, row.version) == (winner_price, version + 1)
        updates = check.exec(
            select(Invoice).where(Invoice.billing_reason == "subscription_update")
        ).all()
        assert [i.id for i in updates] == [wins[0].invoice_id]
        assert updates[0].status == "paid"
        changes = check.exec(
            select(func.count()).where(AuditEvent.action == "subscription.upgrade")
        ).one()
        assert changes == 1
        assert audit.verify_chain(check, customer.merchant_id).ok
    assert _count(engine, SandboxCharge) == charges_before + 1  # the loser charged nothing
