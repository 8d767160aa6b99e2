"""GET /brand/<merchant id>/logo: the merchant's uploaded logo (services/brand_logo), public like
any logo on a page. The URL carries the logo's digest, so a matching `v` is cached for a day and
a new upload is a new URL; an SVG is served with a policy that lets it run nothing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal_app.db import read_scope
from portal_app.http.routes import _run_sync
from portal_app.services import brand_logo, features

PATH = "/brand/{merchant_id:int}/logo"


def _logo(merchant_id: int) -> str:
    with read_scope() as session:
        return features.load(session, merchant_id)["branding.logo"]


async def logo(request: Request) -> Response:
    stored = await _run_sync(_logo, request.path_params["merchant_id"])
    decoded = brand_logo.decode(stored)
    if decoded is None:
        return Response("No logo.", status_code=404, media_type="text/plain")
    mime, data = decoded
    current = request.query_params.get("v") == brand_logo.digest(stored)
    headers = {
        "Cache-Control": "public, max-age=86400, immutable" if current else "no-cache",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    return Response(data, media_type=mime, headers=headers)


ROUTES = [Route(PATH, logo, methods=["GET", "HEAD"])]
