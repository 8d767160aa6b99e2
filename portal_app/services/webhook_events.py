"""What the merchant's app hears about: each event is written in the transaction of the change it
reports (nothing for work rolled back, nothing lost for work committed) with one delivery per
endpoint that listens, and carries the REST API's shape of its object (services/api_objects.py).

Most events follow from the audit trail: every change is audited, so `audit.record_many` hands
its entries here and `_events_of` maps each action to the events it stands for. The few changes
that are not audited one by one (a trial's notice, expired checkouts) call `emit` themselves."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlmodel import Session, select

from portal_app.models import (
    CheckoutSession,
    Customer,
    Invoice,
    Order,
    Payment,
    Subscription,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.state_changed",
    "subscription.created",
    "subscription.trialing",
    "subscription.activated",
    "subscription.updated",
    "subscription.paused",
    "subscription.resumed",
    "subscription.canceled",
    "subscription.uncanceled",
    "subscription.renewed",
    "subscription.past_due",
    "subscription.ended",
    "subscription.trial_will_end",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.voided",
    "payment.succeeded",
    "payment.failed",
    "payment.refunded",
    "checkout.completed",
    "checkout.expired",
    "order.created",
    "order.paid",
    "order.fulfilled",
    "order.refunded",
)
# Channel a PostgreSQL worker LISTENs on: an event's commit wakes it at once.
CHANNEL = "portal_work"

STATE = "customer.state_changed"
STARTED = "subscription.started"  # not sent: becomes subscription.trialing or .activated
# audit action -> the events it stands for (targets: the audited row unless said otherwise).
_BY_ACTION: dict[str, tuple[str, ...]] = {
    "customer.create": ("customer.created",),
    "customer.update": ("customer.updated",),
    "customer.delete": ("customer.deleted", STATE),
    "subscription.pause": ("subscription.paused", STATE),
    "subscription.resume": ("subscription.resumed", STATE),
    "subscription.cancel": ("subscription.canceled", "subscription.ended", STATE),
    "subscription.cancel_scheduled": ("subscription.canceled",),
    "subscription.uncancel": ("subscription.uncanceled",),
    "subscription.upgrade": ("subscription.updated", STATE),
    "subscription.downgrade": ("subscription.updated", STATE),
    "subscription.interval": ("subscription.updated",),
    "subscription.change_applied": ("subscription.updated", STATE),
    "subscription.change_scheduled": ("subscription.updated",),
    "subscription.change_unscheduled": ("subscription.updated",),
    "subscription.ended": ("subscription.ended", STATE),
    "subscription.trial_converted": ("subscription.activated", STATE),
    "subscription.trial_ended": ("subscription.ended", STATE),
    "subscription.restart": ("subscription.activated", STATE),
    "profile.update": ("customer.updated",),
    "profile.email_changed": ("customer.updated",),
    "invoice.finalize": ("invoice.created", "invoice.finalized"),
    "invoice.void": ("invoice.voided",),
    "checkout.completed": ("checkout.completed",),
    "order.create": ("order.created", "order.paid"),
    "order.fulfil": ("order.fulfilled",),
    "order.refund": ("order.refunded", "payment.refunded"),
}


@dataclass(frozen=True)
class Pending:
    """One event to write: its type, its object (kind and id) and the customer it concerns."""

    type: str
    kind: str
    object_id: str  # a row's primary key (a checkout session's is a string)
    customer_id: int | None


def _events_of(entry: Any) -> list[Pending]:
    """The events one audit entry stands for."""
    action, target = entry.action, entry.target_type
    target_id = str(entry.target_id)
    if not target_id:
        return []
    customer = entry.customer_id
    after = entry.after or {}
    found: list[Pending] = []

    def add(type_: str, kind: str, object_id: int | str | None) -> None:
        if object_id is not None:
            found.append(Pending(type_, kind, str(object_id), customer))

    if action == "subscription.create":
        add("subscription.created", "subscription", target_id)
        add(STARTED, "subscription", target_id)  # trialing or activated: `_resolved` decides
        add(STATE, "customer", customer)
        return found
    if action == "subscription.renew":
        add("subscription.renewed", "subscription", target_id)
        if "payment" in after:  # the bulk renewal: its invoice and payment are not audited apart
            paid = after["payment"] == "succeeded"
            add("invoice.created", "invoice", after.get("invoice_id"))
            add("invoice.finalized", "invoice", after.get("invoice_id"))
            add(
                "invoice.paid" if paid else "invoice.payment_failed",
                "invoice",
                after.get("invoice_id"),
            )
            add(
                "payment.succeeded" if paid else "payment.failed",
                "payment",
                after.get("payment_id"),
            )
            if not paid:
                add("subscription.past_due", "subscription", target_id)
                add(STATE, "customer", customer)
        return found
    if action == "invoice.paid":
        add("invoice.paid", "invoice", target_id)
        add("payment.succeeded", "invoice_payment", target_id)
        return found
    if action == "invoice.payment_failed":
        add("invoice.payment_failed", "invoice", target_id)
        add("payment.failed", "invoice_payment", target_id)
        add("subscription.past_due", "invoice_subscription", target_id)
        return found
    for type_ in _BY_ACTION.get(action, ()):
        if type_ == STATE:
            add(STATE, "customer", customer)
        elif type_ == "payment.refunded":
            add(type_, "order_payment", target_id)
        else:
            add(type_, target, target_id)
    return found


def new_msg_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def listening(session: Session, merchant_id: int) -> list[WebhookEndpoint]:
    return list(
        session.exec(
            select(WebhookEndpoint).where(
                WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.enabled
            )
        )
    )


def from_audit(session: Session, merchant_id: int, entries: list[Any]) -> int:
    """The events of these audit entries, for the endpoints that listen (called by audit)."""
    pending = [p for entry in entries for p in _events_of(entry)]
    if not pending:
        return 0
    endpoints = listening(session, merchant_id)
    if not endpoints:
        return 0
    return _write(
        session, merchant_id, [_resolved(session, p) for p in pending], endpoints, entries[0].at
    )


def _resolved(session: Session, item: Pending) -> Pending:
    if item.type != STARTED:
        return item
    row = session.get(Subscription, int(item.object_id))
    trialing = row is not None and row.status == SubscriptionStatus.TRIALING
    type_ = "subscription.trialing" if trialing else "subscription.activated"
    return Pending(type_, item.kind, item.object_id, item.customer_id)


def emit(
    session: Session,
    at: datetime,
    *,
    merchant_id: int,
    type_: str,
    kind: str,
    object_ids: Iterable[int | str],
    customer_of: dict[int, int | None] | None = None,
) -> int:
    """Events of one type for these objects, written in the caller's transaction."""
    ids = list(object_ids)
    if not ids:
        return 0
    endpoints = listening(session, merchant_id)
    if not endpoints:
        return 0
    pending = [Pending(type_, kind, str(i), (customer_of or {}).get(i)) for i in ids]
    return _write(session, merchant_id, pending, endpoints, at)


