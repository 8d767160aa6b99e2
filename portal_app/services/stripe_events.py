"""Stripe's webhooks in (`POST /webhooks/stripe`, portal_app/http/stripe_webhooks.py).

The signature is checked with the `stripe` package (bad or older than 5 minutes: refused, nothing
changed). Each event is taken once: its id becomes a StripeEvent row in the same transaction as
its effect, so a duplicate finds the row and does nothing, and two deliveries at once leave one
(the other's insert conflicts and rolls back). Events are read as a nudge, not as the truth: each
handler asks Stripe (through the gateway) for the object as it is now, so deliveries out of order
end in the same state as in order.

payment_intent.succeeded / payment_failed / requires_action  a charge that waited for 3-D Secure
    is settled (services/payment_actions.py); our own charges are recorded when they are made.
setup_intent.succeeded  the card is saved to its customer, if the browser did not get to it.
payment_method.updated / automatically_updated  the card we show takes Stripe's brand, last4 and
    expiry (the card updater's new expiry or number).
charge.refunded  refunds we made have their credit notes; one made in Stripe's dashboard is
    audited.
charge.dispute.created  the invoice is marked disputed and the merchant's admins are mailed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import (
    Customer,
    Invoice,
    Payment,
    PaymentMethod,
    StaffUser,
    StripeCustomer,
    StripeEvent,
)
from portal_app.money import format_money
from portal_app.services import (
    audit,
    invoices,
    mailer,
    payment_actions,
    payment_methods,
    refunds,
)
from portal_app.services.errors import PortalError

log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300
HANDLED = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "setup_intent.succeeded",
    "payment_method.updated",
    "payment_method.automatically_updated",
    "charge.refunded",
    "charge.dispute.created",
)


class BadSignature(Exception):
    """The request is not from Stripe (or is too old): answered 400, nothing changed."""


@dataclass(frozen=True)
class Taken:
    event_id: str
    type: str
    outcome: str  # applied | ignored | duplicate


def verify(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event, if `Stripe-Signature` signs this payload with our secret within 5 minutes."""
    try:
        event = stripe.Webhook.construct_event(
            payload, signature or "", secret, tolerance=TOLERANCE_SECONDS
        )
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise BadSignature(str(error)) from None
    body = json.loads(payload)
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not event.type:
        raise BadSignature("not an event")
    return body


def take(session: Session, clock: Clock, gateway, event: dict[str, Any]) -> Taken:
    """Apply one verified event once. The caller commits."""
    event_id, kind = event["id"][:64], str(event.get("type", ""))[:64]
    if session.get(StripeEvent, event_id) is not None:
        return Taken(event_id, kind, "duplicate")
    row = StripeEvent(id=event_id, type=kind, received_at=clock.now())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same event, delivered twice at once: the other one applies it
        return Taken(event_id, kind, "duplicate")
    obj = (event.get("data") or {}).get("object") or {}
    handler = _HANDLERS.get(kind)
    applied = False
    if handler is not None and isinstance(obj, dict):
        with session.begin_nested():
            applied = bool(handler(session, clock, gateway, obj))
    row.outcome = "applied" if applied else "ignored"
    session.add(row)
    session.flush()
    return Taken(event_id, kind, row.outcome)


# --- handlers: each returns whether it changed anything ---------------------------------------


def _intent(session, clock, gateway, obj) -> bool:
    charge_id = obj.get("id")
    if not isinstance(charge_id, str):
        return False
    return (
        payment_actions.settle(session, clock, gateway, charge_id=charge_id, actor=audit.SYSTEM)
        is not None
    )


def _setup(session, clock, gateway, obj) -> bool:
    stripe_customer = obj.get("customer")
    setup_id = obj.get("id")
    if not isinstance(stripe_customer, str) or not isinstance(setup_id, str):
        return False
    mapped = session.exec(
        select(StripeCustomer).where(StripeCustomer.stripe_id == stripe_customer)
    ).first()
    if mapped is None:
        return False
    known = {card.id for card in payment_methods.list_cards(session, mapped.customer_id)}
    try:
        card = payment_methods.add_collected_card(
            session,
            clock,
            gateway,
            customer_id=mapped.customer_id,
            setup_id=setup_id,
            actor=audit.SYSTEM,
        )
    except PortalError:
        return False
    return card.id not in known  # the browser may have saved it first


