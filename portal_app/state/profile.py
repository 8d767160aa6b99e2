"""Profile (name, email via confirmation link, addresses, merchant-defined fields). The email
change's rules (recent sign-in, rate limits, the old address's cancel link, no change by staff
acting for the customer) are services.email_change's."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal_app.services import auth, email_change, profile, profile_view
from portal_app.services.profile_view import CustomField
from portal_app.state.guard import PrivateState, Refreshing, current, guarded, read, write

ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "state", "country")


def _address_from(form_data: dict, prefix: str) -> dict[str, str]:
    return {
        field: str(form_data.get(f"{prefix}_{field}", "")).strip()
        for field in ADDRESS_FIELDS
        if str(form_data.get(f"{prefix}_{field}", "")).strip()
    }


class ProfileState(Refreshing, PrivateState):
    name: str = ""
    email: str = ""
    billing: dict[str, str] = {}
    shipping: dict[str, str] = {}
    editable: dict[str, bool] = {}
    fields: list[CustomField] = []
    values: dict[str, str] = {}
    error: str = ""
    email_message: str = ""
    # email_change.OPEN, STAFF_ACTING_GATE or REAUTH_GATE: which email section the page shows
    email_gate: str = ""
    reauth_message: str = ""
    loaded: bool = False
    form_version: int = 0

    def _refresh(self) -> None:
        form = read(profile_view.profile_form, session_row_id=current().session_row_id)
        self.name, self.email = form.name, form.email
        self.billing, self.shipping = form.billing, form.shipping
        self.editable, self.fields, self.values = form.editable, form.fields, form.values
        self.email_gate = form.email_gate
        self.form_version += 1
        self.loaded = True

    @rx.event
    @guarded("customer")
    def load(self):
        self.error, self.email_message, self.reauth_message = "", "", ""
        self._refresh()

    @rx.event
    @guarded("customer", error="error")
    def save(self, form_data: dict):
        changes: dict[str, Any] = {}
        if self.editable.get("name"):
            changes["name"] = str(form_data.get("name", ""))
        if self.editable.get("billing_address"):
            changes["billing_address"] = _address_from(form_data, "billing")
        if self.editable.get("shipping_address"):
            changes["shipping_address"] = _address_from(form_data, "shipping")
        if self.editable.get("custom_fields") and self.fields:
            changes["custom_fields"] = {
                field.key: form_data.get(f"custom_{field.key}", "") for field in self.fields
            }
        write(profile.update_profile, changes=changes)
        return self._changed("Profile saved.")

    @rx.event
    @guarded("customer", feature="profile.email", error="email_message")
    def change_email(self, form_data: dict):
        try:
            throttled = write(
                profile_view.request_email_change,
                session_row_id=current().session_row_id,
                new_email=str(form_data.get("new_email", ""))[:400],
            )
        except email_change.ReauthRequired:
            self.email_gate = email_change.REAUTH_GATE
            return
        except email_change.StaffActing:
            self.email_gate = email_change.STAFF_ACTING_GATE
            return
        self.email_message = throttled or (
            "We sent a confirmation link to the new address, and a note to your current one. "
            "Your email changes when you open the link; you will then sign in again."
        )

    @rx.event
    @guarded("customer", feature="profile.email", error="reauth_message")
    def send_reauth_link(self):
        """The 'sign in again' button: a fresh link to the customer's own address that comes
        back to this page."""
        throttled = write(profile_view.send_reauth_link, session_row_id=current().session_row_id)
        self.reauth_message = throttled or (
            f"We sent a sign-in link to {self.email}. Open it in this browser: it works "
            f"once, for {int(auth.LINK_TTL.total_seconds() // 60)} minutes, and brings you "
            "back here."
        )
