"""Refunds from the dashboard on both gateways: full or partial with a reason, a credit note
numbered per merchant, never beyond the payment, once per request however often it is sent;
the customer sees it on the invoice, the receipt and in a mail."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from portal_app.models import CreditNote, OutboxEmail, Receipt
from portal_app.services import audit, invoices_view, refunds
from portal_app.services.documents.facts import receipt_document
from portal_app.services.errors import NotFound, PaymentError
from portal_app.services.features import load as load_features
from tests import factories

STAFF = audit.Actor("merchant", "1")


def _paid(session, clock, customer, contract, amount=5000):
    return factories.paid_with_a_new_card(session, clock, contract, customer, amount)


def _refund(session, clock, contract, payment, amount, key="request-0001", reason="duplicate"):
    return refunds.refund_payment(
        session,
        clock,
        contract.gateway,
        merchant_id=payment.merchant_id,
        payment_id=payment.id,
        amount=amount,
        reason=reason,
        memo="Charged twice",
        request_key=key,
        actor=STAFF,
    )


def test_partial_refunds_up_to_the_payment_with_credit_notes(session, clock, customer, contract):
    invoice, payment = _paid(session, clock, customer, contract)
    first = _refund(session, clock, contract, payment, 2000, key="request-0001")
    assert (refunds.credit_note_number(first), first.amount, first.currency) == (
        "CN-000001",
        2000,
        "USD",
    )
    assert first.gateway_refund_id
    second = _refund(session, clock, contract, payment, 3000, key="request-0002")
    assert refunds.credit_note_number(second) == "CN-000002"
    with pytest.raises(PaymentError) as refused:
        _refund(session, clock, contract, payment, 1, key="request-0003")
    assert str(refused.value) == "At most $0.00 is left to refund of this payment."
    assert refunds.refunded_of(session, payment.id) == 5000
    assert len(session.exec(select(CreditNote)).all()) == 2
    mails = session.exec(select(OutboxEmail).where(OutboxEmail.subject.startswith("Refund"))).all()
    assert len(mails) == 2 and "CN-000001" in mails[0].body
    events = factories.audit_events(session, "payment.refund")
    assert [e.after["credit_note"] for e in events] == ["CN-000001", "CN-000002"]

    # What the customer sees: the invoice's page and the receipt.
    detail = invoices_view.invoice_detail(
        session, clock, customer_id=customer.id, invoice_id=invoice.id
    )
    assert detail.refunds[0].startswith("CN-000001 · -$20.00 · ")
    assert detail.refunds[1].endswith("Duplicate payment")
    receipt = session.exec(select(Receipt).where(Receipt.invoice_id == invoice.id)).one()
    doc = receipt_document(session, receipt, invoice, load_features(session, invoice.merchant_id))
    assert [t[:2] for t in doc.totals][-1] == ("Net paid", "$0.00")
    assert any(label.startswith("Refunded, CN-000002") for label, _, _ in doc.totals)


def test_the_same_request_twice_refunds_once(session, clock, customer, contract):
    _, payment = _paid(session, clock, customer, contract)
    first = _refund(session, clock, contract, payment, 1500, key="double-click-1")
    again = _refund(session, clock, contract, payment, 1500, key="double-click-1")
    assert again.id == first.id
    assert refunds.refunded_of(session, payment.id) == 1500
    # The gateway gave back 1,500 once: 3,500 is still there to refund.
    rest = _refund(session, clock, contract, payment, 3500, key="the-rest-01")
    assert rest.amount == 3500


def test_bad_requests_change_nothing(session, clock, catalog, customer, contract):
    _, payment = _paid(session, clock, customer, contract)
    for kwargs, error in [
        ({"amount": 0}, "The amount to refund must be more than zero."),
        ({"amount": 5001}, "At most $50.00 is left to refund of this payment."),
        ({"amount": 100, "reason": "because"}, "Choose a reason for the refund."),
        (
            {"amount": 100, "key": "x"},
            "The refund form is out of date. Reload the page and try again.",
        ),
    ]:
        with pytest.raises(PaymentError) as refused:
            _refund(session, clock, contract, payment, **kwargs)
        assert str(refused.value) == error
    other = factories.make_catalog(session, clock, slug="other")
    with pytest.raises(NotFound):
        refunds.refund_payment(
            session,
            clock,
            contract.gateway,
            merchant_id=other.merchant.id,
            payment_id=payment.id,
            amount=100,
            reason="other",
            request_key="request-0009",
            actor=STAFF,
        )
    assert session.exec(select(CreditNote)).all() == []
    assert factories.audit_events(session, "payment.refund") == []


def test_a_failed_payment_cannot_be_refunded(session, clock, customer, gateway):
    card = factories.add_gateway_card(session, clock, gateway, customer, "4000000000000341")
    invoice = factories.finalized_invoice(session, clock, customer, amount=900)
    factories.pay_invoice(session, clock, gateway, customer, invoice, card=card)
    payment = factories.payment_of(session, invoice)
    with pytest.raises(PaymentError, match="Only a succeeded payment"):
        refunds.refund_payment(
            session,
            clock,
            gateway,
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            amount=100,
            reason="other",
            request_key="request-0001",
            actor=STAFF,
        )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=12))
def test_typed_amounts_parse_to_whole_minor_units_or_refuse(text):
    try:
        amount = refunds.parse_amount(text, "USD")
    except PaymentError:
        return
    assert isinstance(amount, int) and amount > 0
    assert refunds.parse_amount(f"{amount // 100}.{amount % 100:02d}", "USD") == amount


def test_typed_amounts():
    assert refunds.parse_amount("12.50", "USD") == 1250
    assert refunds.parse_amount("1200", "JPY") == 1200
    for bad in ("", "abc", "-1", "0", "1.005", "NaN"):
        with pytest.raises(PaymentError):
            refunds.parse_amount(bad, "USD")
