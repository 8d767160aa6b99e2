"""Merchant API keys: created with scopes (read / write per resource), shown once, listed by
prefix and last use, revoked at once. Only a keyed hash and a short prefix are kept, so a
database dump authenticates no one."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import ApiKey
from portal_app.services import audit
from portal_app.services.auth import keyed_hash, plausible_token
from portal_app.services.errors import NotFound, PortalError

RESOURCES = (
    "customers",
    "checkouts",
    "subscriptions",
    "invoices",
    "orders",
    "catalog",
    "portal_sessions",
    "webhooks",
)
SCOPES = tuple(f"{r}:{a}" for r in RESOURCES for a in ("read", "write"))
ALL_SCOPES = list(SCOPES)
LAST_USED_EVERY = timedelta(seconds=60)
RESOURCE_LABELS = {
    "customers": "Customers",
    "checkouts": "Checkout sessions",
    "subscriptions": "Subscriptions",
    "invoices": "Invoices",
    "orders": "Orders",
    "catalog": "Plans, products and coupons",
    "portal_sessions": "Portal sessions",
    "webhooks": "Webhook endpoints",
}


class ApiKeyError(PortalError):
    code = "api_key"


def clean_scopes(scopes: Iterable[Any]) -> list[str]:
    """Known scopes only, each once, in the catalogue's order; write brings its read."""
    wanted = set()
    for scope in scopes:
        if scope not in SCOPES:
            raise ApiKeyError(f"Unknown scope {scope!r}.", code="unknown_scope")
        wanted.add(scope)
        if scope.endswith(":write"):
            wanted.add(scope.replace(":write", ":read"))
    if not wanted:
        raise ApiKeyError("Choose at least one permission for the key.", code="no_scopes")
    return [s for s in SCOPES if s in wanted]


def allows(key: ApiKey, scope: str) -> bool:
    return scope in (key.scopes or ())


def create_api_key(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    name: str,
    actor: audit.Actor,
    scopes: Iterable[str] | None = None,
    staff_id: int | None = None,
) -> str:
    """Returns the key once. Without `scopes` (the CLI's default) the key may do everything."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApiKeyError("Give the key a name of 1 to 100 characters.", code="invalid_name")
    raw = "sk_portal_" + secrets.token_urlsafe(32)
    key = ApiKey(
        merchant_id=merchant_id,
        name=name,
        prefix=raw[:14],
        key_hash=keyed_hash(raw),
        created_at=clock.now(),
        scopes=clean_scopes(ALL_SCOPES if scopes is None else scopes),
        created_by_staff_id=staff_id,
    )
    with audit.changing(
        session, clock, key, actor=actor, action="api_key.create", target_type="api_key"
    ) as change:
        change.after = {"prefix": key.prefix, "name": key.name, "scopes": key.scopes}
    return raw


def authenticate_api_key(session: Session, clock: Clock, raw: str | None) -> ApiKey | None:
    """The live key for a raw secret, its last use stamped; None for anything else."""
    if not plausible_token(raw):
        return None
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == keyed_hash(raw))).first()
    if key is None or key.revoked_at is not None:
        return None
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        key.last_used_at = now  # to the minute: a read does not take the write lock each time
        session.add(key)
    return key


def list_keys(session: Session, merchant_id: int) -> list[ApiKey]:
    """Live keys first, newest first."""
    rows = session.exec(
        select(ApiKey).where(ApiKey.merchant_id == merchant_id).order_by(ApiKey.id.desc())
    ).all()
    return sorted(rows, key=lambda k: k.revoked_at is not None)


def revoke(
    session: Session, clock: Clock, *, merchant_id: int, key_id: int, actor: audit.Actor
) -> ApiKey:
    """Refused from the next request on (every request re-reads the key)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.merchant_id != merchant_id:
        raise NotFound("API key not found.")
    if key.revoked_at is not None:
        raise ApiKeyError("This key is already revoked.", code="already_revoked")
    with audit.changing(
        session, clock, key, actor=actor, action="api_key.revoke", target_type="api_key"
    ) as change:
        key.revoked_at = clock.now()
        change.after = {"prefix": key.prefix, "revoked_at": key.revoked_at.isoformat()}
    return key


def api_actor(key: ApiKey, *, ip: str = "", user_agent: str = "") -> audit.Actor:
    """Every write through the API is audited with the key's id as the actor."""
    return audit.Actor("api", str(key.id), ip=ip, user_agent=user_agent)


def describe(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes or ()),
        "created_at": _iso(key.created_at),
        "last_used_at": _iso(key.last_used_at),
        "revoked_at": _iso(key.revoked_at),
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
