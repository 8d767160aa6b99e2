"""Email notification preferences: which emails the customer gets, among those the merchant
offers."""

from __future__ import annotations

import reflex as rx

from portal_app.services import notification_prefs, notifications_view
from portal_app.services.notifications_view import PreferenceRow
from portal_app.state.guard import PrivateState, Refreshing, guarded, read, write


class PreferencesState(Refreshing, PrivateState):
    options: list[PreferenceRow] = []
    loaded: bool = False
    form_version: int = 0

    def _refresh(self) -> None:
        self.options = read(notifications_view.preference_rows)
        self.form_version += 1
        self.loaded = True

    @rx.event
    @guarded("customer", feature="notifications.manage")
    def load(self):
        self._refresh()

    @rx.event
    @guarded("customer", feature="notifications.manage")
    def save(self, form_data: dict):
        changes = {option.key: option.key in form_data for option in self.options}
        write(notification_prefs.update_preferences, changes=changes)
        return self._changed("Preferences saved.")
