"""`/orders`: one-time purchases, listed and read; their status moved paid → fulfilled (with a
tracking reference) → refunded, by the dashboard's rules (services/orders.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from portal_app.api import core
from portal_app.models import Order
from portal_app.services import orders
from portal_app.services.api_objects import OrderObject
from portal_app.services.gateway import configured_gateway

router = APIRouter(prefix="/orders", tags=["orders"])
OrderId = Annotated[int, Path(ge=1, le=2**53)]


def _objects(session, rows: list[Order]) -> list[OrderObject]:
    items = orders.items_of(session, [r.id for r in rows])
    return [OrderObject.of(r, items.get(r.id, [])) for r in rows]


@router.get("", response_model=core.ListOf[OrderObject], summary="List orders")
def list_orders(
    customer_id: int | None = Query(None, ge=1, le=2**53),
    status: Literal["paid", "fulfilled", "refunded"] | None = Query(None),
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller("orders:read"),
):
    query = core.owned(Order, who.merchant_id, customer_id=customer_id, status=status)
    return core.list_page(query, Order, limit, starting_after, _objects)


@router.get("/{order_id}", response_model=OrderObject, summary="Get an order")
def get_order(order_id: OrderId, who=core.caller("orders:read")):
    return core.read(
        lambda s: _objects(s, [orders.get_for_merchant(s, who.merchant_id, order_id)])[0]
    )


class OrderUpdate(core.ApiInput):
    status: Literal["fulfilled", "refunded"]
    tracking_reference: str | None = Field(None, max_length=200)


@router.post("/{order_id}", response_model=OrderObject, summary="Update an order's status")
def update_order(
    request: Request, order_id: OrderId, body: OrderUpdate, who=core.caller("orders:write")
):
    def work(session, _key):
        if body.status == "fulfilled":
            order = orders.mark_fulfilled(
                session,
                core.CLOCK,
                merchant_id=who.merchant_id,
                order_id=order_id,
                tracking_reference=body.tracking_reference or "",
                actor=who.actor,
            )
        else:
            order = orders.mark_refunded(
                session,
                core.CLOCK,
                configured_gateway(),
                merchant_id=who.merchant_id,
                order_id=order_id,
                actor=who.actor,
            )
        return _objects(session, [order])[0]

    return core.write(request, who, work, params=body)
