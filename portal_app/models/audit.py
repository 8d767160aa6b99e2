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


class AuditCheckpoint(SQLModel, table=True):
    """The newest event a verification found intact (seq and hash), so the dashboard checks only
    what was appended since. Moves forward only; the full walk stays in `portal audit-verify`."""

    merchant_id: int = Field(primary_key=True, foreign_key="merchant.id")
    seq: int = Field(default=0)
    hash: str = Field(default="", max_length=64)
    verified_at: datetime = Field(sa_type=UTCDateTime)


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


class RefusalTally(SQLModel, table=True):
    """Refused requests (throttled sign-ins, bad links, denied forged events), counted per
    merchant, action, rule, key and minute instead of one chained audit event each: a flood
    costs one row per minute per key. `key_hash` is a keyed hash of the IP, account or
    principal; `key_hint` a masked form to read (never a token)."""

    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "action", "rule", "key_hash", "minute"),
        sa.Index("ix_refusaltally_recent", "merchant_id", "minute"),
    )

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id")
    action: str = Field(max_length=64)  # auth.throttled | auth.link_rejected | authz.denied ...
    rule: str = Field(max_length=96)  # the limit, or reason:handler for a denial
    key_hash: str = Field(max_length=64)
    key_hint: str = Field(default="", max_length=200)
    minute: datetime = Field(sa_type=UTCDateTime)
    count: int = Field(default=0)
    first_seen: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    # the first refusal's safe details (ids a forged event named), kept as a sample
    sample: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
