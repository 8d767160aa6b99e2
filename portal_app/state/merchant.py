"""The merchant dashboard's state (staff only). Grows with the dashboard issue."""

from __future__ import annotations

import asyncio

import reflex as rx
from sqlmodel import select

from portal_app.db import read_scope
from portal_app.models import Customer, Merchant, StaffUser, Subscription
from portal_app.services import audit
from portal_app.services.portal_preview import PREVIEW_EMAIL, not_preview
from portal_app.state.guard import PrivateState, SessionState, current, guarded


class MerchantState(PrivateState):
    merchant_name: str = ""
    staff_email: str = ""
    customers: int = 0
    active_subscriptions: int = 0
    audit_status: str = ""

    @rx.event
    @guarded("staff")
    async def load(self):
        await asyncio.to_thread(self._read)
        session_state = await self.get_state(SessionState)
        session_state.display_name = self.staff_email

    def _read(self) -> None:
        who = current()
        with read_scope() as session:
            merchant = session.get(Merchant, who.merchant_id)
            staff = session.get(StaffUser, who.staff_id)
            self.merchant_name, self.staff_email = merchant.name, staff.email
            # the preview customer (staff's stand-in, services/portal_preview.py) is not counted
            self.customers = len(
                session.exec(
                    select(Customer.id).where(
                        Customer.merchant_id == merchant.id, Customer.email != PREVIEW_EMAIL
                    )
                ).all()
            )
            self.active_subscriptions = len(
                session.exec(
                    select(Subscription.id).where(
                        Subscription.merchant_id == merchant.id,
                        Subscription.status == "active",
                        not_preview(Subscription.customer_id, merchant.id),
                    )
                ).all()
            )
            report = audit.verify_chain(session, merchant.id)
        self.audit_status = (
            f"Audit chain intact ({report.checked} events)"
            if report.ok
            else f"Audit chain BROKEN at event {report.first_bad_seq}: {report.problem}"
        )
