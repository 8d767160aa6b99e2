"""3-D Secure on both gateways: an off-session charge that the bank wants confirmed leaves the
invoice open and mails the customer a link; confirming on the invoice's page pays it once, a
refused confirmation is a decline, and a late confirmation of an invoice paid meanwhile is given
back. Settling twice (the browser and Stripe's webhook) pays once."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_app.models import InvoiceStatus, OutboxEmail, Payment, Receipt
from portal_app.services import audit, invoices, payment_actions
from portal_app.services.errors import InvoiceError
from tests import factories
from tests.gateways import THREE_D_SECURE, VISA


def _waiting_invoice(session, clock, customer, contract):
    card = contract.add_card(session, clock, customer, THREE_D_SECURE)
    invoice = factories.finalized_invoice(session, clock, customer, amount=2500)
    outcome = invoices.collect(session, clock, contract.gateway, invoice, card, audit.SYSTEM)
    return invoice, outcome


def _confirm(session, clock, customer, contract, invoice, approve: bool):
    """What the invoice page does: start, the bank's answer, finish."""
    started = _start(session, clock, contract, customer, invoice)
    if contract.js is not None:
        assert started.client_secret.startswith(started.charge_id + "_secret_")
        contract.js.authenticate_payment(started.client_secret, approve)
        approved = None  # Stripe's answer is read from Stripe, not from the browser
    else:
        assert started.client_secret == ""
        approved = approve
    return _finish(session, clock, contract, customer, invoice, approved)


def _start(session, clock, contract, customer, invoice):
    return payment_actions.start_confirmation(
        session, clock, contract.gateway, customer_id=customer.id, invoice_id=invoice.id
    )


def _finish(session, clock, contract, customer, invoice, approved):
    return payment_actions.finish_confirmation(
        session,
        clock,
        contract.gateway,
        customer_id=customer.id,
        invoice_id=invoice.id,
        approved=approved,
        actor=audit.Actor.customer(customer.id),
    )


def test_off_session_authentication_mails_a_link_and_confirming_pays_once(
    session, clock, customer, contract
):
    invoice, outcome = _waiting_invoice(session, clock, customer, contract)
    assert outcome.status == "action_required" and not outcome.succeeded
    session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    mail = session.exec(select(OutboxEmail).where(OutboxEmail.customer_id == customer.id)).all()
    assert [m.subject for m in mail] == [
        f"Confirm your payment for {invoices.display_number(invoice)}"
    ]
    assert f"/invoices/{invoice.id}" in mail[0].body

    paid = _confirm(session, clock, customer, contract, invoice, approve=True)
    assert paid.status == "paid"
    session.refresh(invoice)
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == 2500
    assert len(session.exec(select(Receipt).where(Receipt.invoice_id == invoice.id)).all()) == 1

    again = _finish(session, clock, contract, customer, invoice, approved=None)
    assert again.status == "already_paid"
    charge_id = outcome_charge(session, invoice)
    assert (
        payment_actions.settle(
            session, clock, contract.gateway, charge_id=charge_id, actor=audit.SYSTEM
        )
        is None
    )
    succeeded = session.exec(
        select(Payment).where(Payment.invoice_id == invoice.id, Payment.status == "succeeded")
    ).all()
    assert len(succeeded) == 1 and succeeded[0].gateway_charge_id == charge_id


def outcome_charge(session, invoice) -> str:
    first = session.exec(
        select(Payment).where(
            Payment.invoice_id == invoice.id, Payment.failure_code == "authentication_required"
        )
    ).one()
    return first.gateway_charge_id


def test_a_refused_confirmation_is_a_decline_and_the_invoice_stays_open(
    session, clock, customer, contract
):
    invoice, _ = _waiting_invoice(session, clock, customer, contract)
    declined = _confirm(session, clock, customer, contract, invoice, approve=False)
    assert declined.status == "failed"
    assert declined.message == "We couldn't confirm the payment with your bank. Try again."
    session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert payment_actions.waiting_payment(session, invoice) is None
    with pytest.raises(InvoiceError):
        _start(session, clock, contract, customer, invoice)


def test_a_confirmation_after_the_invoice_was_paid_is_refunded(session, clock, customer, contract):
    invoice, _ = _waiting_invoice(session, clock, customer, contract)
    charge_id = outcome_charge(session, invoice)
    secret = contract.gateway.client_secret(session, clock, charge_id) if contract.js else None
    good = contract.add_card(session, clock, customer, VISA)
    assert factories.pay_invoice(
        session, clock, contract.gateway, customer, invoice, card=good
    ).succeeded
    # The customer confirms the old charge in another tab, after paying.
    if contract.js is not None:
        contract.js.authenticate_payment(secret, True)
    else:
        contract.gateway.authenticate(session, clock, charge_id, True)
    assert (
        payment_actions.settle(
            session, clock, contract.gateway, charge_id=charge_id, actor=audit.SYSTEM
        )
        is None
    )
    rows = session.exec(select(Payment).where(Payment.invoice_id == invoice.id)).all()
    assert sorted(p.failure_code or "paid" for p in rows) == [
        "authentication_required",
        "paid",
        "refunded",
    ]
    with pytest.raises(Exception):  # noqa: B017 - all of it was refunded
        contract.gateway.refund(
            session, clock, charge_id=charge_id, amount=1, idempotency_key="more"
        )


def test_someone_elses_invoice_is_not_found(session, clock, catalog, customer, contract):
    invoice, _ = _waiting_invoice(session, clock, customer, contract)
    other = factories.make_customer(session, clock, catalog.merchant, email="eve@example.com")
    from portal_app.services.errors import NotFound

    with pytest.raises(NotFound):
        _start(session, clock, contract, other, invoice)
    with pytest.raises(NotFound):
        _finish(session, clock, contract, other, invoice, True)
    session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN
