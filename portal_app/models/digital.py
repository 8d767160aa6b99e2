"""Digital benefits granted by plans: files, license keys and external links."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from portal_app.models.base import UTCDateTime


class DigitalAsset(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    kind: str = Field(max_length=16)  # file | license | link
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=1000)
    file_path: str | None = Field(default=None, max_length=500)  # relative to the private store
    file_size: int | None = Field(default=None)
    url: str | None = Field(default=None, max_length=1000)
    download_limit: int | None = Field(default=None)  # per customer; None = unlimited
    created_at: datetime = Field(sa_type=UTCDateTime)


class AssetGrant(SQLModel, table=True):
    """An asset granted by a plan (while subscribed) or by a product (once bought): one of
    `plan_id` and `product_id` is set."""

    __table_args__ = (
        sa.UniqueConstraint("asset_id", "plan_id"),
        sa.UniqueConstraint("asset_id", "product_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="digitalasset.id", index=True)
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    product_id: int | None = Field(default=None, foreign_key="product.id", index=True)


class LicenseKey(SQLModel, table=True):
    # One key per (asset, customer), enforced by the database: of two first reveals at once the
    # second assignment fails and reads the winner's key (services/digital.license_key_for).
    # Free keys have customer_id NULL, and NULLs never collide in a unique constraint.
    __table_args__ = (
        sa.UniqueConstraint("asset_id", "customer_id", name="uq_licensekey_asset_customer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="digitalasset.id", index=True)
    key: str = Field(max_length=128, unique=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DownloadCount(SQLModel, table=True):
    """Downloads used per (asset, customer), the counter download limits are checked against:
    one conditional `UPDATE … SET downloads = downloads + 1 WHERE downloads < limit` per
    download, so parallel requests cannot all read "one left" (services/digital.open_download).
    DownloadEvent stays the history; a missing row is created from its count."""

    asset_id: int = Field(foreign_key="digitalasset.id", primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", primary_key=True, index=True)
    downloads: int = Field(default=0)


class DownloadEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    asset_id: int = Field(foreign_key="digitalasset.id", index=True)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime)
