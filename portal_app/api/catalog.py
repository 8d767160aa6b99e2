"""`/plans`, `/prices`, `/products`, `/coupons`, `/promotion_codes`: the catalog, read; coupons
and promotion codes also created (by the same rules as the dashboard's, services/coupons_admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field
from sqlmodel import select

from portal_app.api import core
from portal_app.models import Coupon, Plan, Price, Product, PromotionCode
from portal_app.services import coupons_admin
from portal_app.services.api_objects import (
    CouponObject,
    PlanObject,
    PriceObject,
    ProductObject,
    PromotionCodeObject,
)
from portal_app.services.errors import NotFound

router = APIRouter(tags=["catalog"])
Id = Annotated[int, Path(ge=1, le=2**53)]
READ = "catalog:read"
WRITE = "catalog:write"


def _mine(session, model, merchant_id: int, row_id: int, label: str):
    row = session.get(model, row_id)
    if row is None or row.merchant_id != merchant_id:
        raise NotFound(f"No such {label}.")
    return row


def _prices_of(session, plan_ids: list[int]) -> dict[int, list[Price]]:
    found: dict[int, list[Price]] = {pid: [] for pid in plan_ids}
    if plan_ids:
        for price in session.exec(
            select(Price).where(Price.plan_id.in_(plan_ids)).order_by(Price.id)
        ):
            found[price.plan_id].append(price)
    return found


@router.get("/plans", response_model=core.ListOf[PlanObject], summary="List plans")
def list_plans(
    active: bool | None = Query(None),
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller(READ),
):
    def objects(session, rows):
        prices = _prices_of(session, [r.id for r in rows])
        return [PlanObject.of(r, prices[r.id]) for r in rows]

    query = core.owned(Plan, who.merchant_id, active=active)
    return core.list_page(query, Plan, limit, starting_after, objects)


@router.get("/plans/{plan_id}", response_model=PlanObject, summary="Get a plan")
def get_plan(plan_id: Id, who=core.caller(READ)):
    def work(session):
        plan = _mine(session, Plan, who.merchant_id, plan_id, "plan")
        return PlanObject.of(plan, _prices_of(session, [plan.id])[plan.id])

    return core.read(work)


@router.get("/prices", response_model=core.ListOf[PriceObject], summary="List prices")
def list_prices(
    plan_id: int | None = Query(None, ge=1, le=2**53),
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller(READ),
):
    query = core.owned(Price, who.merchant_id, plan_id=plan_id)
    return core.list_page(query, Price, limit, starting_after, core.each(PriceObject))


@router.get("/prices/{price_id}", response_model=PriceObject, summary="Get a price")
def get_price(price_id: Id, who=core.caller(READ)):
    return core.read(lambda s: PriceObject.of(_mine(s, Price, who.merchant_id, price_id, "price")))


@router.get("/products", response_model=core.ListOf[ProductObject], summary="List products")
def list_products(
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller(READ),
):
    query = core.owned(Product, who.merchant_id)
    return core.list_page(query, Product, limit, starting_after, core.each(ProductObject))


@router.get("/products/{product_id}", response_model=ProductObject, summary="Get a product")
def get_product(product_id: Id, who=core.caller(READ)):
    return core.read(
        lambda s: ProductObject.of(_mine(s, Product, who.merchant_id, product_id, "product"))
    )


class CouponCreate(core.ApiInput):
    name: str = Field(..., min_length=1, max_length=200)
    percent_off: int | None = Field(None, ge=1, le=100)
    amounts_off: dict[str, Annotated[int, Field(ge=1, le=10**9)]] | None = Field(
        None, description='A fixed amount per currency, minor units: {"USD": 500}.'
    )
    duration: Literal["once", "repeating", "forever"] = "once"
    duration_cycles: int | None = Field(None, ge=1, le=120)
    redeem_by: datetime | None = Field(None, strict=False)
    max_redemptions: int | None = Field(None, ge=1, le=10**9)
    plan_ids: list[Annotated[int, Field(ge=1, le=2**53)]] | None = Field(None, max_length=100)
    product_ids: list[Annotated[int, Field(ge=1, le=2**53)]] | None = Field(None, max_length=100)
    code: str | None = Field(None, max_length=64, description="Its first promotion code.")


@router.get("/coupons", response_model=core.ListOf[CouponObject], summary="List coupons")
def list_coupons(
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller(READ),
):
    query = core.owned(Coupon, who.merchant_id)
    return core.list_page(query, Coupon, limit, starting_after, core.each(CouponObject))


@router.post("/coupons", response_model=CouponObject, summary="Create a coupon")
def create_coupon(request: Request, body: CouponCreate, who=core.caller(WRITE)):
    def work(session, _key):
        coupon = coupons_admin.create_coupon(
            session,
            core.CLOCK,
            merchant_id=who.merchant_id,
            actor=who.actor,
            **body.model_dump(exclude_none=True),
        )
        return CouponObject.of(coupon)

    return core.write(request, who, work, params=body)


@router.get("/coupons/{coupon_id}", response_model=CouponObject, summary="Get a coupon")
def get_coupon(coupon_id: Id, who=core.caller(READ)):
    return core.read(
        lambda s: CouponObject.of(coupons_admin.get_coupon(s, who.merchant_id, coupon_id))
    )


class PromotionCodeCreate(core.ApiInput):
    coupon_id: int = Field(..., ge=1, le=2**53)
    code: str = Field(..., min_length=1, max_length=64)
    max_redemptions: int | None = Field(None, ge=1, le=10**9)
    expires_at: datetime | None = Field(None, strict=False)


@router.get(
    "/promotion_codes", response_model=core.ListOf[PromotionCodeObject], summary="List codes"
)
def list_promotion_codes(
    coupon_id: int | None = Query(None, ge=1, le=2**53),
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller(READ),
):
    query = core.owned(PromotionCode, who.merchant_id, coupon_id=coupon_id)
    objects = core.each(PromotionCodeObject)
    return core.list_page(query, PromotionCode, limit, starting_after, objects)


@router.post("/promotion_codes", response_model=PromotionCodeObject, summary="Create a code")
def create_promotion_code(request: Request, body: PromotionCodeCreate, who=core.caller(WRITE)):
    def work(session, _key):
        code = coupons_admin.create_promotion_code(
            session,
            core.CLOCK,
            merchant_id=who.merchant_id,
            actor=who.actor,
            **body.model_dump(exclude_none=True),
        )
        return PromotionCodeObject.of(code)

    return core.write(request, who, work, params=body)
