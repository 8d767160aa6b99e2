"""Webhooks to the merchant's own app: endpoints, the events written with the change they
report, one delivery per (event, endpoint) and every attempt at it (services/webhook_*.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import JSONDoc, UTCDateTime


class WebhookEndpoint(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=200)
    # Event types sent to this endpoint; empty: every type.
    event_types: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    # `whsec_…`, sealed (services/sealing.py). After a rotation the old one also signs until
    # `previous_secret_until` (24 h), so the merchant's app can switch without losing events.
    secret: str = Field(max_length=400)
    previous_secret: str | None = Field(default=None, max_length=400)
    previous_secret_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    enabled: bool = Field(default=True)
    disabled_reason: str = Field(default="", max_length=200)
    # Set by the first failed delivery since the last success; 5 days of it disables the endpoint.
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    version: int = Field(default=0)


class WebhookEvent(SQLModel, table=True):
    """One thing that happened, in the transaction of the change (nothing for work rolled back)."""

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    # The Standard Webhooks `webhook-id`: the same on every attempt, so receivers can dedupe.
    msg_id: str = Field(max_length=40, unique=True)
    type: str = Field(max_length=64)
    customer_id: int | None = Field(default=None, index=True)
    # What it is about (services/webhook_events.payload_object reads it at commit).
    object_kind: str = Field(max_length=32)
    object_id: str = Field(max_length=64)
    # The exact JSON body that is signed and sent; written when the transaction commits, so it
    # shows the object as that transaction left it.
    payload: str = Field(default="")
    created_at: datetime = Field(sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """An event on its way to one endpoint. pending → sending (claimed) → succeeded | failed; a
    failed attempt goes back to pending with `next_attempt_at` on the retry schedule."""

    __table_args__ = (
        sa.Index("ix_webhookdelivery_due", "status", "next_attempt_at"),
        sa.Index("ix_webhookdelivery_order", "endpoint_id", "customer_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    endpoint_id: int = Field(foreign_key="webhookendpoint.id")
    event_id: int = Field(foreign_key="webhookevent.id", index=True)
    customer_id: int | None = Field(default=None)  # events of one customer go out in order
    event_type: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = Field(default=None)
    last_latency_ms: int | None = Field(default=None)
    last_response: str = Field(default="", max_length=500)
    last_error: str = Field(default="", max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    """One try of a delivery; (delivery, number) is unique, so an attempt is recorded once."""

    __table_args__ = (sa.UniqueConstraint("delivery_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhookdelivery.id")
    number: int
    at: datetime = Field(sa_type=UTCDateTime)
    status_code: int | None = Field(default=None)
    latency_ms: int = Field(default=0)
    response_head: str = Field(default="", max_length=500)
    error: str = Field(default="", max_length=300)
