"""The merchant's view of customers: search and paginate, and one customer's whole record."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.models import (
    AuditEvent,
    Customer,
    DownloadEvent,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    Subscription,
)
from portal_app.services.errors import NotFound
from portal_app.services.paging import rows_and_total
from portal_app.services.portal_preview import PREVIEW_EMAIL


def search(
    session: Session, merchant_id: int, text: str, page: int, size: int = 25
) -> tuple[list[Customer], int]:
    """Email or name contains `text` (case-insensitive); newest first; two queries. The portal's
    preview customer (staff's stand-in) is not a customer and is never listed."""
    query = select(Customer).where(
        Customer.merchant_id == merchant_id, Customer.email != PREVIEW_EMAIL
    )
    needle = text.strip().lower()
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            sa.or_(
                sa.func.lower(Customer.email).like(pattern, escape="\\"),
                sa.func.lower(Customer.name).like(pattern, escape="\\"),
            )
        )
    return rows_and_total(
        session, query, Customer.id.desc(), skip=(max(page, 1) - 1) * size, limit=size
    )


@dataclass
class CustomerRecord:
    customer: Customer
    subscriptions: list[Subscription] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    cards: list[PaymentMethod] = field(default_factory=list)
    downloads: list[DownloadEvent] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    open_balance: int = 0


def record(session: Session, merchant_id: int, customer_id: int, limit: int = 50) -> CustomerRecord:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merchant_id != merchant_id:
        raise NotFound("Customer not found.")

    def newest(model, order):
        return list(
            session.exec(
                select(model).where(model.customer_id == customer_id).order_by(order).limit(limit)
            )
        )

    invoices = newest(Invoice, Invoice.id.desc())
    return CustomerRecord(
        customer=customer,
        subscriptions=newest(Subscription, Subscription.id.desc()),
        invoices=invoices,
        payments=newest(Payment, Payment.id.desc()),
        cards=newest(PaymentMethod, PaymentMethod.id.desc()),
        downloads=newest(DownloadEvent, DownloadEvent.id.desc()),
        audit=list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.merchant_id == merchant_id, AuditEvent.customer_id == customer_id)
                .order_by(AuditEvent.seq.desc())
                .limit(limit)
            )
        ),
        open_balance=sum(i.amount_due for i in invoices if i.status == InvoiceStatus.OPEN),
    )
