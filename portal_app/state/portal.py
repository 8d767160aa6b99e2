"""The signed-in customer's overview: next invoice, default card, open invoices (pay),
subscriptions and sessions. Every handler is guarded; every id from the browser is re-scoped to the
signed-in customer by the service it is passed to."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session, select

from portal_app.db import read_scope, session_scope
from portal_app.models import Customer, Invoice, InvoiceStatus, Merchant, Plan, Price
from portal_app.money import format_money
from portal_app.services import auth, invoices, payment_methods, subscriptions
from portal_app.services.errors import PaymentError
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import CLOCK, PrivateState, SessionState, current, guarded


def _date(value) -> str:
    return value.strftime("%d %b %Y") if value else ""


def read_overview(session: Session, customer_id: int, session_row_id: int) -> dict:
    customer = session.get(Customer, customer_id)
    merchant = session.get(Merchant, customer.merchant_id)
    subs = []
    for sub in subscriptions.list_for_customer(session, customer_id):
        plan = session.get(Plan, sub.plan_id)
        subs.append(
            {
                "id": str(sub.id),
                "plan": plan.name,
                "status": sub.status.replace("_", " "),
                "renews": _date(sub.current_period_end),
                "cancel_at_period_end": "yes" if sub.cancel_at_period_end else "",
            }
        )
    open_invoices = [
        {
            "id": str(inv.id),
            "number": invoices.display_number(inv),
            "amount": format_money(inv.amount_due, inv.currency),
            "date": _date(inv.finalized_at),
        }
        for inv in session.exec(
            select(Invoice)
            .where(Invoice.customer_id == customer_id, Invoice.status == InvoiceStatus.OPEN)
            .order_by(Invoice.id.desc())
        )
    ]
    sessions = [
        {
            "id": str(row.id),
            "device": (row.user_agent or "Unknown device")[:60],
            "ip": row.ip,
            "last_seen": row.last_seen_at.strftime("%d %b %Y %H:%M UTC"),
            "current": "yes" if row.id == session_row_id else "",
        }
        for row in auth.list_sessions(session, CLOCK, customer_id)
    ]
    next_invoice = ""
    renewing = [
        sub
        for sub in subscriptions.list_for_customer(session, customer_id)
        if sub.status == "active" and not sub.cancel_at_period_end
    ]
    if renewing:
        soonest = min(renewing, key=lambda sub: sub.current_period_end)
        price = session.get(Price, soonest.price_id)
        amount = subscriptions.discounted_price(soonest, price.amount)
        next_invoice = (
            f"{format_money(amount, price.currency)} on {_date(soonest.current_period_end)}"
        )
    default = payment_methods.default_card(session, customer_id)
    now = CLOCK.now()
    expiring = ""
    if default is not None:
        months_left = (default.exp_year - now.year) * 12 + default.exp_month - now.month
        if months_left < 0:
            expiring = "Your default card has expired. Add a new card to avoid interruptions."
        elif months_left <= 1:
            expiring = "Your default card expires soon. Update it to avoid a failed payment."
    return {
        "next_invoice": next_invoice,
        "default_card": payment_methods.card_label(default.brand, default.last4) if default else "",
        "expiring": expiring,
        "name": customer.name or customer.email,
        "merchant": merchant.name,
        "subscriptions": subs,
        "open_invoices": open_invoices,
        "sessions": sessions,
    }


class PortalState(PrivateState):
    customer_name: str = ""
    merchant_name: str = ""
    subscriptions: list[dict[str, str]] = []
    open_invoices: list[dict[str, str]] = []
    sessions: list[dict[str, str]] = []
    loaded: bool = False
    message: str = ""
    next_invoice: str = ""
    default_card: str = ""
    expiring: str = ""

    def _refresh(self) -> None:
        who = current()
        with read_scope() as session:
            data = read_overview(session, who.customer_id, who.session_row_id)
        self.customer_name, self.merchant_name = data["name"], data["merchant"]
        self.subscriptions, self.open_invoices = data["subscriptions"], data["open_invoices"]
        self.sessions = data["sessions"]
        self.next_invoice, self.default_card = data["next_invoice"], data["default_card"]
        self.expiring = data["expiring"]
        self.loaded = True

    @rx.event
    @guarded("customer")
    async def load(self):
        self._refresh()
        session_state = await self.get_state(SessionState)
        session_state.display_name = self.customer_name

    @rx.event
    @guarded("customer", feature="invoices.pay")
    async def pay_invoice(self, invoice_id: int):
        who = current()
        with session_scope() as session:
            outcome = invoices.pay(
                session,
                CLOCK,
                configured_gateway(),
                customer_id=who.customer_id,
                invoice_id=int(invoice_id),
                payment_method_id=None,
                actor=who.actor,
            )
        self._refresh()
        if not outcome.succeeded:
            raise PaymentError(outcome.message)
        return rx.toast.success(outcome.message)

    @rx.event
    @guarded("customer")
    async def end_session(self, session_id: int):
        who = current()
        if int(session_id) == who.session_row_id:
            return rx.toast.info("Use “Sign out” to end this session.")
        with session_scope() as session:
            auth.end_session(
                session,
                CLOCK,
                customer_id=who.customer_id,
                session_row_id=int(session_id),
                actor=who.actor,
            )
        self._refresh()
        return rx.toast.success("That session has been signed out.")
