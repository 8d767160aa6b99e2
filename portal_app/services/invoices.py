"""Invoices: drafts, gapless numbering at finalization, immutability after it, idempotent payment
and receipts. Money columns of a finalized invoice never change; corrections are void + new."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from portal_app.clock import Clock, ensure_utc
from portal_app.db import insert_ignore
from portal_app.models import (
    Customer,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    Receipt,
)
from portal_app.money import format_money
from portal_app.services import audit, bill_to, mailer, payment_methods, queries
from portal_app.services.errors import InvoiceError, NotFound, PaymentError
from portal_app.services.features import require_feature
from portal_app.services.gateway import PaymentGateway


@dataclass(frozen=True)
class LineSpec:
    kind: str
    description: str
    amount: int
    period_start: datetime | None = None
    period_end: datetime | None = None


def create_draft(
    session: Session,
    clock: Clock,
    *,
    customer: Customer,
    currency: str,
    lines: list[LineSpec],
    billing_reason: str,
    subscription_id: int | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    apply_credit: bool = True,
) -> Invoice:
    """A draft whose total is the sum of its lines. Customer credit is spent as its own line."""
    if not lines:
        raise InvoiceError("An invoice needs at least one line.")
    if any(type(line.amount) is not int for line in lines):
        raise TypeError("invoice line amounts must be int minor units")
    lines = list(lines)
    subtotal = sum(line.amount for line in lines)
    if apply_credit and customer.credit_balance > 0 and subtotal > 0:
        used = min(customer.credit_balance, subtotal)
        customer.credit_balance -= used
        session.add(customer)
        lines.append(LineSpec("credit", "Applied account credit", -used))
    invoice = Invoice(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        subscription_id=subscription_id,
        billing_reason=billing_reason,
        currency=currency,
        total=sum(line.amount for line in lines),
        period_start=period_start,
        period_end=period_end,
        created_at=clock.now(),
    )
    session.add(invoice)
    session.flush()
    session.add_all(
        InvoiceLine(
            invoice_id=invoice.id,
            position=position,
            kind=line.kind,
            description=line.description,
            amount=line.amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for position, line in enumerate(lines)
    )
    session.flush()
    return invoice


def finalize(session: Session, clock: Clock, invoice: Invoice, actor: audit.Actor) -> Invoice:
    """Draft → open (or paid when nothing is due), taking the merchant's next number in this
    transaction: the counter row stays locked until commit and a rollback returns the number."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvoiceError("Only a draft invoice can be finalized.")
    if invoice.total < 0:
        raise InvoiceError("An invoice total cannot be negative.")
    with audit.changing(session, clock, invoice, actor=actor, action="invoice.finalize") as change:
        invoice.number = next_number(session, invoice.merchant_id, "invoice")
        # Frozen from here on with the money: a later profile change never rewrites this invoice.
        invoice.bill_to = bill_to.snapshot_for(session, invoice.customer_id, invoice.merchant_id)
        now = clock.now()
        invoice.finalized_at = now
        invoice.due_at = now
        if invoice.total == 0:
            invoice.status = InvoiceStatus.PAID
            invoice.paid_at = now
        else:
            invoice.status = InvoiceStatus.OPEN
        change.after = {"number": invoice.number, "total": invoice.total, "status": invoice.status}
    return invoice


def next_number(session: Session, merchant_id: int, kind: str, count: int = 1) -> int:
    """Reserve `count` consecutive numbers and return the first. The UPDATE keeps the counter row
    locked until commit, and a rollback gives the numbers back, so there are never gaps."""
    column = {
        "invoice": InvoiceCounter.last_invoice_number,
        "receipt": InvoiceCounter.last_receipt_number,
        "credit_note": InvoiceCounter.last_credit_note_number,
    }[kind]
    bump = (
        sa.update(InvoiceCounter)
        .where(InvoiceCounter.merchant_id == merchant_id)
        .values({column: column + count})
        .returning(column)
    )
    row = session.execute(bump).first()
    if row is None:
        insert_ignore(session, InvoiceCounter, merchant_id=merchant_id)
        row = session.execute(bump).first()
    return row[0] - count + 1


def display_number(invoice: Invoice) -> str:
    return number_label(invoice.id, invoice.number)


def number_label(invoice_id: int, number: int | None) -> str:
    return f"INV-{number:06d}" if number else f"DRAFT-{invoice_id}"


