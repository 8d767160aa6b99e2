"""Payments that wait for the customer: the bank asked for 3-D Secure, so a charge of an open
invoice came back `requires_action` (invoices.collect recorded it as a failed payment with code
`authentication_required` and the charge's id). The customer confirms it on the invoice's page
(Stripe.js with Stripe; the sandbox's own dialog otherwise), and the result is settled here, as
it is when Stripe's webhook says so first (services/stripe_events.py). Whichever comes first pays
the invoice; the other finds it paid and changes nothing. A confirmation that succeeds after the
invoice was paid another way is refunded at once, so it never counts twice."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Invoice, InvoiceStatus, Payment, PaymentMethod
from portal_app.services import audit, invoices
from portal_app.services.errors import InvoiceError, PaymentError
from portal_app.services.features import require_feature
from portal_app.services.gateway import PaymentConfirmation, PaymentGateway
from portal_app.services.invoices import PaymentOutcome

WAITING = "authentication_required"


def waiting_payment(session: Session, invoice: Invoice) -> Payment | None:
    """The invoice's newest attempt, when it waits for the customer to confirm it."""
    if invoice.status != InvoiceStatus.OPEN:
        return None
    newest = session.exec(
        select(Payment)
        .where(Payment.invoice_id == invoice.id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
    ).first()
    if newest is None or newest.failure_code != WAITING or not newest.gateway_charge_id:
        return None
    return newest


def start_confirmation(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    invoice_id: int,
) -> PaymentConfirmation:
    """The charge the customer is asked to confirm on their invoice's page."""
    invoice = invoices.get_for_customer(session, customer_id, invoice_id)
    require_feature(session, invoice.merchant_id, "invoices.pay")
    payment = waiting_payment(session, invoice)
    if payment is None:
        raise InvoiceError("This invoice has no payment to confirm.", code="nothing_to_confirm")
    return gateway.confirmation(session, clock, payment.gateway_charge_id)


def finish_confirmation(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    invoice_id: int,
    approved: bool | None = None,
    actor: audit.Actor,
) -> PaymentOutcome:
    """After the customer answered their bank: settle the waiting charge from what the gateway
    says now. `approved` is the sandbox dialog's answer (the sandbox is the bank); Stripe's
    answer comes from Stripe, whatever the browser claims."""
    invoice = invoices.get_for_customer(session, customer_id, invoice_id)
    require_feature(session, invoice.merchant_id, "invoices.pay")
    payment = waiting_payment(session, invoice)
    if payment is None:
        if invoice.status == InvoiceStatus.PAID:
            return PaymentOutcome("already_paid", invoice.id, None, "This invoice is already paid.")
        raise InvoiceError("This invoice has no payment to confirm.", code="nothing_to_confirm")
    authenticate = getattr(gateway, "authenticate", None)
    if approved is not None and authenticate is not None:
        authenticate(session, clock, payment.gateway_charge_id, bool(approved))
    outcome = settle(session, clock, gateway, charge_id=payment.gateway_charge_id, actor=actor)
    return outcome or PaymentOutcome(
        "action_required", invoice.id, payment.id, "The payment still waits for your bank."
    )


def settle(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    charge_id: str,
    actor: audit.Actor,
) -> PaymentOutcome | None:
    """Settle a charge that waited for 3-D Secure, from the gateway's own answer: paid, declined,
    or (None) still waiting or not ours. Safe to call any number of times, in any order."""
    waiting = session.exec(
        select(Payment).where(
            Payment.gateway_charge_id == charge_id, Payment.failure_code == WAITING
        )
    ).first()
    if waiting is None:
        return None
    result = gateway.charge_status(session, clock, charge_id)
    if result.requires_action:
        return None
    key = f"{waiting.idempotency_key}_confirmed"
    if session.exec(select(Payment.id).where(Payment.idempotency_key == key)).first():
        return None  # settled before
    invoice = session.get(Invoice, waiting.invoice_id)
    card = (
        session.get(PaymentMethod, waiting.payment_method_id) if waiting.payment_method_id else None
    )
    # One settlement at a time: the row lock (PostgreSQL) or the write lock (SQLite) lets one
    # transaction through; the next sees the invoice paid or the settlement recorded.
    claimed = session.execute(
        sa.update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.status == InvoiceStatus.OPEN)
        .values(attempt_count=Invoice.attempt_count)
        .returning(Invoice.attempt_count)
        .execution_options(synchronize_session=False)
    ).first()
    session.refresh(invoice)
    if claimed is None or card is None:
        if result.succeeded:
            # Paid another way meanwhile (or the card is gone): this money is not owed.
            refund = gateway.refund(
                session,
                clock,
                charge_id=charge_id,
                amount=waiting.amount,
                idempotency_key=f"{key}_unneeded",
            )
            _record(session, clock, waiting, key, "refunded", refund.refund_id, actor)
        else:
            _record(session, clock, waiting, key, result.failure_code or "declined", None, actor)
        return None
    if not result.succeeded:
        _record(session, clock, waiting, key, result.failure_code or "declined", None, actor)
        return PaymentOutcome(
            "failed", invoice.id, None, result.failure_message or "Your card was declined."
        )
    return invoices.record_paid(session, clock, invoice, card, key, charge_id, actor)


def _record(
    session: Session,
    clock: Clock,
    waiting: Payment,
    key: str,
    code: str,
    reference: str | None,
    actor: audit.Actor,
) -> None:
    """A settlement that paid nothing: a failed payment row under the settlement's key, so the
    same settlement is never made twice."""
    if code == WAITING:
        raise PaymentError("The payment still waits for the bank.")
    session.add(
        Payment(
            merchant_id=waiting.merchant_id,
            customer_id=waiting.customer_id,
            invoice_id=waiting.invoice_id,
            payment_method_id=waiting.payment_method_id,
            amount=waiting.amount,
            currency=waiting.currency,
            status="failed",
            gateway_charge_id=reference or waiting.gateway_charge_id,
            idempotency_key=key,
            failure_code=code,
            failure_message=(
                "Confirmed after the invoice was paid; refunded."
                if code == "refunded"
                else "The payment was not confirmed with the bank."
            ),
            created_at=clock.now(),
        )
    )
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=waiting.merchant_id,
        actor=actor,
        action="invoice.payment_failed",
        target_type="invoice",
        target_id=waiting.invoice_id,
        customer_id=waiting.customer_id,
        after={"code": code, "charge": waiting.gateway_charge_id},
        result="failed",
    )
