"""Digital benefits: what a customer's plans and bought products grant (files, license keys,
links), signed download links that expire, per-customer download limits and the download
history."""

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
from portal_app.db import insert_ignore
from portal_app.models import (
    AssetGrant,
    DigitalAsset,
    DownloadCount,
    DownloadEvent,
    LicenseKey,
    Order,
    OrderItem,
    Subscription,
    SubscriptionStatus,
)
from portal_app.services import audit, features, orders
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
    """Assets granted by the plans of the customer's active subscriptions, and by the products
    of their orders that still grant (paid or fulfilled: a refund takes them back). A grant is
    by plan or by product (the other id NULL, which joins nothing)."""
    by_plan = (
        select(AssetGrant.asset_id)
        .join(Subscription, Subscription.plan_id == AssetGrant.plan_id)
        .where(Subscription.customer_id == customer_id, Subscription.status.in_(ENTITLED))
    )
    by_product = (
        select(AssetGrant.asset_id)
        .join(OrderItem, OrderItem.product_id == AssetGrant.product_id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.customer_id == customer_id, Order.status.in_(orders.GRANTING))
    )
    return list(
        session.exec(
            select(DigitalAsset)
            .where(DigitalAsset.id.in_(sa.union(by_plan, by_product)))
            .order_by(DigitalAsset.kind, DigitalAsset.name, DigitalAsset.id)
        )
    )


def granted_by_orders(session: Session, order_ids: list[int]) -> set[int]:
    """Those of these orders whose products grant at least one digital asset (one query)."""
    if not order_ids:
        return set()
    return set(
        session.exec(
            select(OrderItem.order_id)
            .join(AssetGrant, AssetGrant.product_id == OrderItem.product_id)
            .where(OrderItem.order_id.in_(order_ids))
            .distinct()
        )
    )


def get_entitled(session: Session, customer_id: int, asset_id: int) -> DigitalAsset:
    for asset in entitled_assets(session, customer_id):
        if asset.id == asset_id:
            return asset
    raise NotFound("Download not found.")


# --- what the portal may show -------------------------------------------------------------------

PORTAL_FEATURES = (*KIND_FEATURE.values(), "digital.history")


@dataclass(frozen=True)
class PortalAsset:
    """An entitled asset as the portal may show it. When the merchant turned its kind off it is
    listed as not offered and carries nothing usable (no link)."""

    id: int
    kind: str
    name: str
    description: str
    file_size: int
    url: str  # a link's address, only while links are offered
    offered: bool


@dataclass(frozen=True)
class PortalDigital:
    offered: dict[str, bool]  # each of PORTAL_FEATURES -> on
    assets: list[PortalAsset]
    history: list[tuple[DownloadEvent, str]]  # empty unless the history is offered


def portal_view(session: Session, *, merchant_id: int, customer_id: int) -> PortalDigital:
    """Everything the downloads page may hold, gated by the merchant's toggles here: a state
    handler can be called by anyone with a session, so the page hiding something is not enough.
    No toggle on: nothing at all. Download links and license keys are never part of it; they
    come one at a time from `download_link` and `reveal_license_key`, which check again."""
    settings = features.load(session, merchant_id)
    offered = {key: settings.enabled(key) for key in PORTAL_FEATURES}
    if not any(offered.values()):
        return PortalDigital(offered, [], [])
    assets = []
    for asset in entitled_assets(session, customer_id):
        on = offered.get(KIND_FEATURE.get(asset.kind, ""), False)
        assets.append(
            PortalAsset(
                id=asset.id,
                kind=asset.kind,
                name=asset.name,
                description=asset.description,
                file_size=(asset.file_size or 0) if asset.kind == "file" else 0,
                url=(asset.url or "") if on and asset.kind == "link" else "",
                offered=on,
            )
        )
    rows = history(session, customer_id) if offered["digital.history"] else []
    return PortalDigital(offered, assets, rows)


ASSIGN_ATTEMPTS = 10


def license_key_for(
    session: Session, clock: Clock, *, customer_id: int, asset: DigitalAsset, actor: audit.Actor
) -> str:
    """The customer's key for this asset, assigned from the pool on first view.

    The database holds at most one key per (asset, customer) (uq_licensekey_asset_customer), so
    of two first views at once only one assignment can commit; the other fails inside its
    savepoint, looks again and returns the winner's key. A key itself is taken with a
    conditional UPDATE, so two customers never get the same one."""
    for _ in range(ASSIGN_ATTEMPTS):
        existing = _assigned_key(session, asset.id, customer_id)
        if existing is not None:
            return existing
        free = _free_key_id(session, asset.id)
        if free is None:
            # The pool's last key may have just been committed to this customer by another tab
            # (between the look-up above and this one): that is their key, not an empty pool.
            existing = _assigned_key(session, asset.id, customer_id)
            if existing is not None:
                return existing
            raise PortalError("No license keys are left for this product. Please contact us.")
        try:
            with session.begin_nested():
                taken = session.execute(
                    sa.update(LicenseKey)
                    .where(LicenseKey.id == free, LicenseKey.customer_id.is_(None))
                    .values(customer_id=customer_id, assigned_at=clock.now())
                    .execution_options(synchronize_session=False)
                ).rowcount
        except sa.exc.IntegrityError:
            continue  # another view gave this customer a key first: read it on the next pass
        if taken:
            key = session.get(LicenseKey, free)
            session.refresh(key)
            # The change itself was the conditional UPDATE above (the key's claim).
            with audit.changing(
                session,
                clock,
                key,
                actor=actor,
                action="license_key.assign",
                target_type="license_key",
                merchant_id=asset.merchant_id,
                customer_id=customer_id,
            ) as change:
                change.after = {"asset_id": asset.id}
            return key.key
    raise PortalError(
        "So many keys are being handed out right now that yours was delayed. Please try again."
    )


