"""`/customers`: create (upsert by `external_id`), get by id or external id, list, update,
delete, and the customer's state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from portal_app.api import core
from portal_app.models import Customer
from portal_app.services import customer_accounts
from portal_app.services.api_objects import CustomerObject, CustomerState

router = APIRouter(prefix="/customers", tags=["customers"])
CustomerId = Annotated[int, Path(ge=1, le=2**53)]
Metadata = dict[str, Annotated[str, Field(max_length=500)]]


class AddressIn(core.ApiInput):
    line1: str = Field("", max_length=200)
    line2: str = Field("", max_length=200)
    city: str = Field("", max_length=100)
    postal_code: str = Field("", max_length=20)
    state: str = Field("", max_length=100)
    country: str = Field("", max_length=2, description="ISO 3166-1 alpha-2, e.g. US, DE.")


class CustomerUpdate(core.ApiInput):
    email: str | None = Field(None, max_length=320)
    name: str | None = Field(None, max_length=200)
    external_id: str | None = Field(None, min_length=1, max_length=255)
    currency: str | None = Field(None, min_length=3, max_length=3)
    billing_address: AddressIn | None = None
    shipping_address: AddressIn | None = None
    custom_fields: dict[str, Any] | None = None
    metadata: Metadata | None = Field(None, description="Merged in; a value of '' removes a key.")


class CustomerCreate(CustomerUpdate):
    email: str = Field(..., max_length=320)


def _values(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True, exclude_none=True)


@router.post("", status_code=200, response_model=CustomerObject, summary="Create or upsert")
def create_customer(request: Request, body: CustomerCreate, who=core.caller("customers:write")):
    """A new customer; with an `external_id` that is already known, that customer updated (so
    the merchant's app can call this at every sign-up)."""

    def work(session, _key):
        upserted = customer_accounts.upsert(
            session, core.CLOCK, merchant_id=who.merchant_id, values=_values(body), actor=who.actor
        )
        return CustomerObject.of(upserted.customer)

    return core.write(request, who, work, params=body)


@router.get("", response_model=core.ListOf[CustomerObject], summary="List customers")
def list_customers(
    email: str | None = Query(None, max_length=320),
    status: str | None = Query(
        None,
        pattern="^(active|trialing|paused|past_due|canceled)$",
        description="Only customers with a subscription in this status.",
    ),
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller("customers:read"),
):
    query = customer_accounts.list_query(who.merchant_id, email=email, status=status)
    return core.list_page(query, Customer, limit, starting_after, core.each(CustomerObject))


@router.get("/external/{external_id}", response_model=CustomerObject, summary="Get by external id")
def get_customer_by_external_id(
    external_id: Annotated[str, Path(min_length=1, max_length=255)],
    who=core.caller("customers:read"),
):
    return core.read(
        lambda s: CustomerObject.of(
            customer_accounts.find_external(s, who.merchant_id, external_id)
        )
    )


@router.get("/{customer_id}", response_model=CustomerObject, summary="Get a customer")
def get_customer(customer_id: CustomerId, who=core.caller("customers:read")):
    return core.read(
        lambda s: CustomerObject.of(customer_accounts.get(s, who.merchant_id, customer_id))
    )


@router.post("/{customer_id}", response_model=CustomerObject, summary="Update a customer")
def update_customer(
    request: Request,
    customer_id: CustomerId,
    body: CustomerUpdate,
    who=core.caller("customers:write"),
):
    def work(session, _key):
        customer = customer_accounts.get(session, who.merchant_id, customer_id)
        changes = _values(body)
        return CustomerObject.of(
            customer_accounts.update(session, core.CLOCK, customer, changes, actor=who.actor)
        )

    return core.write(request, who, work, params=body)


@router.delete("/{customer_id}", response_model=CustomerObject, summary="Delete a customer")
def delete_customer(request: Request, customer_id: CustomerId, who=core.caller("customers:write")):
    """Personal data is anonymised; invoices are kept. Refused while a subscription runs."""

    def work(session, _key):
        customer = customer_accounts.get(session, who.merchant_id, customer_id)
        return CustomerObject.of(
            customer_accounts.delete(session, core.CLOCK, customer, actor=who.actor)
        )

    return core.write(request, who, work)


@router.get("/{customer_id}/state", response_model=CustomerState, summary="What they have now")
def customer_state(customer_id: CustomerId, who=core.caller("customers:read")):
    """Live subscriptions with plans, merged entitlements, granted benefits, open balance: one
    call to gate features on."""
    return core.read(
        lambda s: customer_accounts.state(s, customer_accounts.get(s, who.merchant_id, customer_id))
    )