def get_for_customer(session: Session, customer_id: int, invoice_id: int) -> Invoice:
    """Scope an id that came from a browser to its owner; someone else's invoice is 'not found'."""
    invoice = queries.find_for_customer(session, Invoice, customer_id, invoice_id)
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        raise NotFound("Invoice not found.")
    return invoice


def lines_of(session: Session, invoice_id: int) -> list[InvoiceLine]:
    return list(
        session.exec(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position)
        )
    )


def void(session: Session, clock: Clock, invoice: Invoice, actor: audit.Actor) -> Invoice:
    if invoice.status != InvoiceStatus.OPEN:
        raise InvoiceError("Only an open invoice can be voided.")
    with audit.changing(
        session, clock, invoice, actor=actor, action="invoice.void", snapshot=_status
    ):
        invoice.status = InvoiceStatus.VOID
        invoice.voided_at = clock.now()
        invoice.next_retry_at = None
    return invoice


def _status(invoice: Invoice) -> dict:
    return {"status": invoice.status}


def void_and_replace(
    session: Session, clock: Clock, invoice: Invoice, lines: list[LineSpec], actor: audit.Actor
) -> Invoice:
    """The only way to correct a finalized invoice: void it and issue a new one pointing back."""
    void(session, clock, invoice, actor)
    customer = session.get(Customer, invoice.customer_id)
    replacement = create_draft(
        session,
        clock,
        customer=customer,
        currency=invoice.currency,
        lines=lines,
        billing_reason=invoice.billing_reason,
        subscription_id=invoice.subscription_id,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        apply_credit=False,
    )
    replacement.replaces_invoice_id = invoice.id
    return finalize(session, clock, replacement, actor)


# --- idempotency keys ----------------------------------------------------------------------------
#
# A gateway charges once per idempotency key. The sandbox keeps its ledger in our transaction, so a
# worker that dies before COMMIT rolls the charge back with everything else; a real gateway charges
# outside it. If the key named a row created in the same transaction (the renewal's invoice id),
# the re-run after such a crash would create the row again under another id (PostgreSQL never
# reuses a sequence value; SQLite may hand the old id to another row), send another key and charge
# the customer a second time. So a charge
# made in the transaction that creates its invoice is keyed by what it pays for, which a rollback
# leaves exactly as it was; a charge of an invoice that already exists is keyed by that invoice.


def charge_key(obligation: str, attempt: int) -> str:
    return f"{obligation}_attempt_{attempt}"


def invoice_obligation(invoice_id: int) -> str:
    """An invoice that was committed before it is charged (manual invoices, dunning retries,
    a customer paying an open invoice): its id is stable and never reused."""
    return f"inv_{invoice_id}"


def renewal_obligation(subscription_id: int, period_start: datetime) -> str:
    """The renewal of one subscription for the period starting at `period_start` (the end of the
    period it follows). A renewal that was rolled back leaves the subscription's period where it
    was, so the re-run renews the same period under the same key, in the one-by-one path
    (billing_clock) and the bulk path (renewals) alike; each period is renewed at most once."""
    return f"sub_{subscription_id}_period_{int(ensure_utc(period_start).timestamp())}"


def version_obligation(subscription_id: int, version: int) -> str:
    """A charge that moves an existing subscription to `version` (an immediate plan change, a
    restart), made after the optimistic claim `version - 1 → version`. Only one transaction can
    commit that claim, so one key stands for one committed change; a crash before COMMIT leaves
    the version unclaimed, and trying again sends the same key. The amount is not in the key (a
    key that followed it would charge again): a retry whose proration, recomputed to the second,
    differs is refused by the gateway (key reused with other parameters) rather than charged
    twice, and the lost charge is for the merchant to refund."""
    return f"sub_{subscription_id}_version_{version}"


@dataclass(frozen=True)
class PaymentOutcome:
    status: str  # paid | already_paid | failed | action_required
    invoice_id: int
    payment_id: int | None = None
    message: str = ""
    retryable: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status in ("paid", "already_paid")


def pay(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    invoice_id: int,
    payment_method_id: int | None,
    actor: audit.Actor,
) -> PaymentOutcome:
    """A customer pays an open invoice. Doubled or retried requests charge once: the conditional
    UPDATE below lets exactly one transaction at a time through, and a paid invoice answers
    'already paid' with the first payment."""
    invoice = get_for_customer(session, customer_id, invoice_id)
    require_feature(session, invoice.merchant_id, "invoices.pay")
    if payment_method_id is None:
        card = payment_methods.default_card(session, customer_id)
        if card is None:
            raise PaymentError("Add a card to pay this invoice.")
    else:
        card = queries.get_for_customer(
            session, PaymentMethod, customer_id, payment_method_id, "Card"
        )
    return collect(session, clock, gateway, invoice, card, actor)


