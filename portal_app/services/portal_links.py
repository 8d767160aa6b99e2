"""Merchant API keys and the one-time portal links they (and staff, for support) create: like
Stripe's and Polar's portal sessions, a link that signs one customer in (services.magic_links
redeems it). Keys are returned once; only their keyed hash and a short prefix are kept."""

from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session, select

from portal_app import routes
from portal_app.clock import Clock
from portal_app.config import load_settings
from portal_app.models import ApiKey, Customer
from portal_app.services import audit, features
from portal_app.services.auth import PORTAL_LINK_TTL, AuthError, keyed_hash, plausible_token
from portal_app.services.magic_links import issue_token, verify_link


def create_api_key(
    session: Session, clock: Clock, *, merchant_id: int, name: str, actor: audit.Actor
) -> str:
    """Returns the key once; only its keyed hash and a short prefix are kept."""
    raw = "sk_portal_" + secrets.token_urlsafe(32)
    key = ApiKey(
        merchant_id=merchant_id,
        name=name[:100],
        prefix=raw[:14],
        key_hash=keyed_hash(raw),
        created_at=clock.now(),
    )
    with audit.changing(
        session, clock, key, actor=actor, action="api_key.create", target_type="api_key"
    ) as change:
        change.after = {"prefix": key.prefix, "name": key.name}
    return raw


def authenticate_api_key(session: Session, clock: Clock, raw: str | None) -> ApiKey | None:
    if not plausible_token(raw):
        return None
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == keyed_hash(raw))).first()
    if key is None or key.revoked_at is not None:
        return None
    key.last_used_at = clock.now()
    session.add(key)
    return key


def allowed_return_url(url: str, public_url: str, allowed_origins: list[str]) -> bool:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    own = urlsplit(public_url)
    return origin == f"{own.scheme}://{own.netloc}".lower() or origin in {
        o.rstrip("/").lower() for o in allowed_origins
    }


def create_portal_link(
    session: Session, clock: Clock, *, api_key: ApiKey, customer_id: int, return_url: str | None
) -> tuple[str, datetime]:
    """Like Stripe's and Polar's portal sessions: a one-time link for one customer."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merchant_id != api_key.merchant_id:
        raise AuthError("No such customer.", code="not_found")
    settings = load_settings()
    origins = features.load(session, api_key.merchant_id)["api.return_url_origins"]
    if return_url and not allowed_return_url(return_url, settings.public_url, origins):
        raise AuthError(
            "return_url must be on this portal or an allowed origin.", code="return_url_not_allowed"
        )
    token = issue_token(
        session,
        clock,
        customer=customer,
        purpose="portal_link",
        return_to="/",
        ttl=PORTAL_LINK_TTL,
        return_url=return_url,
    )
    audit.record_for_customer(
        session,
        clock,
        customer,
        actor=audit.Actor("api", api_key.prefix),
        action="portal_link.create",
    )
    return verify_link(token), clock.now() + PORTAL_LINK_TTL


def issue_support_link(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    customer_id: int,
    actor: audit.Actor,
    acting_staff_id: int | None = None,
) -> str:
    """Merchant staff create a one-time portal link for a customer (same rules as the API's);
    returns the full URL. With `acting_staff_id` (support) the session it opens is marked as
    that member acting for the customer; the preview's stand-in customer goes without."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merchant_id != merchant_id:
        raise AuthError("No such customer.", code="not_found")
    token = issue_token(
        session,
        clock,
        customer=customer,
        purpose="portal_link",
        return_to=routes.PORTAL_HOME,
        ttl=PORTAL_LINK_TTL,
        acting_staff_id=acting_staff_id,
    )
    audit.record_for_customer(
        session,
        clock,
        customer,
        actor=actor,
        action="portal_link.create",
        after={"acting_staff_id": acting_staff_id} if acting_staff_id is not None else None,
    )
    return verify_link(token)
