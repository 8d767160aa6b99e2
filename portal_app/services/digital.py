"""Digital benefits: what a customer's plans grant (files, license keys, links), signed download
links that expire, per-customer download limits and the download history."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.config import PROJECT_ROOT, load_settings
from portal_app.models import (
    AssetGrant,
    DigitalAsset,
    DownloadEvent,
    LicenseKey,
    Subscription,
    SubscriptionStatus,
)
from portal_app.services import audit, features
from portal_app.services.errors import NotFound, PortalError

KIND_FEATURE = {
    "file": "digital.downloads",
    "license": "digital.license_keys",
    "link": "digital.links",
}
ENTITLED = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


def files_root() -> Path:
    return Path(os.environ.get("PORTAL_FILES_DIR", PROJECT_ROOT / "private_files"))


def entitled_assets(session: Session, customer_id: int) -> list[DigitalAsset]:
    """Assets granted by the plans of the customer's active subscriptions."""
    return list(
        session.exec(
            select(DigitalAsset)
            .join(AssetGrant, AssetGrant.asset_id == DigitalAsset.id)
            .join(Subscription, Subscription.plan_id == AssetGrant.plan_id)
            .where(Subscription.customer_id == customer_id, Subscription.status.in_(ENTITLED))
            .distinct()
            .order_by(DigitalAsset.kind, DigitalAsset.name)
        )
    )


def get_entitled(session: Session, customer_id: int, asset_id: int) -> DigitalAsset:
    for asset in entitled_assets(session, customer_id):
        if asset.id == asset_id:
            return asset
    raise NotFound("Download not found.")


def license_key_for(
    session: Session, clock: Clock, *, customer_id: int, asset: DigitalAsset, actor: audit.Actor
) -> str:
    """The customer's key for this asset, assigned from the pool on first view."""
    key = session.exec(
        select(LicenseKey).where(
            LicenseKey.asset_id == asset.id, LicenseKey.customer_id == customer_id
        )
    ).first()
    if key is not None:
        return key.key
    # Conditional UPDATE: two first views at once cannot take the same key.
    for _ in range(3):
        free = session.exec(
            select(LicenseKey.id).where(
                LicenseKey.asset_id == asset.id, LicenseKey.customer_id.is_(None)
            )
        ).first()
        if free is None:
            raise PortalError("No license keys are left for this product. Please contact us.")
        taken = session.execute(
            sa.update(LicenseKey)
            .where(LicenseKey.id == free, LicenseKey.customer_id.is_(None))
            .values(customer_id=customer_id, assigned_at=clock.now())
        ).rowcount
        if taken:
            key = session.get(LicenseKey, free)
            session.refresh(key)
            audit.record(
                session,
                clock,
                merchant_id=asset.merchant_id,
                actor=actor,
                action="license_key.assign",
                target_type="license_key",
                target_id=key.id,
                customer_id=customer_id,
                after={"asset_id": asset.id},
            )
            return key.key
    raise PortalError("Please try again.")


def reveal_license_key(
    session: Session, clock: Clock, *, customer_id: int, asset_id: int, actor: audit.Actor
) -> str:
    asset = get_entitled(session, customer_id, asset_id)
    if asset.kind != "license":
        raise NotFound("License key not found.")
    features.require_feature(session, asset.merchant_id, "digital.license_keys")
    return license_key_for(session, clock, customer_id=customer_id, asset=asset, actor=actor)


# --- signed download links ----------------------------------------------------------------------


def _sign(payload: str) -> str:
    mac = hmac.new(load_settings().secret_key.encode(), payload.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:20]).decode().rstrip("=")


def download_link(
    session: Session, clock: Clock, *, customer_id: int, asset_id: int
) -> tuple[str, datetime]:
    """A URL for one file that only works for this customer and only for a few minutes."""
    asset = get_entitled(session, customer_id, asset_id)
    if asset.kind != "file":
        raise NotFound("Download not found.")
    settings = features.require_feature(session, asset.merchant_id, "digital.downloads")
    _check_limit(session, customer_id, asset)
    expires = clock.now() + timedelta(minutes=settings["digital.link_ttl_minutes"])
    payload = f"{asset.id}.{customer_id}.{int(expires.timestamp())}"
    return f"/files/{payload}.{_sign(payload)}", expires


@dataclass(frozen=True)
class FileToServe:
    path: Path
    filename: str
    size: int


def open_download(session: Session, clock: Clock, *, token: str, actor: audit.Actor) -> FileToServe:
    """Check a signed link, count the download and return the file to stream."""
    try:
        asset_id, customer_id, expires, signature = token.split(".")
        payload = f"{int(asset_id)}.{int(customer_id)}.{int(expires)}"
    except ValueError as exc:
        raise NotFound("This download link is not valid.") from exc
    if not hmac.compare_digest(_sign(payload), signature):
        raise NotFound("This download link is not valid.")
    if int(expires) < clock.now().timestamp():
        raise PortalError("This download link has expired. Start the download again.")
    asset = get_entitled(session, int(customer_id), int(asset_id))
    features.require_feature(session, asset.merchant_id, "digital.downloads")
    _check_limit(session, int(customer_id), asset)
    root = files_root().resolve()
    path = (root / (asset.file_path or "")).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("This file is not available right now.")
    session.add(
        DownloadEvent(
            merchant_id=asset.merchant_id,
            customer_id=int(customer_id),
            asset_id=asset.id,
            ip=actor.ip[:64],
            user_agent=actor.user_agent[:300],
            created_at=clock.now(),
        )
    )
    audit.record(
        session,
        clock,
        merchant_id=asset.merchant_id,
        actor=actor,
        action="download",
        target_type="asset",
        target_id=asset.id,
        customer_id=int(customer_id),
    )
    return FileToServe(path, path.name, path.stat().st_size)


def _check_limit(session: Session, customer_id: int, asset: DigitalAsset) -> None:
    if asset.download_limit is None:
        return
    used = session.exec(
        select(sa.func.count(DownloadEvent.id)).where(
            DownloadEvent.customer_id == customer_id, DownloadEvent.asset_id == asset.id
        )
    ).one()
    if used >= asset.download_limit:
        raise PortalError(
            f"You have used all {asset.download_limit} downloads of this file. Contact us for more."
        )


def history(session: Session, customer_id: int, limit: int = 50) -> list[tuple[DownloadEvent, str]]:
    rows = session.exec(
        select(DownloadEvent, DigitalAsset.name)
        .join(DigitalAsset, DigitalAsset.id == DownloadEvent.asset_id)
        .where(DownloadEvent.customer_id == customer_id)
        .order_by(DownloadEvent.created_at.desc())
        .limit(limit)
    ).all()
    return [(event, name) for event, name in rows]