def _wants(endpoint: WebhookEndpoint, type_: str) -> bool:
    return not endpoint.event_types or type_ in endpoint.event_types


def _write(session, merchant_id, pending: list[Pending], endpoints, at: datetime) -> int:
    """The events' rows and their deliveries now (so a savepoint's rollback takes them along);
    their payloads at commit (`_render`)."""
    written = []
    for item in pending:
        targets = [e for e in endpoints if _wants(e, item.type)]
        if not targets:
            continue
        customer_id = item.customer_id
        if customer_id is None and item.kind == "customer":
            customer_id = int(item.object_id)
        event = WebhookEvent(
            merchant_id=merchant_id,
            msg_id=new_msg_id(),
            type=item.type,
            customer_id=customer_id,
            object_kind=item.kind,
            object_id=item.object_id,
            created_at=at,
        )
        session.add(event)
        session.flush()
        session.add_all(
            WebhookDelivery(
                merchant_id=merchant_id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                customer_id=customer_id,
                event_type=item.type,
                next_attempt_at=at,
                created_at=at,
            )
            for endpoint in targets
        )
        written.append(event.id)
    if written:
        session.flush()
        session.info.setdefault(_UNRENDERED, set()).update(written)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                sa.text(f"NOTIFY {CHANNEL}")
            )  # delivered at commit, dropped on rollback
    return len(written)


_UNRENDERED = "portal.webhook_events"
# Within one commit, a created event already shows the object as the commit left it.
_FOLDED = {"customer.updated": "customer.created", "subscription.updated": "subscription.created"}


