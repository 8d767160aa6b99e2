"""What every REST API operation shares: the caller (a scoped API key), errors as one JSON shape,
reads and writes as units of work run for the merchant, `Idempotency-Key`, and cursor pages.

An operation is a plain FastAPI function that declares its parameters (FastAPI turns them into
the OpenAPI document and refuses bad input before it runs) and hands a function of the session
to `read` or `write`. The services do the work; nothing here knows a business rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from portal_app.clock import SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.http import common
from portal_app.services import api_keys, audit, features, idempotency, ratelimit
from portal_app.services.errors import (
    CardError,
    ConcurrentChange,
    FeatureDisabled,
    NotFound,
    PaymentInProgress,
    PortalError,
)

CLOCK = SystemClock()
T = TypeVar("T")


class ApiInput(BaseModel):
    """A request body: exactly the fields the document lists, of exactly their JSON types
    (0 is not false, "5" is not 5), as the OpenAPI document promises; dates are ISO strings."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorDetail(BaseModel):
    type: Literal[
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found",
        "conflict",
        "idempotency_error",
        "card_error",
        "rate_limit_error",
        "api_error",
    ]
    code: str
    message: str
    param: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """A refusal the HTTP layer itself decides (authentication, scope, a parameter)."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.type, self.code, self.param = status, type_, code, param
        self.headers = headers or {}


def error_response(
    status: int,
    type_: str,
    code: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"type": type_, "code": code, "message": message, "param": param}}
    return JSONResponse(
        body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


def refusal(exc: PortalError) -> JSONResponse:
    """A service's refusal, its rule's code kept: the same words a customer would read."""
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", exc.code, str(exc))
    if isinstance(exc, ConcurrentChange | PaymentInProgress):
        return error_response(409, "conflict", exc.code, str(exc))
    if isinstance(exc, CardError):
        return error_response(402, "card_error", exc.code, str(exc))
    if isinstance(exc, FeatureDisabled):
        return error_response(403, "permission_error", exc.code, str(exc))
    return error_response(400, "invalid_request_error", exc.code, str(exc))


# --- the caller --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    key_id: int
    merchant_id: int
    prefix: str
    actor: audit.Actor


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def caller(scope: str) -> Callable[[Request], Caller]:
    """The dependency of an operation that needs `scope`: 401 without a live key, 429 past the
    key's rate, 403 without the scope. The key is read at every request: a revoked key is
    refused from the next one on."""

    def authenticate(request: Request) -> Caller:
        raw = _bearer(request)
        with session_scope() as session:
            key = api_keys.authenticate_api_key(session, CLOCK, raw)
            if key is None:
                raise ApiError(
                    401,
                    "authentication_error",
                    "invalid_api_key",
                    "Send a live API key as 'Authorization: Bearer sk_portal_…'.",
                )
            found = Caller(
                key.id,
                key.merchant_id,
                key.prefix,
                api_keys.api_actor(
                    key,
                    ip=common.client_ip(request),
                    user_agent=request.headers.get("user-agent", "")[:300],
                ),
            )
            allowed = api_keys.allows(key, scope)
        decision = ratelimit.get_limiter().hit(("api_key", found.prefix))
        if not decision.allowed:
            raise ApiError(
                429,
                "rate_limit_error",
                "rate_limited",
                decision.message(),
                headers={"Retry-After": str(decision.retry_after_seconds)},
            )
        if not allowed:
            raise ApiError(
                403,
                "permission_error",
                "missing_scope",
                f"This key does not have the {scope} permission.",
            )
        return found

    return Depends(authenticate)


# --- reads and writes --------------------------------------------------------------------------


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=_encode, separators=(",", ":"))


def _encode(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _respond(status: int, body: str, **headers: str) -> Response:
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **headers},
    )


def read(work: Callable[[Session], Any]) -> Response:
    """A read: no write lock, toggles lifted for the merchant (features.as_merchant)."""
    try:
        with read_scope() as session, features.as_merchant():
            result = work(session)
    except PortalError as exc:
        return refusal(exc)
    if isinstance(result, Response):
        return result
    return _respond(200, _json(result))


def write(
    request: Request,
    who: Caller,
    work: Callable[[Session, str | None], Any],
    *,
    params: BaseModel | dict | None = None,
    status: int = 200,
) -> Response:
    """A change, in one transaction with its audit events. With an `Idempotency-Key` the first
    response is stored in that same transaction and replayed to every retry (services/
    idempotency.py); `work(session, key)` gets the key to name its charges after."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return _run(work, None, None, status)
    if not key or len(key) > idempotency.MAX_KEY_LENGTH or not key.isprintable():
        return error_response(
            400,
            "invalid_request_error",
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_LENGTH} printable characters.",
            param="Idempotency-Key",
        )
    fingerprint = idempotency.request_hash(request.method, request.url.path, _json(params or {}))
    outcome = idempotency.begin(
        CLOCK,
        merchant_id=who.merchant_id,
        api_key_id=who.key_id,
        key=key,
        fingerprint=fingerprint,
    )
    if outcome.replay is not None:
        return _respond(
            outcome.replay.status_code, outcome.replay.body, **{"Idempotent-Replayed": "true"}
        )
    if outcome.refusal == "mismatch":
        return error_response(
            422,
            "idempotency_error",
            "idempotency_key_reused",
            "This Idempotency-Key was used with other parameters. Use a new key.",
        )
    if outcome.refusal == "in_progress":
        return error_response(
            409,
            "conflict",
            "idempotency_in_progress",
            "A request with this Idempotency-Key is still running. Retry in a moment.",
        )
    return _run(work, key, outcome.record_id, status)