def collect(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    invoice: Invoice,
    card: PaymentMethod | None,
    actor: audit.Actor,
    *,
    obligation: str | None = None,
) -> PaymentOutcome:
    """Charge an open invoice once. Used by customers (pay) and by the billing clock.

    `obligation` names what is being paid for when the invoice is created and charged in one
    transaction (renewals, plan changes): see `charge_key`. Without it the invoice's id does."""
    claimed = session.execute(
        sa.update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.status == InvoiceStatus.OPEN)
        .values(attempt_count=Invoice.attempt_count + 1)
        .returning(Invoice.attempt_count)
        .execution_options(synchronize_session=False)
    ).first()
    session.refresh(invoice)
    if claimed is None:
        if invoice.status == InvoiceStatus.PAID:
            first = session.exec(
                select(Payment).where(
                    Payment.invoice_id == invoice.id, Payment.status == "succeeded"
                )
            ).first()
            return PaymentOutcome(
                "already_paid",
                invoice.id,
                first.id if first else None,
                "This invoice is already paid.",
            )
        raise InvoiceError(f"This invoice is {invoice.status} and cannot be paid.")
    attempt = claimed[0]
    key = charge_key(obligation or invoice_obligation(invoice.id), attempt)
    if card is None:
        return _record_failure(
            session, clock, invoice, None, key, attempt, "no_card", "No card on file.", False, actor
        )
    on_session = actor.type == "customer"
    result = gateway.charge(
        session,
        clock,
        token=card.gateway_token,
        amount=invoice.amount_due,
        currency=invoice.currency,
        idempotency_key=key,
        off_session=not on_session,
    )
    if not result.succeeded:
        outcome = _record_failure(
            session,
            clock,
            invoice,
            card,
            key,
            attempt,
            result.failure_code or "declined",
            result.failure_message or "Your card was declined.",
            result.retryable,
            actor,
            charge_id=result.charge_id or None,
        )
        if not result.requires_action:
            return outcome
        if not on_session:  # the customer is not here: a mail asks them to confirm it
            subject, body = failure_mail(invoice, "authentication_required")
            mailer.queue(
                session,
                clock,
                customer=session.get(Customer, invoice.customer_id),
                kind="invoice_reminder",
                subject=subject,
                body=body,
            )
        return replace(outcome, status="action_required")
    return record_paid(session, clock, invoice, card, key, result.charge_id, actor)


def record_paid(
    session: Session,
    clock: Clock,
    invoice: Invoice,
    card: PaymentMethod,
    key: str,
    charge_id: str,
    actor: audit.Actor,
) -> PaymentOutcome:
    """A charge the gateway made for an open invoice the caller claimed: the payment, the
    invoice paid, its receipt and the receipt mail."""
    now = clock.now()
    with audit.changing(
        session, clock, invoice, actor=actor, action="invoice.paid", snapshot=_status
    ) as change:
        payment = Payment(
            merchant_id=invoice.merchant_id,
            customer_id=invoice.customer_id,
            invoice_id=invoice.id,
            payment_method_id=card.id,
            amount=invoice.amount_due,
            currency=invoice.currency,
            status="succeeded",
            gateway_charge_id=charge_id,
            idempotency_key=key,
            created_at=now,
        )
        session.add(payment)
        invoice.amount_paid = invoice.total
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = now
        invoice.next_retry_at = None
        session.flush()
        receipt = Receipt(
            merchant_id=invoice.merchant_id,
            payment_id=payment.id,
            invoice_id=invoice.id,
            number=next_number(session, invoice.merchant_id, "receipt"),
            amount=payment.amount,
            currency=payment.currency,
            card_brand=card.brand,
            card_last4=card.last4,
            created_at=now,
            bill_to=bill_to.snapshot_for(session, invoice.customer_id, invoice.merchant_id),
        )
        session.add(receipt)
        session.flush()
        change.extra.update(
            amount=payment.amount, payment_id=payment.id, card=f"{card.brand} {card.last4}"
        )
    customer = session.get(Customer, invoice.customer_id)
    mailer.queue(
        session,
        clock,
        customer=customer,
        kind="receipt",
        subject=f"Receipt for {display_number(invoice)}",
        body=(
            f"We received {format_money(payment.amount, payment.currency)} for "
            f"{display_number(invoice)}, charged to {card.brand} ending {card.last4}."
        ),
    )
    return PaymentOutcome("paid", invoice.id, payment.id, "Payment received. Thank you!")


