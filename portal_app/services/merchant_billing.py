"""The merchant's money views for staff: invoices by status (open, overdue, paid, void, all) with
what is outstanding per currency, and payments. Read-only, one merchant at a time, a page of rows
per call in a fixed number of statements (a count and one joined select).

Overdue means open and past its due date on the clock passed in (the merchant's test clock on a
demo merchant). The portal's preview customer is left out of every list and sum."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Customer, Invoice, InvoiceStatus, Payment, PaymentMethod, Receipt
from portal_app.services.errors import PortalError
from portal_app.services.invoices import display_number
from portal_app.services.paging import Page, clamp_page, offset, page_count
from portal_app.services.portal_preview import not_preview
from portal_app.services.queries import count_rows

PAGE_SIZE = 20
INVOICE_FILTERS = ("open", "overdue", "paid", "void", "all")
INVOICE_SORTS = ("due_asc", "due_desc")
PAYMENT_FILTERS = ("all", "succeeded", "failed")


class BillingViewError(PortalError):
    code = "billing_view_error"


@dataclass(frozen=True)
class InvoiceRow:
    id: int
    number: str
    customer_id: int
    customer_name: str
    customer_email: str
    status: str
    currency: str
    total: int
    amount_due: int
    due_at: datetime | None
    days_overdue: int | None  # whole days past due; None unless open and past due


@dataclass(frozen=True)
class Outstanding:
    count: int = 0
    sums: dict[str, int] = field(default_factory=dict)  # currency -> minor units due


@dataclass(frozen=True)
class InvoiceTotals:
    open: Outstanding
    overdue: Outstanding


@dataclass(frozen=True)
class PaymentRow:
    id: int
    created_at: datetime
    status: str
    amount: int
    currency: str
    card_brand: str
    card_last4: str
    failure_code: str
    invoice_id: int
    invoice_number: str
    customer_id: int
    customer_name: str
    customer_email: str


def _number(invoice_id: int, number: int | None) -> str:
    """The invoice's display number (INV-000042) from the two columns a page row carries."""
    return display_number(SimpleNamespace(id=invoice_id, number=number))


def _invoice_conditions(merchant_id: int, status: str, now: datetime) -> list:
    if status not in INVOICE_FILTERS:
        raise BillingViewError(f"Unknown invoice filter {status!r}.")
    conditions = [Invoice.merchant_id == merchant_id, not_preview(Invoice.customer_id, merchant_id)]
    if status == "overdue":
        conditions += [Invoice.status == InvoiceStatus.OPEN, Invoice.due_at < now]
    elif status == "all":
        conditions.append(Invoice.status != InvoiceStatus.DRAFT)
    else:
        conditions.append(Invoice.status == status)
    return conditions


def days_overdue(status: str, due_at: datetime | None, now: datetime) -> int | None:
    if status != InvoiceStatus.OPEN or due_at is None or due_at >= now:
        return None
    return (now - due_at).days


