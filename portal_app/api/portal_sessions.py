"""`/portal-sessions`: a one-time link that signs one customer in to the portal, like Stripe's
and Polar's portal sessions (services/portal_links.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from portal_app.api import core
from portal_app.services import portal_links
from portal_app.services.auth import AuthError
from portal_app.services.errors import NotFound, PortalError

router = APIRouter(tags=["portal sessions"])


class PortalSessionCreate(core.ApiInput):
    customer_id: int = Field(..., ge=1, le=2**53)
    return_url: str | None = Field(
        None, max_length=1000, description="This portal or an allow-listed origin."
    )


class PortalSessionObject(BaseModel):
    object: Literal["portal_session"] = "portal_session"
    url: str
    expires_at: datetime
    customer_id: int


@router.post(
    "/portal-sessions", status_code=201, response_model=PortalSessionObject, summary="Portal link"
)
def create_portal_session(
    request: Request, body: PortalSessionCreate, who=core.caller("portal_sessions:write")
):
    def work(session, _key):
        key = session.get(portal_links.ApiKey, who.key_id)
        try:
            url, expires_at = portal_links.create_portal_link(
                session,
                core.CLOCK,
                api_key=key,
                customer_id=body.customer_id,
                return_url=body.return_url,
            )
        except AuthError as exc:
            if exc.code == "not_found":
                raise NotFound(str(exc)) from exc
            raise PortalError(str(exc), code=exc.code) from exc
        return PortalSessionObject(url=url, expires_at=expires_at, customer_id=body.customer_id)

    return core.write(request, who, work, params=body, status=201)
