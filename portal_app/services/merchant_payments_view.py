"""Staff → Payments, read for the screen: one page of payments as display rows."""

from __future__ import annotations

from typing import TypedDict

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.models import CreditNote
from portal_app.money import format_money, major_text
from portal_app.services import merchant_billing
from portal_app.services.paging import Page
from portal_app.services.payment_methods import card_label


class PaymentListRow(TypedDict):
    id: str
    when: str
    status: str
    amount: str
    card: str  # "" when the payment had no card
    invoice: str
    customer_id: str
    customer: str  # the name, else the email
    email: str
    code: str  # the failure code, "" when it succeeded
    refunded: str  # what credit notes gave back, "" when none
    left: str  # what is left to refund, as the form takes it ("12.50"); "" when nothing


def _row(r: merchant_billing.PaymentRow, refunded: int = 0) -> PaymentListRow:
    left = r.amount - refunded if r.status == "succeeded" else 0
    return {
        "id": str(r.id),
        "when": formatting.iso_minute(r.created_at),
        "status": r.status,
        "amount": format_money(r.amount, r.currency),
        "card": card_label(r.card_brand, r.card_last4) if r.card_last4 else "",
        "invoice": r.invoice_number,
        "customer_id": str(r.customer_id),
        "customer": r.customer_name or r.customer_email,
        "email": r.customer_email,
        "code": r.failure_code,
        "refunded": format_money(refunded, r.currency) if refunded else "",
        "left": major_text(left, r.currency) if left > 0 else "",
    }


def payments_page(
    session: Session, clock: Clock, *, merchant_id: int, status: str, page: int
) -> Page:
    """Rows: `PaymentListRow`."""
    found = merchant_billing.list_payments(session, merchant_id, status=status, page=page)
    given_back = dict(
        session.exec(
            select(CreditNote.payment_id, sa.func.sum(CreditNote.amount))
            .where(CreditNote.payment_id.in_([r.id for r in found.rows]))
            .group_by(CreditNote.payment_id)
        ).all()
    )
    return Page(
        [_row(r, int(given_back.get(r.id, 0))) for r in found.rows],
        found.total,
        found.page,
        found.pages,
    )
