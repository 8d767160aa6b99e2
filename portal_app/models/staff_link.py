"""Emailed one-time sign-in links for merchant staff: the way in when the password form is
refused for an account (too many failed passwords from everywhere, services.ratelimit).
Like customer magic links: only the keyed hash is stored, 15 minutes, single use."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal_app.models.base import UTCDateTime


class StaffSignInLink(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id")
    staff_id: int = Field(foreign_key="staffuser.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # used, or voided
