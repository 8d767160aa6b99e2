"""Invoices: gapless numbers, immutability after finalization, idempotent payment, receipts."""

import threading

import pytest
from sqlmodel import Session, select

from portal_app.models import (
    Invoice,
    InvoiceLine,
    OutboxEmail,
    Payment,
    Receipt,
    SandboxCharge,
)
from portal_app.services import audit, features, invoices
from portal_app.services.errors import FeatureDisabled, InvoiceError, NotFound
from portal_app.services.invoices import LineSpec
from tests import factories

SYSTEM = audit.SYSTEM
ACTOR = audit.Actor.customer(1)


def _pay_with(session, clock, gateway, customer, invoice, card):
    """The customer pays `invoice` with `card` (chosen, not the default)."""
    return factories.pay_invoice(session, clock, gateway, customer, invoice, ACTOR, card=card)


def test_lines_sum_to_total_and_numbers_are_sequential(session, clock, customer):
    first = invoices.create_draft(
        session,
        clock,
        customer=customer,
        currency="USD",
        lines=[LineSpec("manual", "A", 1000), LineSpec("discount", "B", -250)],
        billing_reason="manual",
    )
    assert first.total == 750 and first.number is None
    invoices.finalize(session, clock, first, SYSTEM)
    second = factories.finalized_invoice(session, clock, customer)
    assert (first.number, second.number) == (1, 2)
    assert invoices.display_number(second) == "INV-000002"


def test_zero_invoice_is_paid_on_finalize(session, clock, customer):
    invoice = factories.finalized_invoice(session, clock, customer, [LineSpec("manual", "Free", 0)])
    assert invoice.status == "paid"


def test_finalized_invoice_never_changes(session, clock, customer):
    session.commit()
    invoice = factories.finalized_invoice(session, clock, customer)
    invoice.total = 1
    session.add(invoice)
    with factories.refused(InvoiceError, "frozen"):
        session.flush()
    session.rollback()
    invoice = factories.finalized_invoice(session, clock, customer)
    session.add(InvoiceLine(invoice_id=invoice.id, kind="manual", description="x", amount=5))
    with pytest.raises(InvoiceError):
        session.flush()
    session.rollback()
    invoice = factories.finalized_invoice(session, clock, customer)
    line = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).one()
    line.amount = 1
    session.add(line)
    with pytest.raises(InvoiceError):
        session.flush()


def test_correction_is_void_plus_new_invoice(session, clock, customer):
    invoice = factories.finalized_invoice(session, clock, customer)
    replacement = invoices.void_and_replace(
        session, clock, invoice, [LineSpec("manual", "Consulting (corrected)", 1200)], SYSTEM
    )
    assert invoice.status == "void" and invoice.total == 1500
    assert replacement.replaces_invoice_id == invoice.id
    assert replacement.number == invoice.number + 1 and replacement.total == 1200
    with pytest.raises(InvoiceError):
        invoices.void(session, clock, invoice, SYSTEM)


def test_pay_twice_charges_once(session, clock, gateway, customer, card):
    invoice = factories.finalized_invoice(session, clock, customer)
    first = factories.pay_invoice(session, clock, gateway, customer, invoice, actor=ACTOR)
    second = _pay_with(session, clock, gateway, customer, invoice, card)
    assert first.status == "paid" and second.status == "already_paid"
    assert second.payment_id == first.payment_id
    assert len(session.exec(select(SandboxCharge)).all()) == 1
    assert len(session.exec(select(Payment)).all()) == 1
    receipt = session.exec(select(Receipt)).one()
    assert (receipt.number, receipt.amount, receipt.card_last4) == (1, 1500, "4242")
    assert invoices.receipts_for(session, customer.id, invoice.id) == [receipt]
    mail = session.exec(select(OutboxEmail).where(OutboxEmail.kind == "receipt")).one()
    assert "$15.00" in mail.body


