"""Invoices: a paginated list, one invoice's detail, paying it (default or chosen card), and the
invoice and receipt PDFs."""

from __future__ import annotations

import asyncio

import reflex as rx
import sqlalchemy as sa
from sqlmodel import select

from portal_app.db import read_scope, session_scope
from portal_app.models import Invoice, InvoiceStatus
from portal_app.money import format_money
from portal_app.services import bill_to, documents, invoices, payment_methods
from portal_app.services.errors import FeatureDisabled, NotFound, PortalError
from portal_app.services.gateway import configured_gateway
from portal_app.services.payment_methods import card_label
from portal_app.state.guard import CLOCK, PrivateState, current, guarded

PAGE_SIZE = 20


def _date(value) -> str:
    return value.strftime("%d %b %Y") if value else ""


def read_page(customer_id: int, page: int) -> tuple[list[dict[str, str]], int]:
    """One page of finalized invoices, newest first, with the total count (two queries)."""
    with read_scope() as session:
        scope = (Invoice.customer_id == customer_id, Invoice.status != InvoiceStatus.DRAFT)
        total = session.exec(select(sa.func.count(Invoice.id)).where(*scope)).one()
        rows = session.exec(
            select(Invoice)
            .where(*scope)
            .order_by(Invoice.finalized_at.desc(), Invoice.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
    return [
        {
            "id": str(inv.id),
            "number": invoices.display_number(inv),
            "date": _date(inv.finalized_at),
            "total": format_money(inv.total, inv.currency),
            "status": inv.status,
        }
        for inv in rows
    ], total


def read_detail(customer_id: int, invoice_id: int) -> dict:
    with read_scope() as session:
        inv = invoices.get_for_customer(session, customer_id, invoice_id)
        lines = invoices.lines_of(session, inv.id)
        try:  # the service checks `invoices.receipts`: off, the state holds none
            receipts = invoices.receipts_for(session, customer_id, inv.id)
        except FeatureDisabled:
            receipts = []
        cards = payment_methods.list_cards(session, customer_id)
        issued_to = bill_to.of_invoice(session, inv)  # as issued, not as the profile is now
    return {
        "id": str(inv.id),
        "number": invoices.display_number(inv),
        "status": inv.status,
        "date": _date(inv.finalized_at),
        "period": f"{_date(inv.period_start)} to {_date(inv.period_end)}"
        if inv.period_start
        else "",
        "total": format_money(inv.total, inv.currency),
        "paid": format_money(inv.amount_paid, inv.currency),
        "due": format_money(inv.amount_due, inv.currency),
        "bill_to": list(bill_to.lines(issued_to)),
        "ship_to": list(bill_to.ship_to_lines(issued_to)),
        "lines": [
            {"description": line.description, "amount": format_money(line.amount, inv.currency)}
            for line in lines
        ],
        "receipts": [
            {
                "id": str(r.id),
                "label": " · ".join(
                    (
                        documents.receipt_display_number(r),
                        format_money(r.amount, r.currency),
                        card_label(r.card_brand, r.card_last4),
                        _date(r.created_at),
                    )
                ),
            }
            for r in receipts
        ],
        "cards": [
            {
                "id": str(c.id),
                "label": card_label(c.brand, c.last4),
                "default": "yes" if c.is_default else "",
            }
            for c in cards
        ],
    }


def _render(render, customer_id: int, **ids: int) -> tuple[bytes, str]:
    """PDF rendering is CPU work: run it off the event loop (see the handlers below)."""
    with read_scope() as session:
        return render(session, CLOCK, customer_id=customer_id, **ids)


class InvoicesState(PrivateState):
    rows: list[dict[str, str]] = []
    page: int = 1
    pages: int = 1
    total: int = 0
    loaded: bool = False
    detail: dict = {}
    paying: bool = False
    pay_error: str = ""

    @rx.event
    @guarded("customer", feature="invoices.view")
    def load(self):
        raw = self.router.url.query_parameters.get("page", "1")
        self._show_page(int(raw) if raw.isdigit() else 1)
        invoice_id = self.router.page.params.get("id", "")
        self.detail = {}
        if invoice_id.isdigit():
            self.detail = read_detail(current().customer_id, int(invoice_id))

    def _show_page(self, page: int) -> None:
        rows, total = read_page(current().customer_id, max(page, 1))
        self.rows, self.total = rows, total
        self.pages = max(1, -(-total // PAGE_SIZE))
        self.page = min(max(page, 1), self.pages)
        self.loaded = True

    @rx.event
    @guarded("customer", feature="invoices.view")
    def go_to_page(self, page: int):
        self._show_page(int(page))

    @rx.event
    @guarded("customer", feature="invoices.pay")
    def pay(self, form_data: dict):
        who = current()
        self.pay_error = ""
        invoice_id = int(self.detail.get("id", 0) or 0)
        card = str(form_data.get("card", "") or "")
        self.paying = True
        try:
            with session_scope() as session:
                outcome = invoices.pay(
                    session,
                    CLOCK,
                    configured_gateway(),
                    customer_id=who.customer_id,
                    invoice_id=invoice_id,
                    payment_method_id=int(card) if card else None,
                    actor=who.actor,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.pay_error, self.paying = str(exc), False
            return
        self.paying = False
        self.detail = read_detail(who.customer_id, invoice_id)
        if not outcome.succeeded:
            self.pay_error = outcome.message
            return
        return rx.toast.success(outcome.message)

    @rx.event
    @guarded("customer", feature="invoices.download_pdf")
    async def download_pdf(self, invoice_id: int):
        who = current()
        data, filename = await asyncio.to_thread(
            _render, documents.invoice_pdf, who.customer_id, invoice_id=int(invoice_id)
        )
        return rx.download(data=data, filename=filename, mime_type="application/pdf")

    @rx.event
    @guarded("customer", feature="invoices.receipts")
    async def download_receipt(self, receipt_id: int):
        who = current()
        data, filename = await asyncio.to_thread(
            _render, documents.receipt_pdf, who.customer_id, receipt_id=int(receipt_id)
        )
        return rx.download(data=data, filename=filename, mime_type="application/pdf")
