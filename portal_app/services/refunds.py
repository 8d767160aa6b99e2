"""Refunds of invoice payments from the dashboard: full or partial, with a reason. The gateway
gives the money back (the sandbox's ledger or a Stripe refund) and a credit note records it on
our side, numbered CN-000001 per merchant; the customer sees it on the invoice's page, the
receipt PDF and in a mail. A payment is never refunded beyond what it was.

Each refund request carries a key from the form that sent it (`request_key`): the gateway's
idempotency key and the credit note's unique (payment, key) follow it, so a double click or a
retried request refunds once and answers with the first credit note. The payment's row is
locked while its refunds are summed (PostgreSQL; SQLite serialises writers), so two different
requests at once can't pass the limit together."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import CreditNote, Customer, Invoice, Payment
from portal_app.money import format_money, parse_major_amount
from portal_app.services import audit, invoices, mailer
from portal_app.services.errors import NotFound, PaymentError
from portal_app.services.gateway import PaymentGateway

REASONS = {
    "requested_by_customer": "Requested by the customer",
    "duplicate": "Duplicate payment",
    "fraudulent": "Fraudulent payment",
    "service_issue": "Problem with the service",
    "other": "Other",
}
MEMO_MAX = 500
_KEY = re.compile(r"[A-Za-z0-9_\-]{8,64}")


class RefundError(PaymentError):
    code = "refund_refused"


def credit_note_number(note: CreditNote) -> str:
    return f"CN-{note.number:06d}"


def refunded_of(session: Session, payment_id: int) -> int:
    """What credit notes gave back of a payment so far (minor units)."""
    total = session.exec(
        select(sa.func.coalesce(sa.func.sum(CreditNote.amount), 0)).where(
            CreditNote.payment_id == payment_id
        )
    ).one()
    return int(total)


def notes_of_invoice(session: Session, invoice_id: int) -> list[CreditNote]:
    return list(
        session.exec(
            select(CreditNote)
            .where(CreditNote.invoice_id == invoice_id)
            .order_by(CreditNote.created_at, CreditNote.id)
        )
    )


def parse_amount(text: object, currency: str) -> int:
    """The amount typed in the refund form ("12.50"), in minor units; a clear refusal else."""
    try:
        amount = parse_major_amount(str(text), currency)
    except ValueError:
        raise RefundError(f"Enter the amount to refund, like 12.50 ({currency}).") from None
    if amount <= 0:
        raise RefundError("The amount to refund must be more than zero.")
    return amount


def refund_payment(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    merchant_id: int,
    payment_id: int,
    amount: int | str,
    reason: str,
    memo: str = "",
    request_key: str,
    actor: audit.Actor,
) -> CreditNote:
    """Give back `amount` (minor units, or as typed in the form: "12.50") of a succeeded payment
    of this merchant and write its credit note."""
    if isinstance(payment_id, bool) or not isinstance(payment_id, int):
        raise NotFound("Payment not found.")
    if not isinstance(request_key, str) or not _KEY.fullmatch(request_key):
        raise RefundError("The refund form is out of date. Reload the page and try again.")
    payment = session.exec(
        select(Payment)
        .where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
        .with_for_update()
    ).first()
    if payment is None:
        raise NotFound("Payment not found.")
    earlier = session.exec(
        select(CreditNote).where(
            CreditNote.payment_id == payment.id, CreditNote.request_key == request_key
        )
    ).first()
    if earlier is not None:
        return earlier  # the same request again
    if payment.status != "succeeded" or not payment.gateway_charge_id:
        raise RefundError("Only a succeeded payment can be refunded.")
    if reason not in REASONS:
        raise RefundError("Choose a reason for the refund.")
    if isinstance(amount, str):
        amount = parse_amount(amount, payment.currency)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise RefundError("The amount to refund must be more than zero.")
    memo = str(memo or "").strip()
    if len(memo) > MEMO_MAX:
        raise RefundError(f"The note is longer than {MEMO_MAX} characters.")
    left = payment.amount - refunded_of(session, payment.id)
    if amount > left:
        raise RefundError(
            f"At most {format_money(left, payment.currency)} is left to refund of this payment."
        )
    result = gateway.refund(
        session,
        clock,
        charge_id=payment.gateway_charge_id,
        amount=amount,
        idempotency_key=f"payment_{payment.id}_refund_{request_key}",
    )
    if not result.succeeded:
        raise RefundError(result.failure_message or "The payment service refused the refund.")
    note = CreditNote(
        merchant_id=payment.merchant_id,
        customer_id=payment.customer_id,
        invoice_id=payment.invoice_id,
        payment_id=payment.id,
        number=invoices.next_number(session, payment.merchant_id, "credit_note"),
        amount=amount,
        currency=payment.currency,
        reason=reason,
        memo=memo,
        request_key=request_key,
        gateway_refund_id=result.refund_id[:64],
        created_at=clock.now(),
    )
    session.add(note)
    session.flush()
    invoice = session.get(Invoice, payment.invoice_id)
    label = invoices.display_number(invoice)
    audit.record_about(
        session,
        clock,
        payment,
        "payment",
        actor=actor,
        action="payment.refund",
        after={
            "credit_note": credit_note_number(note),
            "amount": amount,
            "currency": payment.currency,
            "reason": reason,
            "invoice": label,
            "refunded_total": payment.amount - left + amount,
        },
    )
    mailer.queue(
        session,
        clock,
        customer=session.get(Customer, payment.customer_id),
        kind="receipt",
        subject=f"Refund for {label}",
        body=(
            f"We refunded {format_money(amount, payment.currency)} of your payment for {label} "
            f"(credit note {credit_note_number(note)}). It reaches your card in 5-10 days."
        ),
    )
    return note
