"""Customers as the merchant's own code manages them (the REST API): create or find by the
merchant's `external_id`, update, delete (personal data anonymised, invoices kept), list, and
the customer's state, the one answer a merchant's app gates its features on. Name, addresses and
custom fields go through the profile's own rules (services/profile.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import (
    AuthSession,
    Customer,
    Invoice,
    InvoiceStatus,
    Plan,
    Price,
    Subscription,
    SubscriptionStatus,
)
from portal_app.services import api_objects, audit, digital, profile
from portal_app.services.auth import AuthError, normalize_email
from portal_app.services.errors import NotFound, PortalError
from portal_app.services.portal_preview import PREVIEW_EMAIL

LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
EXTERNAL_ID_MAX = 255
METADATA_KEYS_MAX = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
PROFILE_PARTS = ("name", "billing_address", "shipping_address", "custom_fields")


class CustomerError(PortalError):
    code = "invalid_customer"


def clean_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe's rules: up to 50 string keys of 40 characters and values of 500."""
    if not isinstance(value, dict):
        raise CustomerError("metadata must be an object of string keys and values.", code=param)
    if len(value) > METADATA_KEYS_MAX:
        raise CustomerError(f"metadata can hold at most {METADATA_KEYS_MAX} keys.", code=param)
    cleaned = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > METADATA_KEY_MAX:
            raise CustomerError(
                f"metadata keys must be 1 to {METADATA_KEY_MAX} characters.", code=param
            )
        if not isinstance(item, str) or len(item) > METADATA_VALUE_MAX:
            raise CustomerError(
                f"metadata values must be text of at most {METADATA_VALUE_MAX} characters.",
                code=param,
            )
        cleaned[key] = item
    return cleaned


def _clean_external_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > EXTERNAL_ID_MAX:
        raise CustomerError(
            f"external_id must be text of 1 to {EXTERNAL_ID_MAX} characters.", code="external_id"
        )
    return value.strip()


def _clean_email(value: Any) -> str:
    try:
        return normalize_email(value if isinstance(value, str) else "")
    except AuthError as exc:
        raise CustomerError(str(exc), code="email") from exc


