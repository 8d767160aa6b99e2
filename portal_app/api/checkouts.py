"""`/checkout_sessions`: the merchant's code opens the same hosted checkout a visitor gets from
`/buy/…` (services/checkout.py) and sends the buyer to its `url`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import Field, model_validator
from sqlmodel import select

from portal_app.api import core
from portal_app.models import CheckoutSession
from portal_app.services import checkout, customer_accounts
from portal_app.services.api_objects import CheckoutObject, checkout_object
from portal_app.services.errors import NotFound

router = APIRouter(prefix="/checkout_sessions", tags=["checkout sessions"])
Metadata = dict[str, Annotated[str, Field(max_length=500)]]


class CheckoutCreate(core.ApiInput):
    plan_id: int | None = Field(None, ge=1, le=2**53, description="A subscription to a plan …")
    interval: Literal["month", "year"] | None = Field(None, description="… billed this often.")
    product_id: int | None = Field(None, ge=1, le=2**53, description="Or a product sold once.")
    customer_id: int | None = Field(None, ge=1, le=2**53, description="An existing customer.")
    external_id: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Your id for the buyer: their customer if known, else the new customer's.",
    )
    email: str | None = Field(None, max_length=320)
    trial_days: int | None = Field(None, ge=0, le=checkout.TRIAL_DAYS_MAX)
    promotion_code: str | None = Field(None, min_length=1, max_length=64)
    success_url: str | None = Field(None, max_length=checkout.SUCCESS_URL_MAX)
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _one_target(self):
        if (self.plan_id is None) == (self.product_id is None):
            raise ValueError("Give plan_id (with interval) or product_id, not both.")
        if self.plan_id is not None and self.interval is None:
            raise ValueError("A plan needs an interval: month or year.")
        return self


def _object(row: CheckoutSession) -> CheckoutObject:
    return checkout_object(row, core.CLOCK.now())


@router.post("", response_model=CheckoutObject, summary="Create a checkout session")
def create_checkout_session(
    request: Request, body: CheckoutCreate, who=core.caller("checkouts:write")
):
    def work(session, _key):
        row = checkout.create_session(
            session,
            core.CLOCK,
            merchant_id=who.merchant_id,
            actor=who.actor,
            source="api",
            plan_id=body.plan_id,
            interval=body.interval,
            product_id=body.product_id,
            email=body.email or "",
            trial_days=body.trial_days,
            success_url=body.success_url or "",
            customer_id=body.customer_id,
            external_customer_id=body.external_id,
            promotion_code=body.promotion_code,
            metadata=customer_accounts.clean_metadata(body.metadata or {}),
        )
        return _object(row)

    return core.write(request, who, work, params=body)


@router.get("/{checkout_id}", response_model=CheckoutObject, summary="Get a checkout session")
def get_checkout_session(
    checkout_id: Annotated[str, Path(min_length=1, max_length=64)],
    who=core.caller("checkouts:read"),
):
    def work(session):
        row = session.exec(
            select(CheckoutSession).where(
                CheckoutSession.id == checkout_id, CheckoutSession.merchant_id == who.merchant_id
            )
        ).first()
        if row is None:
            raise NotFound("No such checkout session.")
        return _object(row)

    return core.read(work)
