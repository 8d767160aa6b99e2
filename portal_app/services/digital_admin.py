"""Merchant staff manage digital benefits: upload a file, fill a license-key pool, add an
external link, and grant each to plans (customers on a granted plan see it under Downloads).

Files live in the private store (`digital.files_root()`, never under Reflex's public upload
folder) and reach customers only through `digital`'s signed, expiring links. A stored file is
written before its asset row exists, under a fresh random folder of the merchant's; until an
asset refers to it nobody can download it, and `discard_stored_file` removes it again."""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import AssetGrant, DigitalAsset, DownloadEvent, LicenseKey, Plan, Product
from portal_app.services import audit
from portal_app.services.catalog_admin import get_plan, get_product
from portal_app.services.catalog_rules import (
    Problems,
    edit,
    flush_or_conflict,
    get_owned,
    name_and_description,
)
from portal_app.services.digital import files_root
from portal_app.services.errors import CatalogError, NotFound

DESCRIPTION_MAX = 1000
FILE_MAX_BYTES = 200 * 1024 * 1024
FILENAME_MAX = 120
KEY_MAX = 128  # LicenseKey.key
KEYS_PER_PASTE = 5000
URL_MAX = 1000
DOWNLOAD_LIMIT_MAX = 10_000
KINDS = ("file", "license", "link")
_CHUNK = 1024 * 1024


def get_asset(session: Session, merchant_id: int, asset_id: int) -> DigitalAsset:
    return get_owned(session, DigitalAsset, merchant_id, asset_id, "Digital product")


def _changing(session: Session, clock: Clock, asset: DigitalAsset, actor: audit.Actor, action: str):
    """A recorded change of an asset (audited as target "asset")."""
    return audit.changing(session, clock, asset, actor=actor, action=action, target_type="asset")


def _add_asset(
    session: Session, clock: Clock, actor: audit.Actor, summary: dict[str, Any], **fields: Any
) -> DigitalAsset:
    """A new asset of the merchant's, audited with its kind, name and `summary`."""
    asset = DigitalAsset(created_at=clock.now(), **fields)
    with _changing(session, clock, asset, actor, "asset.create") as change:
        change.after = {"kind": asset.kind, "name": asset.name, **summary}
    return asset


# --- files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    relative_path: str  # below files_root(), as DigitalAsset.file_path
    filename: str
    size: int


def safe_filename(name: Any) -> str:
    """The name a customer's download gets: the uploaded name reduced to letters, digits, dots,
    dashes and underscores, never hidden or empty."""
    base = Path(str(name or "").replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", base)
    cleaned = re.sub(r"-+\.", ".", cleaned).strip(".-_")
    if len(cleaned) > FILENAME_MAX:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[: FILENAME_MAX - len(ext) - 1] + dot + ext) if dot else cleaned
        cleaned = cleaned[:FILENAME_MAX]
    return cleaned or "download"


def store_file(
    merchant_id: int, source: BinaryIO, filename: Any, *, max_bytes: int = FILE_MAX_BYTES
) -> StoredFile:
    """Copy an upload into the private store (no database change). Refuses empty files and files
    over `max_bytes`, leaving nothing behind."""
    name = safe_filename(filename)
    relative = f"{int(merchant_id)}/{secrets.token_hex(16)}/{name}"
    target = files_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with target.open("xb") as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise CatalogError(
                        f"The file is larger than {max_bytes // (1024 * 1024)} MB.",
                        code="file_too_large",
                    )
                out.write(chunk)
        if size == 0:
            raise CatalogError("The file is empty.", code="empty_file")
    except BaseException:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise
    return StoredFile(relative, name, size)


def stored_file_path(merchant_id: int, relative_path: Any) -> Path:
    """The stored file, if `relative_path` is one of this merchant's in the private store."""
    if not isinstance(relative_path, str) or not relative_path:
        raise NotFound("The uploaded file was not found. Upload it again.")
    root = files_root().resolve()
    path = (root / relative_path).resolve()
    merchant_dir = (root / str(int(merchant_id))).resolve()
    if merchant_dir not in path.parents or not path.is_file():
        raise NotFound("The uploaded file was not found. Upload it again.")
    return path


def discard_stored_file(session: Session, merchant_id: int, relative_path: Any) -> bool:
    """Delete a stored file no asset refers to (an upload the staff did not use)."""
    try:
        path = stored_file_path(merchant_id, relative_path)
    except NotFound:
        return False
    used = session.exec(
        select(DigitalAsset.id).where(DigitalAsset.file_path == relative_path)
    ).first()
    if used is not None:
        return False
    shutil.rmtree(path.parent, ignore_errors=True)
    return True


