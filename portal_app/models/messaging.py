"""The email outbox: mail is queued in the same transaction as its cause and delivered later."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal_app.models.base import UTCDateTime


class OutboxEmail(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    to_address: str = Field(max_length=320)
    kind: str = Field(max_length=32)  # receipt | invoice_reminder | renewal_notice | ...
    subject: str = Field(max_length=300)
    body: str
    # queued | sending (claimed by a deliver-mail run; sent_at is the claim time) | sent | failed
    status: str = Field(default="queued", max_length=16, index=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
