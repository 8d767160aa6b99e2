"""Staff → Developers (owners and admins), for the screen: the merchant's API keys as rows
(prefix, permissions, last use) and the permission choices of the create form, per resource
none / read / read and write (services/api_keys.py keeps the rules)."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.services import api_keys, audit
from portal_app.services.api_keys import ApiKeyError

LEVELS = ("none", "read", "write")


class KeyRow(TypedDict):
    id: str
    name: str
    prefix: str
    permissions: str  # "Customers: write · Invoices: read"
    created: str
    last_used: str  # "Never" before the first call
    status: str  # live | revoked


class ResourceChoice(TypedDict):
    resource: str
    label: str


RESOURCE_CHOICES: list[ResourceChoice] = [
    {"resource": r, "label": api_keys.RESOURCE_LABELS[r]} for r in api_keys.RESOURCES
]


def _permissions(scopes: list[str]) -> str:
    parts = []
    for resource in api_keys.RESOURCES:
        if f"{resource}:write" in scopes:
            parts.append(f"{api_keys.RESOURCE_LABELS[resource]}: read and write")
        elif f"{resource}:read" in scopes:
            parts.append(f"{api_keys.RESOURCE_LABELS[resource]}: read")
    return " · ".join(parts) or "None"


def keys(session: Session, clock: Clock, *, merchant_id: int) -> list[KeyRow]:
    when = formatting.iso_minute_utc
    return [
        {
            "id": str(k.id),
            "name": k.name,
            "prefix": k.prefix + "…",
            "permissions": _permissions(list(k.scopes or ())),
            "created": when(k.created_at),
            "last_used": when(k.last_used_at) if k.last_used_at else "Never",
            "status": "revoked" if k.revoked_at else "live",
        }
        for k in api_keys.list_keys(session, merchant_id)
    ]


def scopes_from_form(form: dict[str, Any]) -> list[str]:
    """`scope_<resource>` fields (none | read | write) as scopes; anything else is refused."""
    scopes = []
    for resource in api_keys.RESOURCES:
        level = str(form.get(f"scope_{resource}", "none"))
        if level not in LEVELS:
            raise ApiKeyError("Choose none, read or read and write for each resource.")
        if level != "none":
            scopes.append(f"{resource}:{level}")
    return scopes


def create(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    form: dict[str, Any],
    actor: audit.Actor,
    staff_id: int,
) -> str:
    return api_keys.create_api_key(
        session,
        clock,
        merchant_id=merchant_id,
        name=str(form.get("name", ""))[:200],
        scopes=scopes_from_form(form),
        actor=actor,
        staff_id=staff_id,
    )
