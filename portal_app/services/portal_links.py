"""The one-time portal links merchant API keys (and staff, for support) create: like Stripe's
and Polar's portal sessions, a link that signs one customer in (services.magic_links redeems
it). The keys themselves are services/api_keys.py."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session

from portal_app import routes
from portal_app.clock import Clock
from portal_app.config import load_settings
from portal_app.models import ApiKey, Customer
from portal_app.services import api_keys, audit, features
from portal_app.services.auth import PORTAL_LINK_TTL, AuthError
from portal_app.services.magic_links import issue_token, verify_link


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
        actor=api_keys.api_actor(api_key),
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
