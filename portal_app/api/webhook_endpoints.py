"""`/webhook-endpoints`: the merchant's app adds, reads, changes, rotates, tests and deletes the
endpoints Portal posts events to (services/webhook_endpoints.py; docs/WEBHOOKS.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import Field

from portal_app.api import core
from portal_app.services import webhook_delivery, webhook_endpoints
from portal_app.services.api_objects import WebhookEndpointObject, WebhookEndpointWithSecret

router = APIRouter(prefix="/webhook-endpoints", tags=["webhook endpoints"])
EndpointId = Annotated[int, Path(ge=1, le=2**53)]
EventType = Annotated[str, Field(max_length=64)]


class EndpointUpdate(core.ApiInput):
    url: str | None = Field(None, max_length=2000)
    description: str | None = Field(None, max_length=200)
    event_types: list[EventType] | None = Field(
        None, max_length=64, description="Event types to send; empty: every type."
    )
    enabled: bool | None = None


class EndpointCreate(core.ApiInput):
    url: str = Field(..., max_length=2000, description="https:// and publicly reachable.")
    description: str = Field("", max_length=200)
    event_types: list[EventType] = Field(default_factory=list, max_length=64)


class TestSent(core.ApiInput):
    object: str = "webhook_test"
    delivery_id: int


@router.post("", response_model=WebhookEndpointWithSecret, summary="Add an endpoint")
def create_endpoint(request: Request, body: EndpointCreate, who=core.caller("webhooks:write")):
    """The new endpoint with its `whsec_` signing secret, shown this once."""

    def work(session, _key):
        endpoint, secret = webhook_endpoints.create_endpoint(
            session,
            core.CLOCK,
            merchant_id=who.merchant_id,
            url=body.url,
            actor=who.actor,
            event_types=body.event_types,
            description=body.description,
        )
        return WebhookEndpointWithSecret(
            **WebhookEndpointObject.of(endpoint).model_dump(), secret=secret
        )

    return core.write(request, who, work, params=body)


@router.get("", response_model=core.ListOf[WebhookEndpointObject], summary="List endpoints")
def list_endpoints(who=core.caller("webhooks:read")):
    return core.read(
        lambda s: core.listing(
            [
                WebhookEndpointObject.of(e)
                for e in webhook_endpoints.list_endpoints(s, who.merchant_id)
            ],
            False,
        )
    )


@router.get("/{endpoint_id}", response_model=WebhookEndpointObject, summary="Get an endpoint")
def get_endpoint(endpoint_id: EndpointId, who=core.caller("webhooks:read")):
    return core.read(
        lambda s: WebhookEndpointObject.of(
            webhook_endpoints.get_endpoint(s, who.merchant_id, endpoint_id)
        )
    )


@router.post("/{endpoint_id}", response_model=WebhookEndpointObject, summary="Update an endpoint")
def update_endpoint(
    request: Request,
    endpoint_id: EndpointId,
    body: EndpointUpdate,
    who=core.caller("webhooks:write"),
):
    """Enabling a disabled endpoint resumes its waiting deliveries, in order."""

    def work(session, _key):
        return WebhookEndpointObject.of(
            webhook_endpoints.update_endpoint(
                session,
                core.CLOCK,
                merchant_id=who.merchant_id,
                endpoint_id=endpoint_id,
                actor=who.actor,
                **body.model_dump(exclude_unset=True, exclude_none=True),
            )
        )

    return core.write(request, who, work, params=body)


@router.delete("/{endpoint_id}", response_model=WebhookEndpointObject, summary="Delete an endpoint")
def delete_endpoint(request: Request, endpoint_id: EndpointId, who=core.caller("webhooks:write")):
    """The endpoint and its delivery history; nothing more is sent to it."""

    def work(session, _key):
        endpoint = webhook_endpoints.get_endpoint(session, who.merchant_id, endpoint_id)
        gone = WebhookEndpointObject.of(endpoint)
        webhook_endpoints.delete_endpoint(
            session,
            core.CLOCK,
            merchant_id=who.merchant_id,
            endpoint_id=endpoint_id,
            actor=who.actor,
        )
        return gone

    return core.write(request, who, work)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointWithSecret,
    summary="Rotate the secret",
)
def rotate_secret(request: Request, endpoint_id: EndpointId, who=core.caller("webhooks:write")):
    """A new secret, shown once; the old one keeps signing beside it for 24 hours."""

    def work(session, _key):
        secret = webhook_endpoints.rotate_secret(
            session,
            core.CLOCK,
            merchant_id=who.merchant_id,
            endpoint_id=endpoint_id,
            actor=who.actor,
        )
        endpoint = webhook_endpoints.get_endpoint(session, who.merchant_id, endpoint_id)
        return WebhookEndpointWithSecret(
            **WebhookEndpointObject.of(endpoint).model_dump(), secret=secret
        )

    return core.write(request, who, work)


@router.post("/{endpoint_id}/test", response_model=TestSent, summary="Send a test event")
def send_test(request: Request, endpoint_id: EndpointId, who=core.caller("webhooks:write")):
    """An `endpoint.test` event to this endpoint, tried once by the worker."""

    def work(session, _key):
        delivery = webhook_delivery.send_test(
            session,
            core.CLOCK,
            merchant_id=who.merchant_id,
            endpoint_id=endpoint_id,
            actor=who.actor,
        )
        return TestSent(delivery_id=delivery.id)

    return core.write(request, who, work)
