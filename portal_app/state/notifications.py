"""Profile (name, email via confirmation link, addresses, merchant-defined fields) and email
notification preferences. The email change's rules (recent sign-in, rate limits, the old
address's cancel link, no change by staff acting for the customer) are services.profile's."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.services import notification_prefs
from portal_app.state.guard import CLOCK, PrivateState, current, guarded


class PreferencesState(PrivateState):
    options: list[dict[str, Any]] = []
    loaded: bool = False
    form_version: int = 0

    def _reload(self) -> None:
        who = current()
        with read_scope() as session:
            current_values = notification_prefs.get_preferences(session, who.customer_id)
            offered = notification_prefs.available_preferences(session, who.merchant_id)
        self.options = [
            {"key": option.key, "label": option.label, "on": bool(current_values[option.key])}
            for option in offered
        ]
        self.form_version += 1
        self.loaded = True

    @rx.event
    @guarded("customer", feature="notifications.manage")
    def load(self):
        self._reload()

    @rx.event
    @guarded("customer", feature="notifications.manage")
    def save(self, form_data: dict):
        who = current()
        changes = {option["key"]: option["key"] in form_data for option in self.options}
        with session_scope() as session:
            notification_prefs.update_preferences(
                session, CLOCK, customer_id=who.customer_id, changes=changes, actor=who.actor
            )
        self._reload()
        return rx.toast.success("Preferences saved.")
