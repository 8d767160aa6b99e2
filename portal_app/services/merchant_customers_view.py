"""Staff → Customers, read for the screen: one page of the customer list and one customer's
record, as display rows."""

from __future__ import annotations

from typing import TypedDict

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.money import format_money
from portal_app.services import customers, invoices
from portal_app.services.paging import Page, page_count
from portal_app.services.payment_methods import card_label

PAGE_SIZE = 25


class CustomerListRow(TypedDict):
    id: str
    email: str
    name: str
    since: str


class SubscriptionLine(TypedDict):
    id: str
    status: str
    period_end: str


class InvoiceLine(TypedDict):
    number: str
    status: str
    total: str
    date: str


class PaymentLine(TypedDict):
    amount: str
    status: str
    date: str
    code: str


class CardLine(TypedDict):
    label: str
    expiry: str
    default: str  # "default" | ""


class DownloadLine(TypedDict):
    asset: str
    date: str


class AuditLine(TypedDict):
    seq: str
    when: str
    action: str
    actor: str
    result: str


class CustomerRecordView(TypedDict, total=False):  # {} while no record is open
    id: str
    name: str
    email: str
    balance: str
    credit: str
    subscriptions: list[SubscriptionLine]
    invoices: list[InvoiceLine]
    payments: list[PaymentLine]
    cards: list[CardLine]
    downloads: list[DownloadLine]
    audit: list[AuditLine]


def customer_page(
    session: Session, clock: Clock, *, merchant_id: int, query: str, page: int
) -> Page:
    """Rows: `CustomerListRow`; `page` as asked (the search does not clamp it)."""
    found, total = customers.search(session, merchant_id, query, page, PAGE_SIZE)
    rows: list[CustomerListRow] = [
        {
            "id": str(c.id),
            "email": c.email,
            "name": c.name,
            "since": formatting.iso_date(c.created_at),
        }
        for c in found
    ]
    return Page(rows, total, page, page_count(total, PAGE_SIZE))


def customer_record(
    session: Session, clock: Clock, *, merchant_id: int, customer_id: int
) -> CustomerRecordView:
    rec = customers.record(session, merchant_id, customer_id)
    c = rec.customer
    day = formatting.iso_date
    return {
        "id": str(c.id),
        "name": c.name,
        "email": c.email,
        "balance": format_money(rec.open_balance, c.currency),
        "credit": format_money(c.credit_balance, c.currency),
        "subscriptions": [
            {"id": str(s.id), "status": s.status, "period_end": day(s.current_period_end)}
            for s in rec.subscriptions
        ],
        "invoices": [
            {
                "number": invoices.display_number(i),
                "status": i.status,
                "total": format_money(i.total, i.currency),
                "date": day(i.finalized_at),
            }
            for i in rec.invoices
        ],
        "payments": [
            {
                "amount": format_money(p.amount, p.currency),
                "status": p.status,
                "date": day(p.created_at),
                "code": p.failure_code or "",
            }
            for p in rec.payments
        ],
        "cards": [
            {
                "label": card_label(m.brand, m.last4),
                "expiry": f"{m.exp_month:02d}/{m.exp_year}",
                "default": "default" if m.is_default else "",
            }
            for m in rec.cards
        ],
        "downloads": [{"asset": str(d.asset_id), "date": day(d.created_at)} for d in rec.downloads],
        "audit": [
            {
                "seq": str(e.seq),
                "when": formatting.iso_minute(e.created_at),
                "action": e.action,
                "actor": e.actor_type,
                "result": e.result,
            }
            for e in rec.audit
        ],
    }
