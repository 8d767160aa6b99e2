"""Staff → Invoices, read for the screen: one page of invoices as display rows, what is open and
overdue per currency, and the merchant time they were counted at (a demo merchant's test clock
moves "overdue" along with it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.money import format_money
from portal_app.services import merchant_billing
from portal_app.services.merchant_clock_view import merchant_clock_of
from portal_app.services.paging import Page


class InvoiceListRow(TypedDict):
    id: str
    number: str
    customer_id: str
    customer: str  # the name, else the email
    email: str
    status: str
    amount: str
    due_date: str
    days_overdue: str  # "" when not overdue, "<1" on the due day


@dataclass(frozen=True)
class InvoicesView:
    found: Page  # rows: InvoiceListRow
    open_count: int
    open_sums: str  # per currency, side by side ("" when nothing is open)
    overdue_count: int
    overdue_sums: str
    as_of: str  # the merchant time the figures are for


def days(days_overdue: int | None) -> str:
    """Whole days past due; "<1" on the due day itself, "" when not overdue."""
    if days_overdue is None:
        return ""
    return "<1" if days_overdue == 0 else str(days_overdue)


def _row(r: merchant_billing.InvoiceRow) -> InvoiceListRow:
    return {
        "id": str(r.id),
        "number": r.number,
        "customer_id": str(r.customer_id),
        "customer": r.customer_name or r.customer_email,
        "email": r.customer_email,
        "status": r.status,
        "amount": format_money(r.total, r.currency),
        "due_date": formatting.iso_date(r.due_at),
        "days_overdue": days(r.days_overdue),
    }


def invoices_page(
    session: Session, clock: Clock, *, merchant_id: int, status: str, sort: str, page: int
) -> InvoicesView:
    at = merchant_clock_of(session, merchant_id)
    totals = merchant_billing.invoice_totals(session, at, merchant_id)
    found = merchant_billing.list_invoices(
        session, at, merchant_id, status=status, sort=sort, page=page
    )
    return InvoicesView(
        found=Page([_row(r) for r in found.rows], found.total, found.page, found.pages),
        open_count=totals.open.count,
        open_sums=formatting.sums(totals.open.sums),
        overdue_count=totals.overdue.count,
        overdue_sums=formatting.sums(totals.overdue.sums),
        as_of=formatting.datetime_(at.now()),
    )
