"""The REST API beside bare Starlette routes doing the same service calls, for `api.py`.

/api/v1/… is the app's API (FastAPI: key, scope and rate checks, validation, idempotency).
/bare/state/{id} and POST /bare/subscriptions authenticate the key and call the same services
(customer_accounts.state; subscriptions.create) in the same units of work, and nothing else, so
the ratio is what the API's layer costs. Served by granian: `bench._api_app:app`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("BENCH_APP_DIR") or str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from portal_app.api.app import PREFIX, build_api
from portal_app.clock import SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.services import api_keys, customer_accounts, features, subscriptions
from portal_app.services.api_objects import SubscriptionObject
from portal_app.services.gateway import configured_gateway

CLOCK = SystemClock()


def _key(request: Request):
    raw = request.headers.get("authorization", "")[7:]
    with session_scope() as session:
        return api_keys.authenticate_api_key(session, CLOCK, raw)


def state(request: Request) -> Response:
    key = _key(request)
    with read_scope() as session, features.as_merchant():
        customer = customer_accounts.get(
            session, key.merchant_id, int(request.path_params["customer_id"])
        )
        body = customer_accounts.state(session, customer).model_dump_json()
    return Response(body, media_type="application/json")


async def create(request: Request) -> Response:
    payload = json.loads(await request.body())
    return _create(request, payload)


def _create(request: Request, payload: dict) -> Response:
    key = _key(request)
    with session_scope() as session, features.as_merchant():
        row = subscriptions.create(
            session,
            CLOCK,
            configured_gateway(),
            customer_id=int(payload["customer_id"]),
            price_id=int(payload["price_id"]),
            actor=api_keys.api_actor(key),
        )
        body = SubscriptionObject.of(row).model_dump_json()
    return Response(body, media_type="application/json")


app = Starlette(
    routes=[
        Route("/bare/state/{customer_id:int}", state),
        Route("/bare/subscriptions", create, methods=["POST"]),
        Mount(PREFIX, app=build_api()),
    ]
)