@sa.event.listens_for(orm.Session, "before_commit")
def _render(session: orm.Session) -> None:
    """Write the payloads of this transaction's events from their objects as they are now; an
    event whose object is gone, or that the final state does not bear out, is dropped."""
    ids = session.info.pop(_UNRENDERED, None)
    if not ids:
        return
    events = list(
        session.scalars(
            sa.select(WebhookEvent)
            .where(WebhookEvent.id.in_(sorted(ids)), WebhookEvent.payload == "")
            .order_by(WebhookEvent.id)
        )
    )
    created = {(e.object_kind, e.object_id, e.type) for e in events}
    dropped = []
    for event in events:
        folded = _FOLDED.get(event.type)
        data = None
        if folded is None or (event.object_kind, event.object_id, folded) not in created:
            data = payload_object(
                session, Pending(event.type, event.object_kind, event.object_id, event.customer_id)
            )
        if data is None:
            dropped.append(event.id)
            continue
        if event.customer_id is None and isinstance(data.get("customer_id"), int):
            event.customer_id = data["customer_id"]
            session.execute(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.event_id == event.id)
                .values(customer_id=event.customer_id)
            )
        event.payload = json.dumps(
            {"type": event.type, "timestamp": iso(event.created_at), "data": data},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        session.add(event)
    if dropped:
        session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(dropped)))
        session.execute(sa.delete(WebhookEvent).where(WebhookEvent.id.in_(dropped)))
    session.flush()


def iso(at: datetime) -> str:
    """UTC with a Z, as the objects' own times are written."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@sa.event.listens_for(orm.Session, "after_rollback")
def _forget(session: orm.Session) -> None:
    session.info.pop(_UNRENDERED, None)


def payload_object(session: Session, item: Pending) -> dict[str, Any] | None:
    """The REST API's shape of the event's object, as it is now in this transaction."""
    from portal_app.services import api_objects, customer_accounts, orders

    def fresh(model, object_id):
        if model is not CheckoutSession and not str(object_id).isdigit():
            return None
        key = object_id if model is CheckoutSession else int(object_id)
        return session.get(model, key, populate_existing=True)

    kind, object_id = item.kind, item.object_id
    if kind == "customer":
        customer = fresh(Customer, object_id)
        if customer is None:
            return None
        if item.type == STATE:
            return customer_accounts.state(session, customer).model_dump(mode="json")
        return api_objects.CustomerObject.of(customer).model_dump(mode="json")
    if kind == "subscription":
        row = fresh(Subscription, object_id)
        return (
            None if row is None else api_objects.SubscriptionObject.of(row).model_dump(mode="json")
        )
    if kind == "invoice_subscription":
        invoice = fresh(Invoice, object_id)
        if invoice is None or invoice.subscription_id is None:
            return None
        row = fresh(Subscription, invoice.subscription_id)
        if row is None or row.status != SubscriptionStatus.PAST_DUE:
            return None
        return api_objects.SubscriptionObject.of(row).model_dump(mode="json")
    if kind == "invoice":
        row = fresh(Invoice, object_id)
        return (
            None
            if row is None
            else api_objects.InvoiceObject.many(session, [row])[0].model_dump(mode="json")
        )
    if kind in ("payment", "invoice_payment", "order_payment"):
        if kind == "payment":
            payment = fresh(Payment, object_id)
        else:
            invoice_id = int(object_id) if object_id.isdigit() else None
            if kind == "order_payment":
                order = fresh(Order, object_id)
                invoice_id = order.invoice_id if order is not None else None
            payment = (
                session.exec(
                    select(Payment)
                    .where(Payment.invoice_id == invoice_id)
                    .order_by(Payment.id.desc())
                ).first()
                if invoice_id is not None
                else None
            )
        return (
            None
            if payment is None
            else api_objects.PaymentObject.of(payment).model_dump(mode="json")
        )
    if kind == "order":
        row = fresh(Order, object_id)
        if row is None:
            return None
        items = orders.items_of(session, [row.id]).get(row.id, [])
        return api_objects.OrderObject.of(row, items).model_dump(mode="json")
    if kind in ("checkoutsession", "checkout"):
        row = fresh(CheckoutSession, object_id)
        if row is None:
            return None
        return api_objects.checkout_object(row, row.created_at).model_dump(mode="json")
    return None