def list_invoices(
    session: Session,
    clock: Clock,
    merchant_id: int,
    *,
    status: str = "open",
    sort: str = "due_asc",
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of finalized invoices (drafts are never listed), by due date then number."""
    if sort not in INVOICE_SORTS:
        raise BillingViewError(f"Unknown sort order {sort!r}.")
    now = clock.now()
    conditions = _invoice_conditions(merchant_id, status, now)
    total = count_rows(session, Invoice, *conditions)
    shown = clamp_page(page, total, size)
    ascending = sort == "due_asc"

    def by_due(due, ident):
        return (due.asc(), ident.asc()) if ascending else (due.desc(), ident.desc())

    # The page is cut from the invoice index alone; only its rows are joined to customers
    # (a join before OFFSET would look up the customer of every skipped invoice too).
    cut = (
        select(
            Invoice.id,
            Invoice.number,
            Invoice.status,
            Invoice.currency,
            Invoice.total,
            Invoice.amount_paid,
            Invoice.due_at,
            Invoice.customer_id,
        )
        .where(*conditions)
        .order_by(*by_due(Invoice.due_at, Invoice.id))
        .offset(offset(shown, size))
        .limit(size)
        .subquery()
    )
    found = session.exec(
        select(cut, Customer.name, Customer.email)
        .join(Customer, Customer.id == cut.c.customer_id)
        .order_by(*by_due(cut.c.due_at, cut.c.id))
    ).all()
    rows = [
        InvoiceRow(
            id=r.id,
            number=_number(r.id, r.number),
            customer_id=r.customer_id,
            customer_name=r.name,
            customer_email=r.email,
            status=r.status,
            currency=r.currency,
            total=r.total,
            amount_due=r.total - r.amount_paid,
            due_at=r.due_at,
            days_overdue=days_overdue(r.status, r.due_at, now),
        )
        for r in found
    ]
    return Page(rows=rows, total=total, page=shown, pages=page_count(total, size))


def invoice_totals(session: Session, clock: Clock, merchant_id: int) -> InvoiceTotals:
    """Count and amount due of open invoices, and of the overdue ones among them, summed per
    currency in integer minor units (one grouped statement)."""
    now = clock.now()
    due = Invoice.total - Invoice.amount_paid
    late = Invoice.due_at < now
    found = session.exec(
        select(
            Invoice.currency,
            sa.func.count(),
            sa.func.sum(due),
            sa.func.sum(sa.case((late, 1), else_=0)),
            sa.func.sum(sa.case((late, due), else_=0)),
        )
        .where(*_invoice_conditions(merchant_id, "open", now))
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    ).all()
    open_count = sum(int(r[1]) for r in found)
    overdue_count = sum(int(r[3] or 0) for r in found)
    return InvoiceTotals(
        open=Outstanding(open_count, {r[0]: int(r[2] or 0) for r in found}),
        overdue=Outstanding(overdue_count, {r[0]: int(r[4] or 0) for r in found if r[3]}),
    )


def list_payments(
    session: Session,
    merchant_id: int,
    *,
    status: str = "all",
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of payment attempts, newest first, with the invoice, the customer and the card
    (the saved card, or the receipt's copy when the card was removed since)."""
    if status not in PAYMENT_FILTERS:
        raise BillingViewError(f"Unknown payment filter {status!r}.")
    conditions = [Payment.merchant_id == merchant_id, not_preview(Payment.customer_id, merchant_id)]
    if status != "all":
        conditions.append(Payment.status == status)
    total = count_rows(session, Payment, *conditions)
    shown = clamp_page(page, total, size)
    cut = (  # the page from the payment index first, then its 20 rows joined (as invoices)
        select(
            Payment.id,
            Payment.created_at,
            Payment.status,
            Payment.amount,
            Payment.currency,
            Payment.failure_code,
            Payment.invoice_id,
            Payment.customer_id,
            Payment.payment_method_id,
        )
        .where(*conditions)
        .order_by(Payment.id.desc())
        .offset(offset(shown, size))
        .limit(size)
        .subquery()
    )
    found = session.exec(
        select(
            cut,
            Invoice.number,
            Customer.name,
            Customer.email,
            sa.func.coalesce(PaymentMethod.brand, Receipt.card_brand, "").label("brand"),
            sa.func.coalesce(PaymentMethod.last4, Receipt.card_last4, "").label("last4"),
        )
        .join(Invoice, Invoice.id == cut.c.invoice_id)
        .join(Customer, Customer.id == cut.c.customer_id)
        .outerjoin(PaymentMethod, PaymentMethod.id == cut.c.payment_method_id)
        .outerjoin(Receipt, Receipt.payment_id == cut.c.id)
        .order_by(cut.c.id.desc())
    ).all()
    rows = [
        PaymentRow(
            id=r.id,
            created_at=r.created_at,
            status=r.status,
            amount=r.amount,
            currency=r.currency,
            card_brand=r.brand,
            card_last4=r.last4,
            failure_code=r.failure_code or "",
            invoice_id=r.invoice_id,
            invoice_number=_number(r.invoice_id, r.number),
            customer_id=r.customer_id,
            customer_name=r.name,
            customer_email=r.email,
        )
        for r in found
    ]
    return Page(rows=rows, total=total, page=shown, pages=page_count(total, size))
