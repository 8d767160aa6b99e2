"""Staff → Webhooks (owners and admins), for the screen: the merchant's endpoints as rows, and
one endpoint's deliveries (newest first, filtered by event type and status) with their status,
response code, latency and the first bytes of the answer. The rules are in
services/webhook_endpoints.py and webhook_delivery.py."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlmodel import Session, select

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.models import WebhookDelivery
from portal_app.services import audit, webhook_delivery, webhook_endpoints
from portal_app.services.webhook_events import EVENT_TYPES

DELIVERIES_SHOWN = 50
STATUSES = ("pending", "sending", "succeeded", "failed")


class EndpointRow(TypedDict):
    id: str
    url: str
    description: str
    types: str  # "All events" or "customer.created, invoice.paid"
    status: str  # enabled | disabled
    disabled_reason: str
    created: str


class DeliveryRow(TypedDict):
    id: str
    event: str
    status: str
    attempts: str
    code: str  # "200", "—" without an answer
    latency: str  # "12 ms"
    response: str  # the first bytes of the answer, or the error
    when: str  # created, and the next try when one is due


def endpoints(session: Session, clock: Clock, *, merchant_id: int) -> list[EndpointRow]:
    return [
        {
            "id": str(e.id),
            "url": e.url,
            "description": e.description,
            "types": ", ".join(e.event_types) if e.event_types else "All events",
            "status": "enabled" if e.enabled else "disabled",
            "disabled_reason": e.disabled_reason,
            "created": formatting.iso_minute_utc(e.created_at),
        }
        for e in webhook_endpoints.list_endpoints(session, merchant_id)
    ]


def deliveries(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    endpoint_id: int,
    event_type: str = "",
    status: str = "",
) -> list[DeliveryRow]:
    """The newest DELIVERIES_SHOWN deliveries of one of the merchant's endpoints."""
    endpoint = webhook_endpoints.get_endpoint(session, merchant_id, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if event_type in EVENT_TYPES or event_type == webhook_delivery.TEST_EVENT:
        query = query.where(WebhookDelivery.event_type == event_type)
    if status in STATUSES:
        query = query.where(WebhookDelivery.status == status)
    rows = session.exec(query.order_by(WebhookDelivery.id.desc()).limit(DELIVERIES_SHOWN))
    when = formatting.iso_minute_utc
    return [
        {
            "id": str(d.id),
            "event": d.event_type,
            "status": d.status,
            "attempts": str(d.attempts),
            "code": str(d.last_status_code) if d.last_status_code is not None else "—",
            "latency": f"{d.last_latency_ms} ms" if d.last_latency_ms is not None else "—",
            "response": (d.last_error or d.last_response or "")[:200],
            "when": when(d.created_at)
            + (
                f" · next try {when(d.next_attempt_at)}"
                if d.status == "pending" and d.attempts
                else ""
            ),
        }
        for d in rows
    ]


def types_from_form(form: dict[str, Any]) -> list[str]:
    """The ticked `type_<event type>` boxes (none ticked: every type)."""
    return [t for t in EVENT_TYPES if form.get(f"type_{t}") in ("on", True, "true")]


def create(
    session: Session, clock: Clock, *, merchant_id: int, form: dict[str, Any], actor: audit.Actor
) -> str:
    _, secret = webhook_endpoints.create_endpoint(
        session,
        clock,
        merchant_id=merchant_id,
        url=str(form.get("url", "")),
        description=str(form.get("description", ""))[:200],
        event_types=types_from_form(form),
        actor=actor,
    )
    return secret