def _clean_common(problems: Problems, name: Any, description: Any) -> tuple[str | None, str | None]:
    return name_and_description(problems, name, description, description_max=DESCRIPTION_MAX)


def _clean_limit(problems: Problems, download_limit: Any) -> int | None:
    if download_limit is None:
        return None
    return problems.whole(
        download_limit, "Download limit", low=1, high=DOWNLOAD_LIMIT_MAX, required=False
    )


def create_file_asset(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    name: Any,
    description: Any = "",
    stored_path: Any,
    download_limit: Any = None,
    actor: audit.Actor,
) -> DigitalAsset:
    """A downloadable file from a `store_file` result. `download_limit` per customer (None =
    unlimited)."""
    problems = Problems()
    clean_name, clean_description = _clean_common(problems, name, description)
    limit = _clean_limit(problems, download_limit)
    problems.check()
    path = stored_file_path(merchant_id, stored_path)
    taken = session.exec(
        select(DigitalAsset.id).where(DigitalAsset.file_path == stored_path)
    ).first()
    if taken is not None:
        raise CatalogError(
            "This upload is already a digital product. Upload the file again.", code="upload_used"
        )
    size = path.stat().st_size
    return _add_asset(
        session,
        clock,
        actor,
        {"size": size, "download_limit": limit},
        merchant_id=merchant_id,
        kind="file",
        name=clean_name,
        description=clean_description,
        file_path=stored_path,
        file_size=size,
        download_limit=limit,
    )


# --- links --------------------------------------------------------------------------------------

_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9-]{1,63})*$")


def clean_https_url(problems: Problems, url: Any) -> str | None:
    """An absolute https:// URL with a real host name, no credentials, spaces or control
    characters."""
    if not isinstance(url, str) or not url.strip():
        problems.add("Enter the link's address (https://…).")
        return None
    text = url.strip()
    if len(text) > URL_MAX:
        problems.add(f"The link can be at most {URL_MAX} characters.")
        return None
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in text):
        problems.add("The link cannot contain spaces or control characters.")
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _ = parts.port  # a malformed port raises ValueError
    except ValueError:
        problems.add("That link is not a valid address.")
        return None
    if parts.scheme.lower() != "https":
        problems.add("Links must start with https://.")
        return None
    if parts.username is not None or parts.password is not None:
        problems.add("Links cannot contain a user name or password.")
        return None
    if not _HOST.match(host) or "." not in host.strip("."):
        problems.add("That link has no valid host name.")
        return None
    return text


def create_link_asset(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    name: Any,
    description: Any = "",
    url: Any,
    actor: audit.Actor,
) -> DigitalAsset:
    problems = Problems()
    clean_name, clean_description = _clean_common(problems, name, description)
    clean_url = clean_https_url(problems, url)
    problems.check()
    return _add_asset(
        session,
        clock,
        actor,
        {"url": clean_url},
        merchant_id=merchant_id,
        kind="link",
        name=clean_name,
        description=clean_description,
        url=clean_url,
    )


# --- license keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyImport:
    added: int
    repeated_in_paste: int  # lines that repeated an earlier line of the same paste
    already_present: int  # keys that were already in a pool

    def summary(self) -> str:
        parts = [f"Added {self.added} key{'s' if self.added != 1 else ''}."]
        skipped = self.repeated_in_paste + self.already_present
        if skipped:
            parts.append(f"Skipped {skipped} duplicate{'s' if skipped != 1 else ''}.")
        return " ".join(parts)


def parse_keys(problems: Problems, text: Any) -> tuple[list[str], int]:
    """Keys pasted one per line: trimmed, blank lines ignored, repeats dropped (first kept).
    Returns (keys, repeats)."""
    if not isinstance(text, str):
        problems.add("Paste the keys as text, one per line.")
        return [], 0
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        problems.add("Paste at least one key, one per line.")
        return [], 0
    if len(lines) > KEYS_PER_PASTE:
        problems.add(f"Paste at most {KEYS_PER_PASTE:,} keys at a time.")
        return [], 0
    bad = [
        n
        for n, line in enumerate(lines, 1)
        if len(line) > KEY_MAX or any(ord(char) < 32 or ord(char) == 127 for char in line)
    ]
    if bad:
        shown = ", ".join(str(n) for n in bad[:5]) + ("…" if len(bad) > 5 else "")
        problems.add(
            f"Keys can be at most {KEY_MAX} characters without control characters "
            f"(see key {shown})."
        )
        return [], 0
    unique = list(dict.fromkeys(lines))
    return unique, len(lines) - len(unique)


