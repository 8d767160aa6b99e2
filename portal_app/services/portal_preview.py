"""Preview as customer: staff open the portal as a stand-in customer of their own merchant, to
see it the way customers do, without ever getting a session for a real customer.

The stand-in is one customer per merchant at a reserved address (`PREVIEW_EMAIL`; `.invalid` can
never receive mail, RFC 6761), created on first use. Its creation is recorded in the audit chain,
and a preview link is issued only for the customer at that address whose creation event names it
(same id, same creation time), so a real customer who somehow holds the address is refused. The
link itself is an ordinary one-time portal link (`auth.issue_support_link`: single use, hashed,
audited). Customer lists, counts and money views leave the stand-in out with `not_preview`."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import AuditEvent, Customer, Merchant
from portal_app.services import audit, auth
from portal_app.services.errors import PortalError

PREVIEW_EMAIL = "preview@portal-preview.invalid"
PREVIEW_NAME = "Preview customer"
CREATED_ACTION = "portal_preview.customer_created"


class PreviewError(PortalError):
    code = "preview_error"


def preview_customer_id(merchant_id: int):
    """The stand-in's id as an inline scalar subquery (NULL when it does not exist yet)."""
    return (
        select(Customer.id)
        .where(Customer.merchant_id == merchant_id, Customer.email == PREVIEW_EMAIL)
        .scalar_subquery()
    )


def not_preview(customer_id_column, merchant_id: int):
    """A WHERE condition that leaves the stand-in's rows out of a list, a count or a sum."""
    return customer_id_column != sa.func.coalesce(preview_customer_id(merchant_id), 0)


def is_preview_customer(session: Session, customer: Customer) -> bool:
    """The customer is the stand-in: the reserved address and a creation event naming it."""
    if customer.email != PREVIEW_EMAIL:
        return False
    created = session.exec(
        select(AuditEvent.after).where(
            AuditEvent.merchant_id == customer.merchant_id,
            AuditEvent.customer_id == customer.id,
            AuditEvent.action == CREATED_ACTION,
            AuditEvent.target_id == str(customer.id),
        )
    ).first()
    return bool(created) and created.get("created_at") == customer.created_at.isoformat()


def ensure_preview_customer(
    session: Session, clock: Clock, *, merchant_id: int, actor: audit.Actor
) -> Customer:
    """The merchant's stand-in, created (and audited) on first use. Two staff asking at once
    create one: the insert skips a row another transaction already made."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise PreviewError("Merchant not found.", code="not_found")
    now = clock.now()
    inserted = session.execute(
        _insert_ignore_returning_id(
            session,
            merchant_id=merchant_id,
            email=PREVIEW_EMAIL,
            name=PREVIEW_NAME,
            currency=merchant.default_currency,
            credit_balance=0,
            billing_address={},
            shipping_address={},
            custom_fields={},
            created_at=now,
        )
    ).first()
    customer = session.exec(
        select(Customer).where(Customer.merchant_id == merchant_id, Customer.email == PREVIEW_EMAIL)
    ).one()
    if inserted is not None:
        audit.record(
            session,
            clock,
            merchant_id=merchant_id,
            actor=actor,
            action=CREATED_ACTION,
            target_type="customer",
            target_id=customer.id,
            customer_id=customer.id,
            after={"email": PREVIEW_EMAIL, "created_at": customer.created_at.isoformat()},
        )
        return customer
    if not is_preview_customer(session, customer):
        raise PreviewError(
            f"A customer already uses the preview address {PREVIEW_EMAIL}, so the preview is "
            "not available. Nothing was changed.",
            code="preview_conflict",
        )
    return customer


def issue_preview_link(
    session: Session, clock: Clock, *, merchant_id: int, actor: audit.Actor
) -> str:
    """A one-time portal link for the merchant's stand-in, never for anyone else. Takes no
    customer id on purpose: the customer is found here, from the merchant alone."""
    customer = ensure_preview_customer(session, clock, merchant_id=merchant_id, actor=actor)
    return auth.issue_support_link(
        session, clock, merchant_id=merchant_id, customer_id=customer.id, actor=actor
    )


def _insert_ignore_returning_id(session: Session, **values):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: a row only when this call created it."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return (
        insert(Customer.__table__)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(Customer.__table__.c.id)
    )
