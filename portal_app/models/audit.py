"""Audit events form a per-merchant hash chain so an edited or deleted row is detectable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import JSONDoc, UTCDateTime


class AuditChainHead(SQLModel, table=True):
    """Serialises appends per merchant: the append takes this row's lock with an UPDATE."""

    merchant_id: int = Field(primary_key=True, foreign_key="merchant.id")
    last_seq: int = Field(default=0)
    last_hash: str = Field(default="", max_length=64)


class AuditEvent(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "seq"),
        sa.Index("ix_audit_customer", "merchant_id", "customer_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    seq: int
    created_at: datetime = Field(sa_type=UTCDateTime)
    actor_type: str = Field(max_length=16)  # customer | merchant | system
    actor_id: str = Field(default="", max_length=64)
    customer_id: int | None = Field(default=None)
    action: str = Field(max_length=64, index=True)
    target_type: str = Field(default="", max_length=32)
    target_id: str = Field(default="", max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    result: str = Field(default="ok", max_length=16)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    request_id: str = Field(default="", max_length=64)
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(max_length=64)
