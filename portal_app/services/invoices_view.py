"""What the invoices pages show: one page of the customer's finalized invoices, and one
invoice's detail (lines, receipts, the cards it can be paid with, the bill-to as issued)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Self

from sqlmodel import Session, select

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.models import Invoice, InvoiceStatus
from portal_app.money import format_money
from portal_app.services import (
    bill_to,
    documents,
    invoices,
    payment_actions,
    payment_methods,
    refunds,
)
from portal_app.services.errors import FeatureDisabled
from portal_app.services.paging import rows_and_total
from portal_app.services.payment_methods import card_label

PAGE_SIZE = 20


@dataclass
class InvoiceRow:
    """A finalized invoice as the list shows it (`InvoiceDetail` is the same and the rest)."""

    id: str = ""
    number: str = ""
    date: str = ""
    total: str = ""
    status: str = ""

    @classmethod
    def of(cls, inv: Invoice) -> Self:
        return cls(
            id=str(inv.id),
            number=invoices.display_number(inv),
            date=formatting.date(inv.finalized_at),
            total=format_money(inv.total, inv.currency),
            status=inv.status,
        )


@dataclass
class AmountLine:
    description: str = ""
    amount: str = ""


@dataclass
class ReceiptRow:
    id: str = ""
    label: str = ""  # number · amount · card · date


@dataclass
class CardChoice:
    id: str = ""
    label: str = ""
    default: str = ""  # "yes" for the default card


@dataclass
class InvoiceDetail(InvoiceRow):
    period: str = ""
    paid: str = ""
    due: str = ""
    bill_to: list[str] = field(default_factory=list)
    ship_to: list[str] = field(default_factory=list)
    lines: list[AmountLine] = field(default_factory=list)
    receipts: list[ReceiptRow] = field(default_factory=list)
    cards: list[CardChoice] = field(default_factory=list)
    # The newest charge waits for the customer to confirm it with their bank (3-D Secure).
    needs_confirmation: bool = False
    disputed: bool = False
    # Credit notes: "CN-000001 · -$10.00 · Jun 3, 2026 · Requested by the customer".
    refunds: list[str] = field(default_factory=list)


def invoice_page(
    session: Session, clock: Clock, *, customer_id: int, page: int
) -> tuple[list[InvoiceRow], int]:
    """One page of finalized invoices, newest first, with the total count (two queries)."""
    scope = (Invoice.customer_id == customer_id, Invoice.status != InvoiceStatus.DRAFT)
    rows, total = rows_and_total(
        session,
        select(Invoice).where(*scope),
        Invoice.finalized_at.desc(),
        Invoice.id.desc(),
        skip=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return [InvoiceRow.of(inv) for inv in rows], total


def invoice_detail(
    session: Session, clock: Clock, *, customer_id: int, invoice_id: int
) -> InvoiceDetail:
    inv = invoices.get_for_customer(session, customer_id, invoice_id)
    lines = invoices.lines_of(session, inv.id)
    try:  # `receipts_for` checks `invoices.receipts`: off, the page holds none
        receipts = invoices.receipts_for(session, customer_id, inv.id)
    except FeatureDisabled:
        receipts = []
    cards = payment_methods.list_cards(session, customer_id)
    issued_to = bill_to.of_invoice(session, inv)  # as issued, not as the profile is now
    return replace(
        InvoiceDetail.of(inv),
        period=f"{formatting.date(inv.period_start)} to {formatting.date(inv.period_end)}"
        if inv.period_start
        else "",
        paid=format_money(inv.amount_paid, inv.currency),
        due=format_money(inv.amount_due, inv.currency),
        needs_confirmation=payment_actions.waiting_payment(session, inv) is not None,
        disputed=inv.disputed_at is not None,
        refunds=[
            " · ".join(
                (
                    refunds.credit_note_number(note),
                    format_money(-note.amount, note.currency),
                    formatting.date(note.created_at),
                    refunds.REASONS.get(note.reason, note.reason),
                )
            )
            for note in refunds.notes_of_invoice(session, inv.id)
        ],
        bill_to=list(bill_to.lines(issued_to)),
        ship_to=list(bill_to.ship_to_lines(issued_to)),
        lines=[
            AmountLine(line.description, format_money(line.amount, inv.currency)) for line in lines
        ],
        receipts=[
            ReceiptRow(
                id=str(r.id),
                label=" · ".join(
                    (
                        documents.receipt_display_number(r),
                        format_money(r.amount, r.currency),
                        card_label(r.card_brand, r.card_last4),
                        formatting.date(r.created_at),
                    )
                ),
            )
            for r in receipts
        ],
        cards=[
            CardChoice(
                id=str(c.id),
                label=card_label(c.brand, c.last4),
                default="yes" if c.is_default else "",
            )
            for c in cards
        ],
    )
