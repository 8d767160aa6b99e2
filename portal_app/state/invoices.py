"""Invoices: a paginated list, one invoice's detail, paying it (default or chosen card), and the
invoice and receipt PDFs."""

from __future__ import annotations

import asyncio

import reflex as rx

from portal_app.components import gateway_js
from portal_app.services import documents, invoices, invoices_view, payment_actions
from portal_app.services.invoices_view import PAGE_SIZE, InvoiceDetail, InvoiceRow
from portal_app.state import paging
from portal_app.state.guard import PrivateState, guarded, read, write


class InvoicesState(paging.PagedList, PrivateState):
    rows: list[InvoiceRow] = []
    loaded: bool = False
    detail: InvoiceDetail = InvoiceDetail()  # id "" when no invoice is open
    pay_error: str = ""
    # 3-D Secure: the confirmation runs (Stripe.js), or the sandbox's bank dialog is open.
    confirming: bool = False
    sandbox_bank_open: bool = False

    @rx.event
    @guarded("customer", feature="invoices.view")
    def load(self):
        raw = self.router.url.query_parameters.get("page", "1")
        self._go_to(int(raw) if raw.isdigit() else 1)
        invoice_id = self.router.page.params.get("id", "")
        self.detail = InvoiceDetail()
        if invoice_id.isdigit():
            self.detail = read(invoices_view.invoice_detail, invoice_id=int(invoice_id))

    def _go_to(self, page: int) -> None:
        """The page asked for is read as asked (from 1 up), then brought into 1..pages."""
        self.page = int(page)
        self._load_page()

    def _load_page(self) -> None:
        self.rows, total = read(invoices_view.invoice_page, page=max(self.page, 1))
        self._set_total(total, PAGE_SIZE)
        self.page = min(max(self.page, 1), self.pages)
        self.loaded = True

    go_to_page = paging.go_to_page("customer", "invoices.view")

    @rx.event
    @guarded("customer", feature="invoices.pay", error="pay_error")
    def pay(self, form_data: dict):
        invoice_id = int(self.detail.id or 0)
        card = str(form_data.get("card", "") or "")
        outcome = write(
            invoices.pay, invoice_id=invoice_id, payment_method_id=int(card) if card else None
        )
        self.detail = read(invoices_view.invoice_detail, invoice_id=invoice_id)
        if outcome.status == "action_required":  # on-session: the bank asks right away
            return self._start_confirmation(invoice_id)
        if not outcome.succeeded:
            self.pay_error = outcome.message
            return
        return rx.toast.success(outcome.message)

    @rx.event
    @guarded("customer", feature="invoices.pay", error="pay_error")
    def confirm_payment(self):
        """The invoice's charge waits for 3-D Secure: run the bank's confirmation."""
        return self._start_confirmation(int(self.detail.id or 0))

    def _start_confirmation(self, invoice_id: int):
        self.pay_error = ""
        started = write(payment_actions.start_confirmation, invoice_id=invoice_id)
        if not started.client_secret:  # the sandbox: its bank is a dialog of ours
            self.sandbox_bank_open = True
            return None
        self.confirming = True
        # The client secret goes in this script to this browser only, never into state.
        return rx.call_script(
            gateway_js.confirm_payment(
                started.script_url, started.publishable_key, started.client_secret
            ),
            callback=InvoicesState.bank_answered,
        )

    @rx.event
    @guarded("customer", feature="invoices.pay", error="pay_error")
    def bank_answered(self, _result: dict):
        """Stripe.js finished; what happened is read from Stripe, not from the browser."""
        self.confirming = False
        return self._finish(None)

    @rx.event
    @guarded("customer", feature="invoices.pay", error="pay_error")
    def sandbox_bank(self, approve: bool):
        self.sandbox_bank_open = False
        return self._finish(approve is True)

    def _finish(self, approved: bool | None):
        invoice_id = int(self.detail.id or 0)
        outcome = write(
            payment_actions.finish_confirmation, invoice_id=invoice_id, approved=approved
        )
        self.detail = read(invoices_view.invoice_detail, invoice_id=invoice_id)
        if not outcome.succeeded:
            self.pay_error = outcome.message
            return None
        return rx.toast.success("Payment confirmed. Thank you!")

    @rx.event
    @guarded("customer", feature="invoices.download_pdf")
    async def download_pdf(self, invoice_id: int):
        return await _pdf(documents.invoice_pdf, invoice_id=int(invoice_id))

    @rx.event
    @guarded("customer", feature="invoices.receipts")
    async def download_receipt(self, receipt_id: int):
        return await _pdf(documents.receipt_pdf, receipt_id=int(receipt_id))


async def _pdf(document, **ids):
    """`document`'s PDF as a download; rendering is CPU work, so it runs off the event loop."""
    data, filename = await asyncio.to_thread(read, document, **ids)
    return rx.download(data=data, filename=filename, mime_type="application/pdf")
