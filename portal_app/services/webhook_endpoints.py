"""The merchant's webhook endpoints: added with the event types they want and a `whsec_`
secret, rotated (the old secret keeps signing for 24 h), tested, disabled, deleted. A URL that
resolves to this machine or a private network is refused here and again at every delivery
(DNS can change), unless the operator allows it (PORTAL_WEBHOOK_ALLOW_PRIVATE=1)."""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import socket
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import WebhookEndpoint
from portal_app.services import audit, sealing
from portal_app.services.errors import NotFound, PortalError

MAX_ENDPOINTS = 16
ROTATION_OVERLAP = timedelta(hours=24)
SECRET_PREFIX = "whsec_"


class WebhookError(PortalError):
    code = "webhook_error"


def private_allowed() -> bool:
    return os.environ.get("PORTAL_WEBHOOK_ALLOW_PRIVATE", "") == "1"


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url(url: str, *, resolve: bool = True) -> str:
    """The URL, cleaned, or WebhookError. https only (http too when private addresses are
    allowed, for local receivers); with `resolve`, every address of the host must be public."""
    url = (url or "").strip()
    if not url:
        raise WebhookError("Enter the endpoint's URL.", code="url_required")
    if len(url) > 2000:
        raise WebhookError("The URL is too long (2,000 characters at most).", code="url_invalid")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookError("That URL is not valid.", code="url_invalid") from None
    allowed = ("https", "http") if private_allowed() else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise WebhookError("The URL must start with https://.", code="url_invalid")
    if parts.username or parts.password:
        raise WebhookError("Leave user names and passwords out of the URL.", code="url_invalid")
    if resolve and not private_allowed():
        try:
            infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            raise WebhookError(
                f"{parts.hostname} could not be resolved.", code="url_unresolvable"
            ) from None
        if any(_refused_address(info[4][0]) for info in infos):
            raise WebhookError(
                "The URL points at a private, loopback or link-local address.",
                code="url_private",
            )
    return url


def clean_event_types(types: Iterable[Any]) -> list[str]:
    from portal_app.services.webhook_events import EVENT_TYPES

    wanted = set()
    for value in types:
        if value not in EVENT_TYPES:
            raise WebhookError(f"Unknown event type {value!r}.", code="unknown_event_type")
        wanted.add(value)
    return [t for t in EVENT_TYPES if t in wanted]


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signing_secrets(endpoint: WebhookEndpoint, now) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during the
    rotation overlap."""
    keys = [sealing.unseal(endpoint.secret)]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and now < until:
        keys.append(sealing.unseal(endpoint.previous_secret))
    return keys


def snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types or ()),
        "enabled": endpoint.enabled,
    }


def create_endpoint(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    url: str,
    actor: audit.Actor,
    event_types: Iterable[Any] = (),
    description: str = "",
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown to the merchant; stored sealed)."""
    url = check_url(url)
    types = clean_event_types(event_types)
    count = len(session.exec(select(WebhookEndpoint.id).where(_of(merchant_id))).all())
    if count >= MAX_ENDPOINTS:
        raise WebhookError(
            f"A merchant has at most {MAX_ENDPOINTS} endpoints.", code="too_many_endpoints"
        )
    secret = new_secret()
    endpoint = WebhookEndpoint(
        merchant_id=merchant_id,
        url=url,
        description=(description or "").strip()[:200],
        event_types=types,
        secret=sealing.seal(secret),
        created_at=clock.now(),
    )
    session.add(endpoint)
    session.flush()
    audit.record_about(
        session,
        clock,
        endpoint,
        "webhookendpoint",
        actor=actor,
        action="webhook_endpoint.create",
        after=snapshot(endpoint),
    )
    return endpoint, secret


def _of(merchant_id: int):
    return WebhookEndpoint.merchant_id == merchant_id


def get_endpoint(session: Session, merchant_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.merchant_id != merchant_id:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def list_endpoints(session: Session, merchant_id: int) -> list[WebhookEndpoint]:
    return list(
        session.exec(select(WebhookEndpoint).where(_of(merchant_id)).order_by(WebhookEndpoint.id))
    )


def update_endpoint(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    endpoint_id: int,
    actor: audit.Actor,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[Any] | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given; enabling again clears the failure streak."""
    endpoint = get_endpoint(session, merchant_id, endpoint_id)
    with audit.changing(
        session,
        clock,
        endpoint,
        actor=actor,
        action="webhook_endpoint.update",
        snapshot=snapshot,
        claim=True,
        only_if_changed=True,
    ):
        if url is not None:
            endpoint.url = check_url(url)
        if description is not None:
            endpoint.description = description.strip()[:200]
        if event_types is not None:
            endpoint.event_types = clean_event_types(event_types)
        if enabled is not None and enabled != endpoint.enabled:
            endpoint.enabled = bool(enabled)
            endpoint.disabled_reason = "" if enabled else "Disabled by staff."
            endpoint.failing_since = None
    return endpoint


def rotate_secret(
    session: Session, clock: Clock, *, merchant_id: int, endpoint_id: int, actor: audit.Actor
) -> str:
    """A new secret; the old one keeps signing (beside the new) for ROTATION_OVERLAP."""
    endpoint = get_endpoint(session, merchant_id, endpoint_id)
    secret = new_secret()
    with audit.changing(
        session, clock, endpoint, actor=actor, action="webhook_endpoint.rotate_secret", claim=True
    ) as change:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = clock.now() + ROTATION_OVERLAP
        endpoint.secret = sealing.seal(secret)
        change.after = {"previous_secret_until": endpoint.previous_secret_until.isoformat()}
    return secret


def delete_endpoint(
    session: Session, clock: Clock, *, merchant_id: int, endpoint_id: int, actor: audit.Actor
) -> None:
    """The endpoint, its deliveries and their attempts (the events stay: other endpoints may
    have them)."""
    from portal_app.services import webhook_delivery

    endpoint = get_endpoint(session, merchant_id, endpoint_id)
    before = snapshot(endpoint)
    webhook_delivery.forget_endpoint(session, endpoint.id)
    session.delete(endpoint)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="webhook_endpoint.delete",
        target_type="webhookendpoint",
        target_id=endpoint_id,
        before=before,
    )
