"""Staff: the customer list (search, pages) and one customer's record, with a portal link."""

from __future__ import annotations

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.money import format_money
from portal_app.services import auth, customers, invoices
from portal_app.services.payment_methods import card_label
from portal_app.state.guard import CLOCK, PrivateState, current, guarded

PAGE_SIZE = 25
PORTAL_LINK_FIELD = "portal-link"  # the id of the page's read-only field that shows the link


def _when(value) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


class MerchantCustomersState(PrivateState):
    rows: list[dict[str, str]] = []
    query: str = ""
    page: int = 1
    pages: int = 1
    total: int = 0
    record: dict = {}
    # A support link is a credential: it waits in a backend var (never sent as state, never
    # kept), is handed to the browser once by `reveal_portal_link` and forgotten.
    _portal_link: str = ""
    portal_link_note: str = ""  # what the shown link is for; "" while none is shown
    loaded: bool = False

    def _list(self) -> None:
        who = current()
        with read_scope() as session:
            found, total = customers.search(
                session, who.merchant_id, self.query, self.page, PAGE_SIZE
            )
            self.rows = [
                {"id": str(c.id), "email": c.email, "name": c.name, "since": _when(c.created_at)}
                for c in found
            ]
        self.total, self.pages = total, max(1, -(-total // PAGE_SIZE))
        self.loaded = True

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self._portal_link, self.portal_link_note, self.record = "", "", {}
        customer_id = self.router.page.params.get("id", "")
        if customer_id.isdigit():
            self._open(int(customer_id))
        else:
            self.query, self.page = "", 1
            self._list()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def search(self, form_data: dict):
        self.query, self.page = str(form_data.get("q", ""))[:100], 1
        self._list()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def go_to_page(self, page: int):
        self.page = max(1, min(int(page), self.pages))
        self._list()

    def _open(self, customer_id: int) -> None:
        who = current()
        with read_scope() as session:
            rec = customers.record(session, who.merchant_id, customer_id)
            c = rec.customer
            self.record = {
                "id": str(c.id),
                "name": c.name,
                "email": c.email,
                "balance": format_money(rec.open_balance, c.currency),
                "credit": format_money(c.credit_balance, c.currency),
                "subscriptions": [
                    {"id": str(s.id), "status": s.status, "period_end": _when(s.current_period_end)}
                    for s in rec.subscriptions
                ],
                "invoices": [
                    {
                        "number": invoices.display_number(i),
                        "status": i.status,
                        "total": format_money(i.total, i.currency),
                        "date": _when(i.finalized_at),
                    }
                    for i in rec.invoices
                ],
                "payments": [
                    {
                        "amount": format_money(p.amount, p.currency),
                        "status": p.status,
                        "date": _when(p.created_at),
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
                "downloads": [
                    {"asset": str(d.asset_id), "date": _when(d.created_at)} for d in rec.downloads
                ],
                "audit": [
                    {
                        "seq": str(e.seq),
                        "when": e.created_at.strftime("%Y-%m-%d %H:%M"),
                        "action": e.action,
                        "actor": e.actor_type,
                        "result": e.result,
                    }
                    for e in rec.audit
                ],
            }

    @rx.event
    @guarded("staff", staff_role="support")
    def create_portal_link(self):
        """A one-time link that opens this customer's portal as this staff member acting for
        them (support): banner, audited under the member, no email or sign-in changes."""
        who = current()
        customer_id = int(self.record.get("id", 0) or 0)
        with session_scope() as session:
            token = auth.issue_support_link(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                customer_id=customer_id,
                actor=who.actor,
                acting_staff_id=who.staff_id,
            )
        self._portal_link, self.portal_link_note = token, ""
        return MerchantCustomersState.reveal_portal_link

    @rx.event
    @guarded("staff", staff_role="support")
    def reveal_portal_link(self):
        """Show the new link once, straight into the page's read-only field (an event, not a
        state var), then forget it; a second call has nothing to show."""
        link, self._portal_link = self._portal_link, ""
        if not link:
            self.portal_link_note = ""
            return rx.toast.info("That link was already shown. Create a new one if you need it.")
        minutes = int(auth.PORTAL_LINK_TTL.total_seconds() // 60)
        self.portal_link_note = (
            f"Shown once and not kept: copy it now. It opens {self.record.get('email', '')}'s "
            f"portal as you, works once and expires in {minutes} minutes."
        )
        return rx.set_value(PORTAL_LINK_FIELD, link)
