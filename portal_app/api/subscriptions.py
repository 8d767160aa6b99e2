"""`/subscriptions`: create for a customer with a saved card, get, list, preview and apply a plan
or interval change, pause, resume, cancel, reactivate. The same services as the portal's,
run for the merchant (the portal's toggles limit customers, not the merchant's code); the
business rules hold and a refusal names its rule's code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from portal_app.api import core
from portal_app.models import Subscription
from portal_app.services import customer_accounts, plan_changes, subscriptions
from portal_app.services.api_objects import SubscriptionObject
from portal_app.services.catalog import price_info
from portal_app.services.errors import NotFound, SubscriptionError
from portal_app.services.gateway import configured_gateway

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])
SubscriptionId = Annotated[int, Path(ge=1, le=2**53)]
Metadata = dict[str, Annotated[str, Field(max_length=500)]]
READ = "subscriptions:read"
WRITE = "subscriptions:write"


def _mine(session, merchant_id: int, subscription_id: int) -> Subscription:
    row = session.get(Subscription, subscription_id)
    if row is None or row.merchant_id != merchant_id:
        raise NotFound("No such subscription.")
    return row


def _on_subscription(request: Request, who, subscription_id: int, change, body=None):
    """A change of one of the merchant's subscriptions, made as its customer's (the services
    take the customer, the subscription and the actor), answered with the subscription."""

    def work(session, _key):
        row = _mine(session, who.merchant_id, subscription_id)
        ids = {"customer_id": row.customer_id, "subscription_id": row.id, "actor": who.actor}
        return SubscriptionObject.of(change(session, **ids))

    return core.write(request, who, work, params=body)


class SubscriptionCreate(core.ApiInput):
    customer_id: int = Field(..., ge=1, le=2**53)
    price_id: int = Field(..., ge=1, le=2**53)
    metadata: Metadata | None = None


@router.post("", response_model=SubscriptionObject, summary="Create a subscription")
def create_subscription(request: Request, body: SubscriptionCreate, who=core.caller(WRITE)):
    """Billed for its first period now, on the customer's default card. With an
    `Idempotency-Key`, the charge is keyed by it: a retry after a crash never charges twice."""

    def work(session, key):
        customer = customer_accounts.get(session, who.merchant_id, body.customer_id)
        info = price_info(session, who.merchant_id, body.price_id)
        if info.price.currency != customer.currency:
            raise SubscriptionError(
                f"That price is in {info.price.currency}; this customer is billed in "
                f"{customer.currency}.",
                code="currency_mismatch",
            )
        metadata = customer_accounts.clean_metadata(body.metadata or {})
        subscription = subscriptions.create(
            session,
            core.CLOCK,
            configured_gateway(),
            customer_id=customer.id,
            price_id=info.price.id,
            actor=who.actor,
            obligation=f"api:{who.merchant_id}:{key}" if key else None,
        )
        if metadata:
            subscription.metadata_ = metadata
            session.add(subscription)
        return SubscriptionObject.of(subscription)

    return core.write(request, who, work, params=body)


@router.get("", response_model=core.ListOf[SubscriptionObject], summary="List subscriptions")
def list_subscriptions(
    customer_id: int | None = Query(None, ge=1, le=2**53),
    status: Literal["active", "trialing", "paused", "past_due", "canceled"] | None = Query(None),
    plan_id: int | None = Query(None, ge=1, le=2**53),
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller(READ),
):
    query = core.owned(
        Subscription, who.merchant_id, customer_id=customer_id, status=status, plan_id=plan_id
    )
    objects = core.each(SubscriptionObject)
    return core.list_page(query, Subscription, limit, starting_after, objects)


@router.get("/{subscription_id}", response_model=SubscriptionObject, summary="Get one")
def get_subscription(subscription_id: SubscriptionId, who=core.caller(READ)):
    return core.read(lambda s: SubscriptionObject.of(_mine(s, who.merchant_id, subscription_id)))


class ChangeIn(core.ApiInput):
    price_id: int = Field(..., ge=1, le=2**53, description="The new plan's price (and interval).")
    timing: Literal["immediate", "period_end"] | None = Field(
        None, description="Default: the merchant's policy for this direction."
    )
    expected_version: int | None = Field(
        None, ge=1, le=2**53, description="The version the preview was made on."
    )


class ChangeLine(BaseModel):
    kind: str
    description: str
    amount: int


class ChangePreviewObject(BaseModel):
    object: Literal["subscription_change_preview"] = "subscription_change_preview"
    subscription_id: int
    direction: str
    timing: str
    currency: str
    lines: list[ChangeLine]
    amount_due_now: int
    credit_added: int
    next_renewal_amount: int
    effective_at: datetime | None
    next_renewal_at: datetime | None
    expected_version: int


def _preview_object(subscription_id: int, preview) -> ChangePreviewObject:
    return ChangePreviewObject(
        subscription_id=subscription_id,
        direction=preview.direction,
        timing=preview.timing,
        currency=preview.currency,
        lines=[
            ChangeLine(kind=line.kind, description=line.description, amount=line.amount)
            for line in preview.lines
        ],
        amount_due_now=preview.amount_due_now,
        credit_added=preview.credit_added,
        next_renewal_amount=preview.next_renewal_amount,
        effective_at=preview.effective_at,
        next_renewal_at=preview.next_renewal_at,
        expected_version=preview.version,
    )


@router.post(
    "/{subscription_id}/preview_change",
    response_model=ChangePreviewObject,
    summary="Preview a change",
)
def preview_change(
    request: Request, subscription_id: SubscriptionId, body: ChangeIn, who=core.caller(READ)
):
    """The engine's itemised lines for a plan or interval change, computed without changing
    anything."""

    def work(session):
        row = _mine(session, who.merchant_id, subscription_id)
        preview = plan_changes.preview_change(
            session,
            core.CLOCK,
            customer_id=row.customer_id,
            subscription_id=row.id,
            new_price_id=body.price_id,
            timing=body.timing,
        )
        return _preview_object(row.id, preview)

    return core.read(work)


@router.post("/{subscription_id}/change", response_model=SubscriptionObject, summary="Change")
def change_subscription(
    request: Request, subscription_id: SubscriptionId, body: ChangeIn, who=core.caller(WRITE)
):
    def change(session, **ids):
        plan_changes.change_plan(
            session,
            core.CLOCK,
            configured_gateway(),
            new_price_id=body.price_id,
            timing=body.timing,
            expected_version=body.expected_version,
            **ids,
        )
        row = session.get(Subscription, ids["subscription_id"])
        session.refresh(row)  # the change may have moved it on with a statement
        return row

    return _on_subscription(request, who, subscription_id, change, body)


class PauseIn(core.ApiInput):
    resume_at: datetime | None = Field(
        None, strict=False, description="None: paused until resumed."
    )


@router.post("/{subscription_id}/pause", response_model=SubscriptionObject, summary="Pause")
def pause_subscription(
    request: Request, subscription_id: SubscriptionId, body: PauseIn, who=core.caller(WRITE)
):
    def pause(session, **ids):
        if body.resume_at is not None and body.resume_at.tzinfo is None:
            raise SubscriptionError("resume_at needs a time zone (e.g. Z).", code="resume_at")
        return subscriptions.pause(session, core.CLOCK, resume_at=body.resume_at, **ids)

    return _on_subscription(request, who, subscription_id, pause, body)


@router.post("/{subscription_id}/resume", response_model=SubscriptionObject, summary="Resume")
def resume_subscription(request: Request, subscription_id: SubscriptionId, who=core.caller(WRITE)):
    def resume(session, **ids):
        return subscriptions.resume(session, core.CLOCK, **ids)

    return _on_subscription(request, who, subscription_id, resume)


class CancelIn(core.ApiInput):
    at_period_end: bool = Field(True, description="False: end now.")


@router.post("/{subscription_id}/cancel", response_model=SubscriptionObject, summary="Cancel")
def cancel_subscription(
    request: Request, subscription_id: SubscriptionId, body: CancelIn, who=core.caller(WRITE)
):
    def cancel(session, **ids):
        return subscriptions.cancel(session, core.CLOCK, at_period_end=body.at_period_end, **ids)

    return _on_subscription(request, who, subscription_id, cancel, body)


@router.post(
    "/{subscription_id}/reactivate", response_model=SubscriptionObject, summary="Reactivate"
)
def reactivate_subscription(
    request: Request, subscription_id: SubscriptionId, who=core.caller(WRITE)
):
    """Undo a pending cancellation, or restart an ended subscription (paid now)."""

    def reactivate(session, **ids):
        return subscriptions.reactivate(session, core.CLOCK, configured_gateway(), **ids)

    return _on_subscription(request, who, subscription_id, reactivate)
