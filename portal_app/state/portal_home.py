"""The signed-in customer's overview: next invoice, default card, open invoices (pay),
subscriptions and sessions. Every handler is guarded; every id from the browser is re-scoped to the
signed-in customer by the service it is passed to."""

from __future__ import annotations

import asyncio

import reflex as rx
import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.db import read_scope, session_scope
from portal_app.models import (
    AuthSession,
    Customer,
    Invoice,
    InvoiceStatus,
    Merchant,
    PaymentMethod,
    Plan,
    Price,
    Subscription,
    SubscriptionStatus,
)
from portal_app.money import format_money
from portal_app.services import auth, invoices, payment_methods, subscriptions
from portal_app.services.errors import PaymentError
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import CLOCK, PrivateState, SessionState, current, guarded


def _date(value) -> str:
    return value.strftime("%d %b %Y") if value else ""


_CUSTOMER = sa.bindparam("customer_id")
# Built once (the overview runs at every portal visit): prebuilt Core statements that return plain
# rows skip SQLAlchemy's statement building and ORM loading, about 60% of the read's CPU.
_HEAD = (
    select(Customer.name, Customer.email, Merchant.name.label("merchant"))
    .join(Merchant, Merchant.id == Customer.merchant_id)
    .where(Customer.id == _CUSTOMER)
)
_SUBSCRIPTIONS = (
    select(
        Subscription.id,
        Subscription.status,
        Subscription.current_period_end,
        Subscription.cancel_at_period_end,
        Subscription.discount_percent,
        Subscription.discount_cycles_remaining,
        Plan.name.label("plan"),
        Price.amount,
        Price.currency,
    )
    .join(Plan, Plan.id == Subscription.plan_id)
    .join(Price, Price.id == Subscription.price_id)
    .where(Subscription.customer_id == _CUSTOMER)
    .order_by(*subscriptions.LISTING_ORDER)
)
_OPEN_INVOICES = (
    select(
        Invoice.id,
        Invoice.number,
        (Invoice.total - Invoice.amount_paid).label("amount_due"),
        Invoice.currency,
        Invoice.finalized_at,
    )
    .where(Invoice.customer_id == _CUSTOMER, Invoice.status == InvoiceStatus.OPEN)
    .order_by(Invoice.id.desc())
)
_SESSIONS = (
    select(AuthSession.id, AuthSession.user_agent, AuthSession.ip, AuthSession.last_seen_at)
    .where(*auth.live_sessions_of(_CUSTOMER, sa.bindparam("now")))
    .order_by(AuthSession.last_seen_at.desc())
)
_DEFAULT_CARD = (
    select(
        PaymentMethod.brand, PaymentMethod.last4, PaymentMethod.exp_month, PaymentMethod.exp_year
    )
    .where(*payment_methods.default_card_of(_CUSTOMER))
    .order_by(PaymentMethod.id)
    .limit(1)
)


def read_overview(session: Session, customer_id: int, session_row_id: int) -> dict:
    """Everything the overview shows, in five statements."""
    db = session.connection()
    params = {"customer_id": customer_id}
    head = db.execute(_HEAD, params).one()
    rows = db.execute(_SUBSCRIPTIONS, params).all()
    subs = [
        {
            "id": str(sub.id),
            "plan": sub.plan,
            "status": sub.status.replace("_", " "),
            "renews": _date(sub.current_period_end),
            "cancel_at_period_end": "yes" if sub.cancel_at_period_end else "",
        }
        for sub in rows
    ]
    open_invoices = [
        {
            "id": str(inv.id),
            "number": invoices.number_label(inv.id, inv.number),
            "amount": format_money(inv.amount_due, inv.currency),
            "date": _date(inv.finalized_at),
        }
        for inv in db.execute(_OPEN_INVOICES, params)
    ]
    now = CLOCK.now()
    sessions = [
        {
            "id": str(row.id),
            "device": (row.user_agent or "Unknown device")[:60],
            "ip": row.ip,
            "last_seen": row.last_seen_at.strftime("%d %b %Y %H:%M UTC"),
            "current": "yes" if row.id == session_row_id else "",
        }
        for row in db.execute(_SESSIONS, {**params, "now": now})
    ]
    next_invoice = ""
    renewing = [
        sub
        for sub in rows
        if sub.status == SubscriptionStatus.ACTIVE and not sub.cancel_at_period_end
    ]
    if renewing:
        soonest = min(renewing, key=lambda sub: sub.current_period_end)
        amount = subscriptions.discounted_amount(
            soonest.amount, soonest.discount_percent, soonest.discount_cycles_remaining
        )
        next_invoice = (
            f"{format_money(amount, soonest.currency)} on {_date(soonest.current_period_end)}"
        )
    default = db.execute(_DEFAULT_CARD, params).first()
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
        "name": head.name or head.email,
        "merchant": head.merchant,
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
        await asyncio.to_thread(self._refresh)
        session_state = await self.get_state(SessionState)
        session_state.display_name = self.customer_name

    @rx.event
    @guarded("customer", feature="invoices.pay")
    def pay_invoice(self, invoice_id: int):
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
    def end_session(self, session_id: int):
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
