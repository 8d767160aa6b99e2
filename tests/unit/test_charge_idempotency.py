"""A worker dies after an external gateway charged and before COMMIT: the re-run charges nobody
twice. The gateway double keeps its ledger in memory, outside the database transaction, as a real
gateway does (the sandbox's ledger rolls back with the transaction, so it cannot show this).
Between the crash and the re-run other work takes the invoice id the lost transaction had used
(on PostgreSQL a sequence never gives it back anyway), so a key made of the invoice id would differ
on the re-run and charge again."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from portal_app.db import session_scope
from portal_app.models import Customer, Invoice, Payment, Subscription
from portal_app.services import (
    audit,
    billing_clock,
    invoices,
    plan_changes,
    renewals,
)
from portal_app.services.errors import PaymentError
from portal_app.services.gateway import ChargeResult
from portal_app.services.sandbox_gateway import SandboxGateway
from tests import factories

ACTOR = audit.Actor.customer(1)


class RemoteGateway:
    """Charges kept in memory, untouched by any rollback. Like Stripe: the same key returns the
    first result without charging again, and the same key with other parameters is refused."""

    def __init__(self):
        self.ledger: dict[str, tuple[tuple, ChargeResult]] = {}
        self.requests: list[str] = []

    def charge(self, session, clock, *, token, amount, currency, idempotency_key, off_session=True):
        self.requests.append(idempotency_key)
        params = (token, amount, currency)
        if idempotency_key in self.ledger:
            first_params, result = self.ledger[idempotency_key]
            if first_params != params:
                raise PaymentError(
                    "This payment request conflicts with an earlier one.",
                    code="idempotency_key_reused",
                )
            return result
        result = ChargeResult(
            charge_id=f"ch_remote_{len(self.ledger) + 1}", succeeded=True, created_at=clock.now()
        )
        self.ledger[idempotency_key] = (params, result)
        return result

    def keys_starting(self, prefix: str) -> list[str]:
        return [key for key in self.ledger if key.startswith(prefix)]


class WorkerKilled(Exception):
    """Stands for the process dying between the gateway's answer and COMMIT."""


@pytest.fixture
def kill_before_commit():
    """Arm it and the next COMMIT of any session fails, so that transaction is rolled back."""
    armed = {"on": False}

    def die(_session):
        if armed["on"]:
            armed["on"] = False
            raise WorkerKilled

    sa.event.listen(OrmSession, "before_commit", die)
    yield lambda: armed.update(on=True)
    sa.event.remove(OrmSession, "before_commit", die)


def _customer_with_card(session, clock, catalog, email):
    customer = factories.make_customer(session, clock, catalog.merchant, email)
    factories.add_gateway_card(session, clock, SandboxGateway(), customer)  # vaults a token only
    return customer


def _meanwhile_another_invoice(engine, clock, email):
    """Other work commits an invoice, taking the id the rolled-back transaction had used."""
    with session_scope(engine) as s:
        customer = s.exec(select(Customer).where(Customer.email == email)).one()
        factories.finalized_invoice(
            s, clock, customer, [invoices.LineSpec("manual", "Workshop", 4500)]
        )


@pytest.fixture
def renewal_path(monkeypatch):
    """Set `path["name"]` to "one_by_one" to send plain renewals through billing_clock's own path
    instead of the bulk one (renewals.py)."""
    path = {"name": "bulk"}
    bulk_candidates = renewals.plain_candidates

    def candidates(session, ids):
        return bulk_candidates(session, ids) if path["name"] == "bulk" else []

    monkeypatch.setattr(renewals, "plain_candidates", candidates)
    return path


@pytest.mark.parametrize(
    ("crashed_path", "rerun_path"),
    [
        ("bulk", "bulk"),
        ("one_by_one", "one_by_one"),
        ("bulk", "one_by_one"),
        ("one_by_one", "bulk"),
    ],
)
def test_a_renewal_charged_before_a_crash_is_not_charged_again(
    engine, session, clock, catalog, kill_before_commit, renewal_path, crashed_path, rerun_path
):
    gateway = RemoteGateway()
    customer = _customer_with_card(session, clock, catalog, "renew@example.com")
    _customer_with_card(session, clock, catalog, "other@example.com")
    sub = factories.subscribe(
        session, clock, gateway, customer, catalog.monthly["Pro"], actor=ACTOR
    )
    session.commit()
    sub_id, period_start = sub.id, sub.current_period_end
    clock.advance(timedelta(days=31))

    renewal_path["name"] = crashed_path
    kill_before_commit()
    with pytest.raises(WorkerKilled):
        billing_clock.advance(engine, clock, gateway)
    renewal_keys = gateway.keys_starting(f"sub_{sub_id}_period_")
    assert len(renewal_keys) == 1  # the gateway charged...
    with Session(engine) as s:  # ...and the database kept nothing of the renewal
        assert s.exec(select(Invoice.billing_reason)).all() == ["subscription_create"]
        assert s.get(Subscription, sub_id).current_period_start != period_start

    _meanwhile_another_invoice(engine, clock, "other@example.com")
    renewal_path["name"] = rerun_path
    report = billing_clock.advance(engine, clock, gateway)
    assert (report.renewed, report.charged, report.errors) == (1, 1, 0)

    expected_key = invoices.charge_key(invoices.renewal_obligation(sub_id, period_start), 1)
    assert renewal_keys == [expected_key]
    assert gateway.keys_starting(f"sub_{sub_id}_period_") == [expected_key]  # still one charge
    assert gateway.requests.count(expected_key) == 2  # the re-run asked, and got the first one
    first_charge = gateway.ledger[expected_key][1]
    with Session(engine) as s:
        renewal = s.exec(
            select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
        ).one()
        assert (renewal.status, renewal.period_start) == ("paid", period_start)
        [payment] = s.exec(select(Payment).where(Payment.invoice_id == renewal.id)).all()
        assert (payment.idempotency_key, payment.gateway_charge_id, payment.status) == (
            expected_key,
            first_charge.charge_id,
            "succeeded",
        )
        assert len(s.exec(select(Payment)).all()) == 2  # sign-up + one renewal


