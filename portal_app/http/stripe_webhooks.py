"""`POST /webhooks/stripe`: Stripe's events in (services/stripe_events.py). 400 for a bad or old
signature (nothing changed), 200 once the event is taken (or was taken before), 503 when our
database or Stripe can't be reached, so Stripe sends it again. 404 while the sandbox charges."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal_app.config import load_settings
from portal_app.db import session_scope
from portal_app.http.routes import CLOCK, _run_sync
from portal_app.services import stripe_events
from portal_app.services.errors import GatewayUnavailable, ServiceUnavailable
from portal_app.services.gateway import configured_gateway

PATH = "/webhooks/stripe"
MAX_BYTES = 1024 * 1024  # Stripe's events are far smaller
log = logging.getLogger(__name__)


async def receive(request: Request) -> Response:
    settings = load_settings().stripe
    if settings is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    payload = await request.body()
    if len(payload) > MAX_BYTES:
        return JSONResponse({"error": "too large"}, status_code=413)
    signature = request.headers.get("stripe-signature")
    return await _run_sync(_receive, payload, signature, settings.webhook_secret)


def _receive(payload: bytes, signature: str | None, secret: str) -> Response:
    try:
        event = stripe_events.verify(payload, signature, secret)
    except stripe_events.BadSignature:
        return JSONResponse({"error": "bad signature"}, status_code=400)
    try:
        with session_scope() as session:
            taken = stripe_events.take(session, CLOCK, configured_gateway(), event)
    except (GatewayUnavailable, ServiceUnavailable) as error:
        log.warning("stripe event %s not taken: %s", event.get("id"), error)
        return JSONResponse({"error": "try again"}, status_code=503)
    return JSONResponse({"received": True, "outcome": taken.outcome})


ROUTES = [Route(PATH, receive, methods=["POST"])]
