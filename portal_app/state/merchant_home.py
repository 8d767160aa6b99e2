"""The merchant dashboard's state (staff only). Grows with the dashboard issue."""

from __future__ import annotations

import asyncio

import reflex as rx

from portal_app.services import audit, merchant_home
from portal_app.state.guard import PrivateState, SessionState, current, guarded, read, write


class MerchantState(PrivateState):
    merchant_name: str = ""
    staff_email: str = ""
    customers: int = 0
    active_subscriptions: int = 0
    audit_status: str = ""

    @rx.event
    @guarded("staff", staff_role="viewer")
    async def load(self):
        await asyncio.to_thread(self._read)
        session_state = await self.get_state(SessionState)
        session_state.display_name = self.staff_email

    def _read(self) -> None:
        home = read(merchant_home.read, staff_id=current().staff_id)  # never takes the write lock
        if merchant_home.needs_saving(home):  # ...unless there is a checkpoint to move
            write(audit.save_checkpoint, report=home.chain)
        self.merchant_name, self.staff_email = home.merchant_name, home.staff_email
        self.customers, self.active_subscriptions = home.customers, home.active_subscriptions
        self.audit_status = merchant_home.chain_status(home.chain)