def failure_mail(invoice: Invoice, code: str | None) -> tuple[str, str]:
    return failure_mail_for(
        invoice.id, display_number(invoice), invoice.amount_due, invoice.currency, code
    )


def failure_mail_for(
    invoice_id: int, label: str, amount_due: int, currency: str, code: str | None
) -> tuple[str, str]:
    """Subject and body of the mail after a charge of `invoice` failed off-session (renewals,
    retries): a request to confirm the payment when the bank asks for 3-D Secure, with the link
    to the invoice's page, where the portal runs the confirmation; else a plain failure."""
    amount = format_money(amount_due, currency)
    if code == "authentication_required":
        from portal_app import routes
        from portal_app.config import load_settings

        link = load_settings().public_url.rstrip("/") + routes.invoice(invoice_id)
        return (
            f"Confirm your payment for {label}",
            f"Your bank asks you to confirm the payment of {amount} for {label}. "
            f'Open {link} and press "Confirm payment".',
        )
    return (
        f"Payment failed for {label}",
        f"We could not charge {amount}. Please update your card or pay the invoice in your "
        "billing portal.",
    )


def _record_failure(
    session: Session,
    clock: Clock,
    invoice: Invoice,
    card: PaymentMethod | None,
    key: str,
    attempt: int,
    code: str,
    message: str,
    retryable: bool,
    actor: audit.Actor,
    charge_id: str | None = None,
) -> PaymentOutcome:
    payment = Payment(
        merchant_id=invoice.merchant_id,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        payment_method_id=card.id if card else None,
        amount=invoice.amount_due,
        currency=invoice.currency,
        status="failed",
        gateway_charge_id=charge_id,
        idempotency_key=key,
        failure_code=code,
        failure_message=message[:300],
        created_at=clock.now(),
    )
    session.add(payment)
    session.flush()
    audit.record_about(
        session,
        clock,
        invoice,
        "invoice",
        actor=actor,
        action="invoice.payment_failed",
        after={"attempt": attempt, "code": code},
        result="failed",
    )
    return PaymentOutcome("failed", invoice.id, payment.id, message, retryable)


def receipts_for(session: Session, customer_id: int, invoice_id: int) -> list[Receipt]:
    invoice = get_for_customer(session, customer_id, invoice_id)
    require_feature(session, invoice.merchant_id, "invoices.receipts")
    return list(session.exec(select(Receipt).where(Receipt.invoice_id == invoice.id)))


# --- immutability guard -------------------------------------------------------------------------


def _frozen(message: str) -> InvoiceError:
    return InvoiceError(message, code="frozen")


_FROZEN_INVOICE_FIELDS = ("total", "currency", "number", "customer_id", "merchant_id", "bill_to")
_FROZEN_RECEIPT_FIELDS = ("amount", "currency", "number", "invoice_id", "bill_to")


@event.listens_for(OrmSession, "before_flush")
def _refuse_changes_to_finalized_invoices(session, _flush_context, _instances):
    """Last line of defence: no code path may edit the money of a finalized invoice."""
    for obj in session.dirty:
        if isinstance(obj, Invoice):
            state = sa.inspect(obj)
            status_history = state.attrs.status.history
            was = status_history.deleted[0] if status_history.deleted else obj.status
            if was == InvoiceStatus.DRAFT:
                continue
            for name in _FROZEN_INVOICE_FIELDS:
                history = state.attrs[name].history
                if history.deleted and history.added and history.deleted != history.added:
                    raise _frozen("A finalized invoice cannot be changed.")
        elif isinstance(obj, InvoiceLine) and _invoice_is_final(session, obj.invoice_id):
            raise _frozen("A finalized invoice cannot be changed.")
        elif isinstance(obj, Receipt) and _changed(sa.inspect(obj), _FROZEN_RECEIPT_FIELDS):
            raise _frozen("An issued receipt cannot be changed.")
    for obj in list(session.new) + list(session.deleted):
        if isinstance(obj, InvoiceLine) and _invoice_is_final(session, obj.invoice_id):
            raise _frozen("A finalized invoice cannot be changed.")


def _changed(state, names) -> bool:
    for name in names:
        history = state.attrs[name].history
        if history.deleted and history.added and history.deleted != history.added:
            return True
    return False


def _invoice_is_final(session, invoice_id: int | None) -> bool:
    if invoice_id is None:
        return False
    invoice = session.get(Invoice, invoice_id)
    return invoice is not None and invoice.status != InvoiceStatus.DRAFT