def test_declined_payment_keeps_invoice_open_and_retry_uses_new_key(
    session, clock, gateway, customer
):
    declining = factories.add_gateway_card(session, clock, gateway, customer, "4000000000000341")
    invoice = factories.finalized_invoice(session, clock, customer)
    outcome = _pay_with(session, clock, gateway, customer, invoice, declining)
    assert outcome.status == "failed" and "declined" in outcome.message.lower()
    assert invoice.status == "open"
    good = factories.add_gateway_card(session, clock, gateway, customer, "5555555555554444")
    outcome = _pay_with(session, clock, gateway, customer, invoice, good)
    assert outcome.status == "paid"
    keys = sorted(p.idempotency_key for p in session.exec(select(Payment)))
    assert keys == [f"inv_{invoice.id}_attempt_1", f"inv_{invoice.id}_attempt_2"]


def test_pay_is_scoped_to_the_customer(session, clock, gateway, catalog, customer, card):
    invoice = factories.finalized_invoice(session, clock, customer)
    other = factories.make_customer(session, clock, catalog.merchant, "eve@example.com")
    other_card = factories.add_gateway_card(session, clock, gateway, other)
    with pytest.raises(NotFound):
        _pay_with(session, clock, gateway, other, invoice, other_card)
    with pytest.raises(NotFound):  # someone else's card cannot pay my invoice
        _pay_with(session, clock, gateway, customer, invoice, other_card)
    assert session.exec(select(SandboxCharge)).all() == []


def test_pay_refused_when_feature_off(session, clock, gateway, catalog, customer, card):
    invoice = factories.finalized_invoice(session, clock, customer)
    features.save(session, clock, catalog.merchant.id, {"invoices.pay": False}, SYSTEM)
    with pytest.raises(FeatureDisabled):
        factories.pay_invoice(session, clock, gateway, customer, invoice, actor=ACTOR)


def _race(engine, count, work):
    barrier = threading.Barrier(count)
    errors = []

    def run(_index, _work):
        try:
            barrier.wait()
            with Session(engine, expire_on_commit=False) as session:
                work(session)
                session.commit()
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)

    factories.run_threads(run, [None] * count, timeout=60)
    return errors


# Fifty concurrent pays on separate connections: tests/unit/test_concurrency.py.


def test_concurrent_finalizations_stay_gapless(engine, session, clock, customer):
    drafts = []
    for _ in range(12):
        drafts.append(
            factories.draft_invoice(session, clock, customer, [LineSpec("manual", "x", 100)]).id
        )
    session.commit()
    queue = list(drafts)
    lock = threading.Lock()

    def finalize_one(s):
        with lock:
            invoice_id = queue.pop()
        invoices.finalize(s, clock, s.get(Invoice, invoice_id), SYSTEM)

    assert _race(engine, 12, finalize_one) == []
    with Session(engine) as check:
        numbers = sorted(i.number for i in check.exec(select(Invoice)))
    assert numbers == list(range(1, 13))


def test_rolled_back_finalization_returns_its_number(engine, session, clock, customer):
    factories.finalized_invoice(session, clock, customer)
    session.commit()
    draft = factories.finalized_invoice(session, clock, customer, [LineSpec("manual", "x", 100)])
    assert draft.number == 2
    session.rollback()
    assert factories.finalized_invoice(session, clock, customer).number == 2


def test_database_refuses_money_changes_on_finalized_invoices(session, clock, customer):
    import sqlalchemy as sa

    draft = factories.draft_invoice(session, clock, customer, [LineSpec("manual", "x", 100)])
    session.execute(sa.update(Invoice).where(Invoice.id == draft.id).values(total=150))
    final = factories.finalized_invoice(session, clock, customer)
    session.commit()
    with pytest.raises(sa.exc.DatabaseError, match="finalized invoice"):
        session.execute(sa.update(Invoice).where(Invoice.id == final.id).values(total=1))
    session.rollback()
    session.execute(  # status changes stay possible (paid, void, uncollectible)
        sa.update(Invoice).where(Invoice.id == final.id).values(status="void")
    )
