"""PostgreSQL restarted or stopped under a running app (a private cluster, never the shared one):
the first request after a restart works (pool_pre_ping), a request while it is down fails with a
clear ServiceUnavailable, and a write cut off by a stop or a crash leaves nothing half-written."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from portal_app import db
from portal_app.models import (
    AuditEvent,
    Customer,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    OutboxEmail,
    Payment,
    Receipt,
    SandboxCharge,
    Subscription,
)
from portal_app.services import audit, auth, invoices, plan_changes
from portal_app.services.errors import ServiceUnavailable
from portal_app.services.sandbox_gateway import SandboxGateway
from portal_app.state import PortalState
from tests import factories
from tests.faults.support import CLOCK, portal_cli, submit_login_form
from tests.statekit import call, root_with

CUSTOMER = audit.Actor.customer(1)


@dataclass
class Billing:
    merchant_id: int
    customer_id: int
    email: str
    card_id: int
    invoice_id: int
    subscription_id: int
    pro_price_id: int
    session_id: str


def _seed(engine: sa.Engine) -> Billing:
    """A customer with a card, a Basic subscription (paid), an open invoice and a live session."""
    gateway = SandboxGateway()
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        zoe = factories.make_customer(session, CLOCK, catalog.merchant, "zoe@example.com")
        card = factories.add_gateway_card(session, CLOCK, gateway, zoe)
        sub = factories.subscribe(
            session, CLOCK, gateway, zoe, catalog.monthly["Basic"], actor=CUSTOMER
        )
        invoice = factories.finalized_invoice(session, CLOCK, zoe, amount=4200)
        signed_in = factories.customer_signed_in(session, CLOCK, zoe)
        session.commit()
        return Billing(
            catalog.merchant.id,
            zoe.id,
            zoe.email,
            card.id,
            invoice.id,
            sub.id,
            catalog.monthly["Pro"].id,
            signed_in.session_id,
        )


def _pay(session, seeded: Billing, gateway=None):
    return invoices.pay(
        session,
        CLOCK,
        gateway or SandboxGateway(),
        customer_id=seeded.customer_id,
        invoice_id=seeded.invoice_id,
        payment_method_id=seeded.card_id,
        actor=CUSTOMER,
    )


def _upgrade(session, seeded: Billing, gateway=None):
    sub = session.get(Subscription, seeded.subscription_id)
    return plan_changes.change_plan(
        session,
        CLOCK,
        gateway or SandboxGateway(),
        customer_id=seeded.customer_id,
        subscription_id=seeded.subscription_id,
        new_price_id=seeded.pro_price_id,
        expected_version=sub.version,
        actor=CUSTOMER,
    )


def _portal_load(session_id: str):
    """PortalState.load as the browser triggers it; returns (handler result, state)."""

    async def scenario():
        root = root_with(session_id)
        result = await call(root, PortalState, "load")
        return result, await root.get_state(PortalState)

    return asyncio.run(scenario())


def _snapshot(engine: sa.Engine, seeded: Billing) -> dict:
    """Everything a payment or a plan change writes."""
    with Session(engine) as session:
        counts = {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in (
                Invoice,
                InvoiceLine,
                Payment,
                Receipt,
                SandboxCharge,
                AuditEvent,
                OutboxEmail,
            )
        }
        sub = session.get(Subscription, seeded.subscription_id)
        counter = session.get(InvoiceCounter, seeded.merchant_id)
        return {
            **counts,
            "subscription": (sub.version, sub.price_id, sub.status, sub.current_period_end),
            "invoice": session.get(Invoice, seeded.invoice_id).status,
            "counters": (counter.last_invoice_number, counter.last_receipt_number),
            "credit": session.get(Customer, seeded.customer_id).credit_balance,
        }


def _assert_consistent(engine: sa.Engine, seeded: Billing) -> None:
    """Numbers gapless, every charge matched by one payment, the audit chain intact."""
    with Session(engine) as session:
        numbers = sorted(n for n in session.exec(select(Invoice.number)) if n is not None)
        assert numbers == list(range(1, len(numbers) + 1))
        receipts = sorted(session.exec(select(Receipt.number)))
        assert receipts == list(range(1, len(receipts) + 1))
        charges = session.exec(
            select(func.count()).where(SandboxCharge.status == "succeeded")
        ).one()
        assert charges == session.exec(select(func.count()).select_from(Payment)).one()
        assert audit.verify_chain(session, seeded.merchant_id).ok


def test_first_request_after_a_restart_works(private_postgres, pg_engine, use_app_db):
    seeded = _seed(pg_engine)
    use_app_db(private_postgres.url)
    result, portal = _portal_load(seeded.session_id)
    assert portal.loaded and portal.customer_name
    with db.session_scope(pg_engine) as session:
        auth.load_session(session, CLOCK, seeded.session_id, role="customer")
    assert pg_engine.pool.checkedin() >= 1  # pooled connections that the restart will kill

    started = time.perf_counter()
    private_postgres.restart("fast")
    restart_seconds = time.perf_counter() - started

    # the next requests, on the same engines and pools, just work; the customer is still signed in
    result, portal = _portal_load(seeded.session_id)
    assert portal.loaded and "toast" not in str(result)
    with db.session_scope(pg_engine) as session:
        assert _pay(session, seeded).status == "paid"
    form = submit_login_form(seeded.email)
    assert (form.sent, form.error) == (True, "")
    _assert_consistent(pg_engine, seeded)
    print(f"\nprivate PostgreSQL restart: {restart_seconds:.2f} s")


def test_database_down_gives_a_clear_error_and_then_recovers(
    private_postgres, pg_engine, use_app_db
):
    seeded = _seed(pg_engine)
    use_app_db(private_postgres.url)
    before = _snapshot(pg_engine, seeded)
    private_postgres.stop("fast")
    try:
        started = time.perf_counter()
        with pytest.raises(ServiceUnavailable) as caught, db.session_scope(pg_engine) as session:
            _pay(session, seeded)
        assert str(caught.value) == db.UNAVAILABLE and caught.value.code == "unavailable"
        assert time.perf_counter() - started < 15  # refused at once, no hanging
        with (
            pytest.raises(ServiceUnavailable, match="briefly unavailable"),
            db.read_scope(pg_engine) as session,
        ):
            session.get(Invoice, seeded.invoice_id)
        # the sign-in form and a signed-in page say so instead of failing silently (the form
        # only reads before it answers: the write comes after, state/login.py)
        form = submit_login_form(seeded.email)
        assert (form.sent, form.error, form.submitting) == (False, db.READ_UNAVAILABLE, False)
        result, portal = _portal_load(seeded.session_id)
        assert db.UNAVAILABLE in str(result) and not portal.loaded
        # the cron job exits non-zero with one readable line
        run = portal_cli("billing-run", env={"PORTAL_DB_URL": private_postgres.url})
        assert run.returncode == 1
        assert run.stderr.strip() == f"error: {db.UNAVAILABLE}"
    finally:
        private_postgres.start()

    assert _snapshot(pg_engine, seeded) == before
    result, portal = _portal_load(seeded.session_id)
    assert portal.loaded
    with db.session_scope(pg_engine) as session:
        assert _pay(session, seeded).status == "paid"
    _assert_consistent(pg_engine, seeded)


class _StopsTheServer:
    """A gateway whose charge first stops the database, as a crash or a restart would in the
    middle of a payment; the rest of the transaction then runs on a dead connection."""

    def __init__(self, cluster, mode: str):
        self.cluster, self.mode, self.inner = cluster, mode, SandboxGateway()

    def charge(self, *args, **kwargs):
        self.cluster.stop(self.mode)
        return self.inner.charge(*args, **kwargs)


@pytest.mark.parametrize("operation", [_pay, _upgrade], ids=["pay", "plan_change"])
@pytest.mark.parametrize(
    "moment, mode",
    [("during_charge", "immediate"), ("before_commit", "fast")],
    ids=["crash_during_charge", "restart_before_commit"],
)
def test_a_write_cut_off_by_a_stop_leaves_nothing_half_written(
    private_postgres, pg_engine, operation, moment, mode
):
    seeded = _seed(pg_engine)
    before = _snapshot(pg_engine, seeded)
    try:
        with pytest.raises(ServiceUnavailable) as caught, db.session_scope(pg_engine) as session:
            if moment == "during_charge":
                operation(session, seeded, _StopsTheServer(private_postgres, mode))
            else:
                operation(session, seeded)
                session.flush()  # every row written, only COMMIT left
                private_postgres.stop(mode)
    finally:
        if not private_postgres.running():
            private_postgres.start()
    # cut off mid-work the server rolled it back; cut off at COMMIT the app cannot know
    expected = db.UNAVAILABLE if moment == "during_charge" else db.UNCONFIRMED
    assert str(caught.value) == expected

    assert _snapshot(pg_engine, seeded) == before  # nothing half-written
    with db.session_scope(pg_engine) as session:  # and trying again works, once
        operation(session, seeded)
    after = _snapshot(pg_engine, seeded)
    assert after["SandboxCharge"] == before["SandboxCharge"] + 1
    assert after["Payment"] == before["Payment"] + 1
    _assert_consistent(pg_engine, seeded)


def test_sqlite_locked_past_its_busy_timeout_is_unavailable_but_a_bug_is_not(tmp_path):
    """Only "could not reach / could not get in" becomes ServiceUnavailable; a programming error
    (here a missing table) still raises as itself, so it is not hidden behind "try again"."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    engine = db.make_engine(url)
    db.create_all(engine)

    @sa.event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=200")

    with db.session_scope(engine) as holder:
        holder.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: holds the write lock
        with pytest.raises(ServiceUnavailable) as caught, db.session_scope(engine) as blocked:
            blocked.execute(sa.text("SELECT 1"))
        assert str(caught.value) == db.UNAVAILABLE
    with (
        pytest.raises(sa.exc.OperationalError, match="no such table"),
        db.session_scope(engine) as session,
    ):
        session.execute(sa.text("SELECT * FROM no_such_table"))
    engine.dispose()
