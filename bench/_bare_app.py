"""The overview's service call behind a bare Starlette route, for `ws_roundtrip.py`'s comparison.

GET /overview does what `@guarded("customer")` + `PortalState.load` do for one event, without
Reflex: the session from the cookie (`auth.load_session` in a unit of work, which also moves the
idle deadline), then `read_overview` in a read-only unit of work, answered as JSON. Like the Reflex
handler, it runs the (synchronous) database work on the event loop, so the comparison is about the
framework around the call. Served by granian: `granian --interface asgi bench._bare_app:app`."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("BENCH_APP_DIR") or str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal_app.clock import SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.http.common import cookie_name
from portal_app.services import auth
from portal_app.services.portal_home_view import overview as read_overview

CLOCK = SystemClock()


async def overview(request: Request) -> Response:
    try:
        with session_scope() as session:
            row = auth.load_session(
                session, CLOCK, request.cookies.get(cookie_name()), role="customer"
            )
            customer_id, session_row_id = row.customer_id, row.id
    except auth.SessionEnded as exc:
        return JSONResponse({"error": str(exc)}, status_code=401)
    with read_scope() as session:
        data = read_overview(session, CLOCK, customer_id=customer_id, session_row_id=session_row_id)
    return JSONResponse(dataclasses.asdict(data))


async def ping(_request: Request) -> Response:
    return Response("pong")


app = Starlette(routes=[Route("/overview", overview), Route("/ping", ping)])