def get(session: Session, merchant_id: int, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merchant_id != merchant_id or customer.email == PREVIEW_EMAIL:
        raise NotFound("No such customer.")
    return customer


def find_external(session: Session, merchant_id: int, external_id: str) -> Customer:
    customer = session.exec(
        select(Customer).where(
            Customer.merchant_id == merchant_id, Customer.external_id == external_id
        )
    ).first()
    if customer is None:
        raise NotFound("No customer has that external_id.")
    return customer


def _by_email(session: Session, merchant_id: int, email: str) -> Customer | None:
    return session.exec(
        select(Customer).where(Customer.merchant_id == merchant_id, Customer.email == email)
    ).first()


@dataclass(frozen=True)
class Upserted:
    customer: Customer
    created: bool


def upsert(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    values: dict[str, Any],
    actor: audit.Actor,
) -> Upserted:
    """Create a customer, or with an `external_id` already known, update that one (Lago's
    upsert): the merchant's app can call it on every sign-up without asking first. An email
    that belongs to another customer is refused: one person, one customer."""
    external_id = _clean_external_id(values.get("external_id"))
    if external_id is not None:
        try:
            existing = find_external(session, merchant_id, external_id)
        except NotFound:
            existing = None
        if existing is not None:
            changes = {k: v for k, v in values.items() if k != "external_id"}
            return Upserted(update(session, clock, existing, changes, actor=actor), False)
    email = _clean_email(values.get("email"))
    if _by_email(session, merchant_id, email) is not None:
        raise CustomerError("A customer with that email already exists.", code="email_taken")
    metadata = clean_metadata(values.get("metadata") or {})
    customer = Customer(
        merchant_id=merchant_id,
        email=email,
        external_id=external_id,
        metadata_=metadata,
        created_at=clock.now(),
    )
    if values.get("currency") is not None:
        customer.currency = _clean_currency(values["currency"])
    with audit.changing(
        session, clock, customer, actor=actor, action="customer.create", target_type="customer"
    ) as change:
        session.add(customer)
        session.flush()
        change.after = {"email": email, "external_id": external_id}
    parts = {k: values[k] for k in PROFILE_PARTS if values.get(k) is not None}
    if parts:
        profile.update_profile(session, clock, customer_id=customer.id, changes=parts, actor=actor)
    return Upserted(customer, True)


def _clean_currency(value: Any) -> str:
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise CustomerError("currency must be a three-letter code such as USD.", code="currency")
    return value.upper()


def update(
    session: Session, clock: Clock, customer: Customer, changes: dict[str, Any], *, actor
) -> Customer:
    """Email, external_id and metadata here; name, addresses and custom fields by the profile's
    rules. All checked before anything is written."""
    if customer.deleted_at is not None:
        raise CustomerError("This customer was deleted.", code="customer_deleted")
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if changes.get("email") is not None:
        email = _clean_email(changes["email"])
        if email != customer.email:
            other = _by_email(session, customer.merchant_id, email)
            if other is not None:
                raise CustomerError(
                    "A customer with that email already exists.", code="email_taken"
                )
            before["email"], after["email"] = customer.email, email
    if "external_id" in changes:
        external_id = _clean_external_id(changes["external_id"])
        if external_id != customer.external_id:
            if external_id is not None:
                try:
                    find_external(session, customer.merchant_id, external_id)
                except NotFound:
                    pass
                else:
                    raise CustomerError(
                        "Another customer has that external_id.", code="external_id_taken"
                    )
            before["external_id"], after["external_id"] = customer.external_id, external_id
    if changes.get("metadata") is not None:
        metadata = {**(customer.metadata_ or {}), **clean_metadata(changes["metadata"])}
        metadata = {k: v for k, v in metadata.items() if v != ""}  # "" removes a key (Stripe)
        if metadata != (customer.metadata_ or {}):
            before["metadata"], after["metadata"] = customer.metadata_, metadata
    if changes.get("currency") is not None:
        currency = _clean_currency(changes["currency"])
        if currency != customer.currency:
            if _has_billing(session, customer.id):
                raise CustomerError(
                    "The currency of a customer who was billed cannot change.", code="currency"
                )
            before["currency"], after["currency"] = customer.currency, currency
    parts = {k: changes[k] for k in PROFILE_PARTS if changes.get(k) is not None}
    if parts:
        # Checked (and, with the rest below, written) in this transaction; a refusal here
        # raises before the fields above are set.
        profile.update_profile(session, clock, customer_id=customer.id, changes=parts, actor=actor)
    if after:
        with audit.changing(
            session,
            clock,
            customer,
            actor=actor,
            action="customer.update",
            before=before,
            target_type="customer",
            customer_id=customer.id,
        ) as change:
            for key, value in after.items():
                setattr(customer, "metadata_" if key == "metadata" else key, value)
            change.after = {k: v for k, v in after.items() if k != "metadata"} | (
                {"metadata": "changed"} if "metadata" in after else {}
            )
    return customer


def _has_billing(session: Session, customer_id: int) -> bool:
    return (
        session.exec(select(Invoice.id).where(Invoice.customer_id == customer_id).limit(1)).first()
        is not None
    )


def delete(session: Session, clock: Clock, customer: Customer, *, actor: audit.Actor) -> Customer:
    """Anonymise: the person's data goes, the invoices (a legal record, with their frozen
    bill-to) stay. Refused while a subscription still runs, so no one is billed anonymously."""
    if customer.deleted_at is not None:
        return customer
    live = session.exec(
        select(Subscription.id).where(
            Subscription.customer_id == customer.id,
            Subscription.status.in_((*LIVE, SubscriptionStatus.PAUSED)),
        )
    ).first()
    if live is not None:
        raise CustomerError(
            "Cancel this customer's subscriptions before deleting the customer.",
            code="active_subscriptions",
        )
    with audit.changing(
        session,
        clock,
        customer,
        actor=actor,
        action="customer.delete",
        before={"external_id": customer.external_id},
        target_type="customer",
        customer_id=customer.id,
    ) as change:
        now = clock.now()
        customer.email = f"deleted-{customer.id}@deleted.invalid"
        customer.name = ""
        customer.billing_address = {}
        customer.shipping_address = {}
        customer.custom_fields = {}
        customer.metadata_ = {}
        customer.external_id = None
        customer.deleted_at = now
        session.execute(
            sa.update(AuthSession)
            .where(AuthSession.customer_id == customer.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="ended")
            .execution_options(synchronize_session=False)
        )
        change.after = {"deleted": True}
    return customer


def list_query(merchant_id: int, *, email: str | None = None, status: str | None = None):
    """The API's list: newest first by id (its cursor), optionally one email, or only customers
    with a subscription in `status`. The preview stand-in is never listed."""
    query = select(Customer).where(
        Customer.merchant_id == merchant_id, Customer.email != PREVIEW_EMAIL
    )
    if email:
        query = query.where(Customer.email == email.strip().lower())
    if status:
        query = query.where(
            Customer.id.in_(select(Subscription.customer_id).where(Subscription.status == status))
        )
    return query


def state(session: Session, customer: Customer) -> api_objects.CustomerState:
    """Live subscriptions with their plans, the plans' entitlements merged (a higher tier wins a
    clash), the digital benefits granted, and what is due on open invoices."""
    subscriptions = list(
        session.exec(
            select(Subscription)
            .where(Subscription.customer_id == customer.id, Subscription.status.in_(LIVE))
            .order_by(Subscription.id)
        )
    )
    plan_ids = {s.plan_id for s in subscriptions}
    plans = (
        {p.id: p for p in session.exec(select(Plan).where(Plan.id.in_(plan_ids)))}
        if plan_ids
        else {}
    )
    prices: dict[int, list[Price]] = {pid: [] for pid in plans}
    if plans:
        for price in session.exec(
            select(Price).where(Price.plan_id.in_(plans), Price.active).order_by(Price.id)
        ):
            prices[price.plan_id].append(price)
    entitlements: dict[str, Any] = {}
    for plan in sorted(plans.values(), key=lambda p: p.tier):
        entitlements.update(plan.entitlements or {})
    open_balance = session.exec(
        select(sa.func.coalesce(sa.func.sum(Invoice.total - Invoice.amount_paid), 0)).where(
            Invoice.customer_id == customer.id, Invoice.status == InvoiceStatus.OPEN
        )
    ).one()
    return api_objects.CustomerState(
        customer=api_objects.CustomerObject.of(customer),
        active_subscriptions=[
            api_objects.ActiveSubscription(
                subscription=api_objects.SubscriptionObject.of(s),
                plan=api_objects.PlanObject.of(plans[s.plan_id], prices[s.plan_id]),
            )
            for s in subscriptions
        ],
        entitlements=entitlements,
        granted_benefits=[
            api_objects.GrantedBenefit(asset_id=a.id, kind=a.kind, name=a.name)
            for a in digital.entitled_assets(session, customer.id)
        ],
        open_balance=int(open_balance),
        currency=customer.currency,
    )