def _new_keys(
    session: Session, keys: list[str], repeats: int, if_none: str
) -> tuple[list[str], KeyImport]:
    """The keys not in any pool yet (LicenseKey.key is unique across the store), and the tally;
    refused, with `if_none` said after why, when every key is already in a pool."""
    present: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        present.update(session.exec(select(LicenseKey.key).where(LicenseKey.key.in_(chunk))))
    fresh = [key for key in keys if key not in present]
    if not fresh:
        raise CatalogError(
            f"Every one of these keys is already in a pool. {if_none}", code="keys_pooled"
        )
    return fresh, KeyImport(len(fresh), repeats, len(present))


def _add_keys(session: Session, asset: DigitalAsset, fresh: list[str]) -> None:
    session.add_all([LicenseKey(asset_id=asset.id, key=key) for key in fresh])
    flush_or_conflict(session, "Some of these keys were added at the same time. Try again.")


def create_license_asset(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    name: Any,
    description: Any = "",
    keys_text: Any,
    actor: audit.Actor,
) -> tuple[DigitalAsset, KeyImport]:
    """A license-key pool: each customer on a granted plan gets one key on first view."""
    problems = Problems()
    clean_name, clean_description = _clean_common(problems, name, description)
    keys, repeats = parse_keys(problems, keys_text)
    problems.check()
    fresh, result = _new_keys(session, keys, repeats, "Paste new keys.")
    asset = _add_asset(
        session,
        clock,
        actor,
        {"keys_added": result.added},
        merchant_id=merchant_id,
        kind="license",
        name=clean_name,
        description=clean_description,
    )
    _add_keys(session, asset, fresh)
    return asset, result


def add_license_keys(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    asset_id: int,
    keys_text: Any,
    actor: audit.Actor,
) -> KeyImport:
    asset = get_asset(session, merchant_id, asset_id)
    if asset.kind != "license":
        raise CatalogError("Keys can only be added to a license-key product.")
    problems = Problems()
    keys, repeats = parse_keys(problems, keys_text)
    problems.check()
    fresh, result = _new_keys(session, keys, repeats, "Nothing was added.")
    before = key_counts(session, [asset.id]).get(asset.id, KeyCount())
    with _changing(session, clock, asset, actor, "asset.keys_add") as change:
        change.before = {"total": before.total, "available": before.available}
        _add_keys(session, asset, fresh)
        change.after = {
            "added": result.added,
            "skipped": result.repeated_in_paste + result.already_present,
        }
    return result


@dataclass(frozen=True)
class KeyCount:
    total: int = 0
    available: int = 0


def key_counts(session: Session, asset_ids: list[int]) -> dict[int, KeyCount]:
    if not asset_ids:
        return {}
    rows = session.exec(
        select(
            LicenseKey.asset_id,
            sa.func.count(LicenseKey.id),
            sa.func.count(LicenseKey.id).filter(LicenseKey.customer_id.is_(None)),
        )
        .where(LicenseKey.asset_id.in_(asset_ids))
        .group_by(LicenseKey.asset_id)
    ).all()
    return {asset_id: KeyCount(total, available) for asset_id, total, available in rows}


# --- editing and grants -------------------------------------------------------------------------


def update_asset(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    asset_id: int,
    name: Any,
    description: Any = "",
    download_limit: Any = None,
    url: Any = None,
    actor: audit.Actor,
) -> DigitalAsset:
    """Name and description; the download limit of a file; the address of a link."""
    asset = get_asset(session, merchant_id, asset_id)
    problems = Problems()
    clean_name, clean_description = _clean_common(problems, name, description)
    after: dict[str, Any] = {"name": clean_name, "description": clean_description}
    if asset.kind == "file":
        after["download_limit"] = _clean_limit(problems, download_limit)
    if asset.kind == "link":
        after["url"] = clean_https_url(problems, url)
    problems.check()
    edit(session, clock, asset, after, actor=actor, action="asset.update", target_type="asset")
    return asset


def _ids(value: Any, message: str) -> list[int]:
    if not isinstance(value, (list, tuple, set)) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise CatalogError(message, code="invalid_plans")
    return sorted(set(value))


