"""The API application: its routers, errors as `{"error": {type, code, message, param}}` for
every failure (no input yields a 500 page or a stack trace), the OpenAPI 3.1 document at
/api/v1/openapi.json and a reference page rendered from it by the app itself (no CDN)."""

from __future__ import annotations

import html
import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from portal_app.api import (
    catalog,
    checkouts,
    core,
    customers,
    invoices,
    orders,
    portal_sessions,
    subscriptions,
    webhook_endpoints,
)
from portal_app.services.errors import PortalError, ServiceUnavailable

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
ERRORS = {
    status: {"model": core.ErrorBody, "description": text}
    for status, text in {
        400: "Bad input, or a business rule refused it (see error.code).",
        401: "No live API key.",
        402: "The card was declined.",
        403: "The key lacks the scope.",
        404: "No such object (or not this merchant's).",
        409: "A concurrent change, or the same Idempotency-Key still running.",
        422: "The Idempotency-Key was used with other parameters.",
        429: "Too many requests for this key; see Retry-After.",
        503: "The database is unreachable; retry.",
    }.items()
}


def _status_type(status: int) -> str:
    return {401: "authentication_error", 403: "permission_error", 404: "not_found"}.get(
        status, "invalid_request_error"
    )


async def _api_error(request: Request, exc: core.ApiError) -> JSONResponse:
    return core.error_response(exc.status, exc.type, exc.code, str(exc), exc.param, exc.headers)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 for bad input becomes Stripe's 400 naming the first bad parameter."""
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(location) or None
    message = first.get("msg", "Invalid request.")
    if param:
        message = f"{param}: {message}"
    return core.error_response(400, "invalid_request_error", "parameter_invalid", message, param)


async def _http(request: Request, exc: HTTPException, schema: dict) -> JSONResponse:
    code = {404: "route_not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "Request refused."
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"No operation at {request.method} {request.url.path}."
    if exc.status_code == 405:
        # Starlette names the methods of the first route that matched the path only; every
        # route of this path counts (GET and POST /customers are two routes).
        allowed = _methods_at(request, schema)
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not allowed here; use {' or '.join(allowed)}."
    return core.error_response(
        exc.status_code, _status_type(exc.status_code), code, message, headers=headers
    )


def _methods_at(request: Request, schema: dict) -> list[str]:
    """The methods the OpenAPI document lists for this path (its templates as patterns)."""
    path = request.url.path.removeprefix(PREFIX) or "/"
    found: set[str] = set()
    for template, operations in schema["paths"].items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            found.update(method.upper() for method in operations)
    return sorted(found) or ["GET"]


async def _unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
    return core.error_response(
        503, "api_error", "unavailable", str(exc), headers={"Retry-After": "30"}
    )


async def _portal(request: Request, exc: PortalError) -> JSONResponse:
    return core.refusal(exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("API %s %s failed", request.method, request.url.path)
    return core.error_response(500, "api_error", "internal", "Something went wrong on our side.")


def build_api() -> FastAPI:
    api = FastAPI(
        title="Portal API",
        version="1.0.0",
        summary="The merchant's own code: customers, checkout, subscriptions, orders, webhooks.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=ERRORS,
        exception_handlers={
            core.ApiError: _api_error,
            RequestValidationError: _invalid,
            ServiceUnavailable: _unavailable,
            PortalError: _portal,
            Exception: _unexpected,
        },
    )
    for module in (
        customers,
        checkouts,
        subscriptions,
        invoices,
        orders,
        catalog,
        portal_sessions,
        webhook_endpoints,
    ):
        api.include_router(module.router)

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return await _http(request, exc, api.openapi())

    api.add_exception_handler(HTTPException, http_error)
    api.openapi_schema = None

    def openapi():
        if api.openapi_schema is None:
            schema = FastAPI.openapi(api)
            schema["servers"] = [{"url": PREFIX}]
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "sk_portal_…"}
            }
            schema["security"] = [{"bearer": []}]
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi

    @api.get("/reference", include_in_schema=False)
    def reference() -> HTMLResponse:
        return HTMLResponse(render_reference(api.openapi()))

    return api


def render_reference(schema: dict) -> str:
    """Every operation with its parameters, from the OpenAPI document: a page that needs no
    script and no CDN (the CSP forbids both)."""
    rows = []
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            params = [
                f"<code>{html.escape(p['name'])}</code> ({p['in']})"
                for p in op.get("parameters", ())
                if p.get("in") in ("path", "query")
            ]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            if ref:
                params.append(f"body: <code>{html.escape(ref.rsplit('/', 1)[-1])}</code>")
            rows.append(
                "<tr>"
                f"<td><code>{method.upper()} {PREFIX}{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}"
                f"<br><small>{html.escape(op.get('description', '') or '')}</small></td>"
                f"<td>{', '.join(params) or '—'}</td></tr>"
            )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Portal API reference</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:1rem;max-width:72rem}"
        "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;"
        "padding:.4rem;text-align:left;vertical-align:top}code{font-size:.9em}"
        "@media(max-width:600px){td{display:block}}</style></head><body>"
        f"<h1>{html.escape(schema['info']['title'])} {html.escape(schema['info']['version'])}</h1>"
        "<p>Authenticate with <code>Authorization: Bearer sk_portal_…</code>. Every POST takes "
        "an <code>Idempotency-Key</code>. Errors are "
        '<code>{"error": {"type", "code", "message", "param"}}</code>. '
        f"The machine-readable document: <a href='{PREFIX}/openapi.json'>openapi.json</a>.</p>"
        "<table><thead><tr><th>Operation</th><th>What it does</th><th>Parameters</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )
