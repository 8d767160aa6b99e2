"""The merchant dashboard's state (staff only). Grows with the dashboard issue."""

from __future__ import annotations

import asyncio

import reflex as rx

from portal_app.clock import SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.services import audit, merchant_home
from portal_app.state.guard import PrivateState, SessionState, current, guarded

CLOCK = SystemClock()


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
        who = current()
        with read_scope() as session:  # never takes SQLite's write lock...
            home = merchant_home.read(
                session, CLOCK, merchant_id=who.merchant_id, staff_id=who.staff_id
            )
        if merchant_home.needs_saving(home):  # ...unless there is a checkpoint to move
            with session_scope() as session:
                audit.save_checkpoint(session, CLOCK, who.merchant_id, home.chain)
        self.merchant_name, self.staff_email = home.merchant_name, home.staff_email
        self.customers, self.active_subscriptions = home.customers, home.active_subscriptions
        self.audit_status = merchant_home.chain_status(home.chain)