def _assigned_key(session: Session, asset_id: int, customer_id: int) -> str | None:
    return session.exec(
        select(LicenseKey.key).where(
            LicenseKey.asset_id == asset_id, LicenseKey.customer_id == customer_id
        )
    ).first()


def _free_key_id(session: Session, asset_id: int) -> int | None:
    """A free key of the pool. On PostgreSQL one no other transaction is taking right now (SKIP
    LOCKED), so concurrent first views of different customers don't queue on one row; when all
    free keys are being taken, the first one anyway (its UPDATE then waits for that
    transaction). SQLite serializes writers, and drops the FOR UPDATE."""
    free = (
        select(LicenseKey.id)
        .where(LicenseKey.asset_id == asset_id, LicenseKey.customer_id.is_(None))
        .order_by(LicenseKey.id)
        .limit(1)
    )
    return (
        session.exec(free.with_for_update(skip_locked=True)).first() or session.exec(free).first()
    )


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
    root = files_root().resolve()
    path = (root / (asset.file_path or "")).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("This file is not available right now.")
    _count_download(session, int(customer_id), asset)
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
    audit.record_about(
        session, clock, asset, "asset", actor=actor, action="download", customer_id=int(customer_id)
    )
    return FileToServe(path, path.name, path.stat().st_size)


def _limit_reached(asset: DigitalAsset) -> PortalError:
    return PortalError(
        f"You have used all {asset.download_limit} downloads of this file. Contact us for more."
    )


def _check_limit(session: Session, customer_id: int, asset: DigitalAsset) -> None:
    """Before handing out a link: is a download left? (Only a courtesy; the count that holds
    is taken when the file is served, by `_count_download`.)"""
    if asset.download_limit is None:
        return
    if downloads_used(session, customer_id, asset.id) >= asset.download_limit:
        raise _limit_reached(asset)


def downloads_used(session: Session, customer_id: int, asset_id: int) -> int:
    used = session.exec(
        select(DownloadCount.downloads).where(
            DownloadCount.asset_id == asset_id, DownloadCount.customer_id == customer_id
        )
    ).first()
    return used if used is not None else _events_count(session, customer_id, asset_id)


def _events_count(session: Session, customer_id: int, asset_id: int) -> int:
    return session.exec(
        select(sa.func.count(DownloadEvent.id)).where(
            DownloadEvent.customer_id == customer_id, DownloadEvent.asset_id == asset_id
        )
    ).one()


def _count_download(session: Session, customer_id: int, asset: DigitalAsset) -> None:
    """Take one download, or refuse past the limit, in one conditional UPDATE … RETURNING on the
    (asset, customer) counter: parallel requests queue on its row lock and each one sees the
    count the one before it left, so exactly `download_limit` are served (a read-then-write
    lets every request see "one left"). The first download creates the row from the history."""
    claim = (
        sa.update(DownloadCount)
        .where(DownloadCount.asset_id == asset.id, DownloadCount.customer_id == customer_id)
        .values(downloads=DownloadCount.downloads + 1)
        .returning(DownloadCount.downloads)
        .execution_options(synchronize_session=False)
    )
    if asset.download_limit is not None:
        claim = claim.where(DownloadCount.downloads < asset.download_limit)
    if session.execute(claim).first() is not None:
        return
    # No row yet, or at the limit. Create a missing row (a concurrent first download may have
    # just done so: then this waits for it and skips) and claim again, which now sees the row.
    if session.get(DownloadCount, (asset.id, customer_id)) is None:
        insert_ignore(
            session,
            DownloadCount,
            asset_id=asset.id,
            customer_id=customer_id,
            downloads=_events_count(session, customer_id, asset.id),
        )
    if session.execute(claim).first() is None:
        raise _limit_reached(asset)


def history(session: Session, customer_id: int, limit: int = 50) -> list[tuple[DownloadEvent, str]]:
    rows = session.exec(
        select(DownloadEvent, DigitalAsset.name)
        .join(DigitalAsset, DigitalAsset.id == DownloadEvent.asset_id)
        .where(DownloadEvent.customer_id == customer_id)
        .order_by(DownloadEvent.created_at.desc())
        .limit(limit)
    ).all()
    return [(event, name) for event, name in rows]