def _run(work, key: str | None, record_id: int | None, status: int) -> Response:
    try:
        with session_scope() as session, features.as_merchant():
            result = work(session, key)
            body = _json(result)
            if record_id is not None:
                idempotency.finish(session, record_id, status, body)
    except PortalError as exc:
        response = refusal(exc)
        if record_id is not None:
            idempotency.finish_alone(record_id, response.status_code, response.body.decode())
        return response
    except BaseException:
        if record_id is not None:
            idempotency.release(record_id)  # the work rolled back: a retry may run it
        raise
    return _respond(status, body)


# --- lists -------------------------------------------------------------------------------------


class ListOf(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool = Field(
        description="More rows after the last one: pass its id as starting_after."
    )


Limit = Query(10, ge=1, le=100, description="How many objects, 1 to 100.")
StartingAfter = Query(
    None, ge=1, le=2**53, description="The id of the last object of the previous page."
)


def page(session: Session, query, model, limit: int, starting_after: int | None):
    """Newest first by id, `limit` rows after the cursor: stable while rows are added (a new
    row has a higher id than every cursor already handed out)."""
    if starting_after is not None:
        query = query.where(model.id < starting_after)
    rows = list(session.exec(query.order_by(model.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def listing(rows: list, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": rows, "has_more": has_more}


def owned(model, merchant_id: int, **equal: Any):
    """The merchant's rows of `model`, narrowed to each given column's value (None: any)."""
    query = select(model).where(model.merchant_id == merchant_id)
    for column, value in equal.items():
        if value is not None:
            query = query.where(getattr(model, column) == value)
    return query


def list_page(
    query, model, limit: int, starting_after: int | None, objects: Callable[[Session, list], list]
) -> Response:
    """One cursor page of `query` as a list response; `objects` makes the page's API objects
    (with the session, for objects that read more, in one query for the page)."""

    def work(session: Session):
        rows, more = page(session, query, model, limit, starting_after)
        return listing(objects(session, rows), more)

    return read(work)


def each(api_object) -> Callable[[Session, list], list]:
    """`objects` for `list_page` when each row makes its object alone (`ApiObject.of(row)`)."""
    return lambda _session, rows: [api_object.of(row) for row in rows]