def set_grants(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    asset_id: int,
    plan_ids: Any,
    product_ids: Any = None,
    actor: audit.Actor,
) -> list[int]:
    """Exactly these plans of the merchant grant the asset (an empty list revokes it from
    every subscriber), and, unless `product_ids` is None, exactly these products (customers
    who bought one keep it under Downloads; an empty list: no product grants it). Returns the
    plan ids, sorted."""
    asset = get_asset(session, merchant_id, asset_id)
    wanted = _ids(plan_ids, "Choose plans from the list.")
    for plan_id in wanted:
        get_plan(session, merchant_id, plan_id)  # another merchant's plan: NotFound
    wanted_products = None
    if product_ids is not None:
        wanted_products = _ids(product_ids, "Choose products from the list.")
        for product_id in wanted_products:
            get_product(session, merchant_id, product_id)  # another merchant's: NotFound
    grants = session.exec(select(AssetGrant).where(AssetGrant.asset_id == asset.id)).all()
    by_plan = {grant.plan_id: grant for grant in grants if grant.plan_id is not None}
    by_product = {grant.product_id: grant for grant in grants if grant.product_id is not None}
    current, current_products = sorted(by_plan), sorted(by_product)
    if current == wanted and wanted_products in (None, current_products):
        raise CatalogError("Nothing changed.", code="unchanged")
    with _changing(session, clock, asset, actor, "asset.grants") as change:
        change.before = {"plan_ids": current}
        change.after = {"plan_ids": wanted}
        changes = [(by_plan, wanted, "plan_id")]
        if wanted_products is not None:
            change.before["product_ids"] = current_products
            change.after["product_ids"] = wanted_products
            changes.append((by_product, wanted_products, "product_id"))
        for existing, chosen, column in changes:
            for key, grant in existing.items():
                if key not in chosen:
                    session.delete(grant)
            for key in set(chosen) - set(existing):
                session.add(AssetGrant(asset_id=asset.id, **{column: key}))
        flush_or_conflict(session, "The grants changed at the same time. Reload and try again.")
    return wanted


# --- the staff's view ---------------------------------------------------------------------------


@dataclass
class AssetRow:
    asset: DigitalAsset
    plans: list[Plan] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)  # granted once bought
    keys: KeyCount = field(default_factory=KeyCount)
    downloads: int = 0


def list_assets(session: Session, merchant_id: int) -> list[AssetRow]:
    """Every asset of the merchant with the plans and products granting it, its key pool and
    download count."""
    assets = session.exec(
        select(DigitalAsset)
        .where(DigitalAsset.merchant_id == merchant_id)
        .order_by(DigitalAsset.kind, DigitalAsset.name, DigitalAsset.id)
    ).all()
    rows = {asset.id: AssetRow(asset) for asset in assets}
    if not rows:
        return []
    for asset_id, plan in session.exec(
        select(AssetGrant.asset_id, Plan)
        .join(Plan, Plan.id == AssetGrant.plan_id)
        .where(AssetGrant.asset_id.in_(list(rows)))
        .order_by(Plan.tier, Plan.id)
    ).all():
        rows[asset_id].plans.append(plan)
    for asset_id, product in session.exec(
        select(AssetGrant.asset_id, Product)
        .join(Product, Product.id == AssetGrant.product_id)
        .where(AssetGrant.asset_id.in_(list(rows)))
        .order_by(Product.name, Product.id)
    ).all():
        rows[asset_id].products.append(product)
    for asset_id, count in key_counts(session, list(rows)).items():
        rows[asset_id].keys = count
    for asset_id, count in session.exec(
        select(DownloadEvent.asset_id, sa.func.count(DownloadEvent.id))
        .where(DownloadEvent.asset_id.in_(list(rows)))
        .group_by(DownloadEvent.asset_id)
    ).all():
        rows[asset_id].downloads = count
    return list(rows.values())


def product_grant_rows(
    session: Session, clock: Clock, *, merchant_id: int, asset_id: int
) -> list[dict[str, str]]:
    """The grants dialog's products ({"id", "label", "checked": "yes" or ""}): the merchant's
    products on sale, and archived ones while they still grant the asset. A product with no
    one-time price says so: nobody can buy it yet."""
    asset = get_asset(session, merchant_id, asset_id)
    granted = set(
        session.exec(
            select(AssetGrant.product_id).where(
                AssetGrant.asset_id == asset.id, AssetGrant.product_id.is_not(None)
            )
        )
    )
    products = session.exec(
        select(Product).where(Product.merchant_id == merchant_id).order_by(Product.name, Product.id)
    ).all()
    rows = []
    for product in products:
        if not product.active and product.id not in granted:
            continue
        note = "" if product.active else " (archived)"
        if product.one_time_amount is None:
            note += " (no one-time price)"
        rows.append(
            {
                "id": str(product.id),
                "label": product.name + note,
                "checked": "yes" if product.id in granted else "",
            }
        )
    return rows
