"""Sign-in: one-time login tokens, server-side sessions, merchant staff and API keys.
Only keyed hashes of tokens, session ids and API keys are stored: a dump signs no one in."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import JSONDoc, UTCDateTime


class LoginToken(SQLModel, table=True):
    """A magic link (or portal link from the merchant API, or an email-change confirmation)."""

    __table_args__ = (sa.Index("ix_logintoken_open", "merchant_id", "email", "used_at"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    email: str = Field(max_length=320)
    token_hash: str = Field(max_length=64, unique=True)
    # login | portal_link | email_change | email_cancel (the old address's "undo" link)
    purpose: str = Field(default="login", max_length=16)
    new_email: str | None = Field(default=None, max_length=320)
    return_to: str = Field(default="/", max_length=500)
    return_url: str | None = Field(default=None, max_length=1000)  # merchant's "back" link
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A support link made by this staff member: its session is marked as staff acting.
    acting_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")


class AuthSession(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sid_hash: str = Field(max_length=64, unique=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    role: str = Field(max_length=16)  # customer | staff
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staffuser.id", index=True)
    # A customer session opened by a staff member's support link: audited under that member,
    # shown with a banner, and refused email and sign-in changes. None: the customer's own.
    acting_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    return_url: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)  # absolute timeout
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # why it ended (signed_out | idle_timeout | absolute_timeout | ended), shown on sign-in
    revoked_reason: str = Field(default="", max_length=32)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class StaffUser(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("merchant_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=300)
    role: str = Field(default="viewer", max_length=16)  # services.staff_roles.STAFF_ROLES
    created_at: datetime = Field(sa_type=UTCDateTime)
    # A disabled member cannot sign in, and every session of theirs fails its next check.
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffInvite(SQLModel, table=True):
    """An owner's invitation to the dashboard: a one-time link (keyed hash only) to set a
    password. Once used, voided by a newer invite or revoked, `used_at` is set; `outcome` says
    which."""

    __table_args__ = (sa.Index("ix_staffinvite_open", "merchant_id", "email", "used_at"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    email: str = Field(max_length=320)
    role: str = Field(max_length=16)  # services.staff_roles.STAFF_ROLES
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: int | None = Field(default=None, foreign_key="staffuser.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str = Field(default="", max_length=16)  # accepted | voided | revoked
    staff_id: int | None = Field(default=None, foreign_key="staffuser.id")  # made by accepting


class ApiKey(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    name: str = Field(default="", max_length=100)
    prefix: str = Field(max_length=16, index=True)  # shown in the dashboard to tell keys apart
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "customers:read", "subscriptions:write", … (services/api_keys.SCOPES); write implies read.
    scopes: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    created_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST with an `Idempotency-Key` (Stripe's semantics), kept 24 h:
    the same key and body replay it, a different body is refused, and a retry while the first
    is still running waits for it (services/idempotency.py)."""

    __table_args__ = (sa.UniqueConstraint("merchant_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id")
    api_key_id: int = Field(foreign_key="apikey.id")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)  # SHA-256 of method, path and body
    # Until `done`, the first request is running; past `lease_until` it died and may be retried.
    done: bool = Field(default=False)
    lease_until: datetime = Field(sa_type=UTCDateTime)
    status_code: int = Field(default=0)
    body: str = Field(default="")
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
