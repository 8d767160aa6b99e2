"""The merchant (the business running the portal), its portal settings and staff."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import JSONDoc, UTCDateTime


class Merchant(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=200)
    default_currency: str = Field(default="USD", max_length=3)
    address: str = Field(default="", max_length=500)
    # Seconds the merchant's test clock runs ahead of real time (demo merchants only).
    clock_offset_seconds: int = Field(default=0)
    is_demo: bool = Field(default=False)
    created_at: datetime = Field(sa_type=UTCDateTime)


class PortalSettings(SQLModel, table=True):
    """Feature toggles and options, one document per merchant (schema in services/features.py)."""

    merchant_id: int = Field(primary_key=True, foreign_key="merchant.id")
    document: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class SettingsVersion(SQLModel, table=True):
    """One save of a merchant's settings, kept whole (the document as it stood after it), so any
    version can be read, compared and restored (services/settings_history.py)."""

    __table_args__ = (sa.UniqueConstraint("merchant_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    number: int  # 1, 2, ... per merchant
    document: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)  # key: [before, after]
    action: str = Field(max_length=80)  # settings.update, settings.preset.<name>, settings.restore
    restored_from: int | None = None  # the version number a restore brought back
    actor_type: str = Field(max_length=20)
    actor_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)


class InvoiceCounter(SQLModel, table=True):
    """Per-merchant next invoice number; bumped by a conditional UPDATE inside the finalizing
    transaction so numbers stay gapless (a rollback rolls the number back too)."""

    merchant_id: int = Field(primary_key=True, foreign_key="merchant.id")
    last_invoice_number: int = Field(default=0)
    last_receipt_number: int = Field(default=0)
    last_credit_note_number: int = Field(default=0)
