"""The signed-in customer's overview: next invoice, default card, open invoices (pay),
subscriptions and sessions. Every handler is guarded; every id from the browser is re-scoped to the
signed-in customer by the service it is passed to."""

from __future__ import annotations

import asyncio

import reflex as rx

from portal_app.services import auth, invoices, portal_home_view
from portal_app.services.errors import PaymentError
from portal_app.services.portal_home_view import OpenInvoice, OverviewSubscription, SignInRow
from portal_app.state.guard import (
    PrivateState,
    Refreshing,
    SessionState,
    current,
    guarded,
    read,
    write,
)


class PortalState(Refreshing, PrivateState):
    customer_name: str = ""
    merchant_name: str = ""
    subscriptions: list[OverviewSubscription] = []
    open_invoices: list[OpenInvoice] = []
    sessions: list[SignInRow] = []
    loaded: bool = False
    message: str = ""
    next_invoice: str = ""
    default_card: str = ""
    expiring: str = ""

    def _refresh(self) -> None:
        data = read(portal_home_view.overview, session_row_id=current().session_row_id)
        self.customer_name, self.merchant_name = data.name, data.merchant
        self.subscriptions, self.open_invoices = data.subscriptions, data.open_invoices
        self.sessions = data.sessions
        self.next_invoice, self.default_card = data.next_invoice, data.default_card
        self.expiring = data.expiring
        self.loaded = True

    @rx.event
    @guarded("customer")
    async def load(self):
        await asyncio.to_thread(self._refresh)
        session_state = await self.get_state(SessionState)
        session_state.display_name = self.customer_name

    @rx.event
    @guarded("customer", feature="invoices.pay")
    def pay_invoice(self, invoice_id: int):
        outcome = write(invoices.pay, invoice_id=int(invoice_id), payment_method_id=None)
        self._refresh()
        if not outcome.succeeded:
            raise PaymentError(outcome.message)
        return rx.toast.success(outcome.message)

    @rx.event
    @guarded("customer")
    def end_session(self, session_id: int):
        if int(session_id) == current().session_row_id:
            return rx.toast.info("Use “Sign out” to end this session.")
        write(auth.end_session, session_row_id=int(session_id))
        return self._changed("That session has been signed out.")