def _change(engine, clock, gateway, customer_id, sub_id, price_id, version):
    with session_scope(engine) as s:
        return plan_changes.change_plan(
            s,
            clock,
            gateway,
            customer_id=customer_id,
            subscription_id=sub_id,
            new_price_id=price_id,
            expected_version=version,
            actor=ACTOR,
        )


def _upgrade_killed_before_commit(
    engine, session, clock, catalog, kill_before_commit, gateway, email, *others
):
    """A customer on Basic for ten days (with `others`, more customers with a card) whose
    upgrade to Pro dies before its commit; returns the ids and version a retry uses."""
    customer = _customer_with_card(session, clock, catalog, email)
    for other in others:
        _customer_with_card(session, clock, catalog, other)
    sub = factories.subscribe(
        session, clock, gateway, customer, catalog.monthly["Basic"], actor=ACTOR
    )
    session.commit()
    customer_id, sub_id, version = customer.id, sub.id, sub.version
    pro = catalog.monthly["Pro"].id
    clock.advance(timedelta(days=10))
    kill_before_commit()
    with pytest.raises(WorkerKilled):
        _change(engine, clock, gateway, customer_id, sub_id, pro, version)
    return customer_id, sub_id, version, pro


def test_a_plan_change_charged_before_a_crash_is_not_charged_again(
    engine, session, clock, catalog, kill_before_commit
):
    gateway = RemoteGateway()
    customer_id, sub_id, version, pro = _upgrade_killed_before_commit(
        engine,
        session,
        clock,
        catalog,
        kill_before_commit,
        gateway,
        "up@example.com",
        "other@example.com",
    )
    key = invoices.charge_key(invoices.version_obligation(sub_id, version + 1), 1)
    assert gateway.keys_starting(f"sub_{sub_id}_version_") == [key]
    with Session(engine) as s:
        assert s.get(Subscription, sub_id).version == version  # the change left no trace

    _meanwhile_another_invoice(engine, clock, "other@example.com")
    result = _change(engine, clock, gateway, customer_id, sub_id, pro, version)  # tried again
    assert result.preview.amount_due_now > 0
    assert gateway.keys_starting(f"sub_{sub_id}_version_") == [key]  # one charge
    assert gateway.requests.count(key) == 2
    with Session(engine) as s:
        [payment] = s.exec(select(Payment).where(Payment.invoice_id == result.invoice_id)).all()
        assert (payment.idempotency_key, payment.gateway_charge_id) == (
            key,
            gateway.ledger[key][1].charge_id,
        )
        assert s.get(Subscription, sub_id).price_id == pro


def test_a_lost_plan_change_retried_with_another_amount_is_refused_not_charged_twice(
    engine, session, clock, catalog, kill_before_commit
):
    """The proration is recomputed to the second, so a retry later asks for another amount under
    the same key: the gateway refuses it, and nothing is charged a second time or changed."""
    gateway = RemoteGateway()
    customer_id, sub_id, version, pro = _upgrade_killed_before_commit(
        engine, session, clock, catalog, kill_before_commit, gateway, "later@example.com"
    )
    charges_before = len(gateway.ledger)

    clock.advance(timedelta(hours=5))
    with pytest.raises(PaymentError):
        _change(engine, clock, gateway, customer_id, sub_id, pro, version)
    assert len(gateway.ledger) == charges_before
    with Session(engine) as s:
        fresh = s.get(Subscription, sub_id)
        assert (fresh.version, fresh.price_id) == (version, catalog.monthly["Basic"].id)
        assert len(s.exec(select(Payment)).all()) == 1  # the sign-up only


def test_manual_invoices_keep_their_id_key(session, clock, catalog):
    """An invoice that exists before it is paid is keyed by its id (it is never reused)."""
    gateway = RemoteGateway()
    customer = _customer_with_card(session, clock, catalog, "manual@example.com")
    draft = factories.finalized_invoice(
        session, clock, customer, [invoices.LineSpec("manual", "Setup", 9900)]
    )
    outcome = factories.pay_invoice(session, clock, gateway, customer, draft, ACTOR)
    assert outcome.status == "paid"
    assert list(gateway.ledger) == [f"inv_{draft.id}_attempt_1"]