def _payment_method(session, clock, gateway, obj) -> bool:
    token = obj.get("id")
    card = session.exec(select(PaymentMethod).where(PaymentMethod.gateway_token == token)).first()
    if card is None:
        return False
    now = gateway.card_details(session, clock, token)  # Stripe's card as it is now
    if now is None:
        return False
    changed = (card.brand, card.last4, card.exp_month, card.exp_year) != (
        now.brand,
        now.last4,
        now.exp_month,
        now.exp_year,
    )
    if not changed:
        return False
    with audit.changing(
        session,
        clock,
        card,
        actor=audit.SYSTEM,
        action="payment_method.updated_by_gateway",
        target_type="payment_method",
        snapshot=lambda c: {
            "brand": c.brand,
            "last4": c.last4,
            "exp_month": c.exp_month,
            "exp_year": c.exp_year,
        },
    ):
        card.brand, card.last4 = now.brand, now.last4
        card.exp_month, card.exp_year = now.exp_month, now.exp_year
    return True


def _payment_of_charge(session, obj) -> Payment | None:
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if not isinstance(intent, str):
        return None
    return session.exec(
        select(Payment).where(Payment.gateway_charge_id == intent, Payment.status == "succeeded")
    ).first()


def _refunded(session, clock, gateway, obj) -> bool:
    """Refunds made here are recorded where they are made (credit notes); a total Stripe says
    was refunded beyond them (one made in Stripe's own dashboard) is put on the record."""
    payment = _payment_of_charge(session, obj)
    if payment is None:
        return False
    if int(obj.get("amount_refunded") or 0) <= refunds.refunded_of(session, payment.id):
        return False
    audit.record_about(
        session,
        clock,
        payment,
        "payment",
        actor=audit.SYSTEM,
        action="payment.refunded_at_gateway",
        after={"amount_refunded": int(obj.get("amount_refunded") or 0)},
    )
    return True


def _disputed(session, clock, gateway, obj) -> bool:
    payment = _payment_of_charge(session, obj)
    if payment is None:
        return False
    invoice = session.get(Invoice, payment.invoice_id)
    if invoice is None or invoice.disputed_at is not None:
        return False
    with audit.changing(
        session,
        clock,
        invoice,
        actor=audit.SYSTEM,
        action="invoice.disputed",
        snapshot=lambda i: {"disputed_at": i.disputed_at.isoformat() if i.disputed_at else None},
    ):
        invoice.disputed_at = clock.now()
    customer = session.get(Customer, invoice.customer_id)
    amount = format_money(int(obj.get("amount") or payment.amount), payment.currency)
    reason = str(obj.get("reason") or "not given")[:80]
    label = invoices.display_number(invoice)
    for staff in session.exec(
        select(StaffUser).where(
            StaffUser.merchant_id == invoice.merchant_id, StaffUser.role.in_(("owner", "admin"))
        )
    ):
        mailer.queue_staff(
            session,
            clock,
            merchant_id=invoice.merchant_id,
            to_address=staff.email,
            kind="payment_disputed",
            subject=f"Payment disputed: {label}",
            body=(
                f"{customer.email if customer else 'A customer'}'s bank disputes the payment of "
                f"{amount} for {label} (reason: {reason}). Answer it in your Stripe dashboard "
                "before its deadline; the invoice is marked disputed in Portal."
            ),
        )
    return True


_HANDLERS = {
    "payment_intent.succeeded": _intent,
    "payment_intent.payment_failed": _intent,
    "payment_intent.requires_action": _intent,
    "setup_intent.succeeded": _setup,
    "payment_method.updated": _payment_method,
    "payment_method.automatically_updated": _payment_method,
    "charge.refunded": _refunded,
    "charge.dispute.created": _disputed,
}
