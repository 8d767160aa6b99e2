"""Profile (name, email via confirmation link, addresses, merchant-defined fields) and email
notification preferences. The email change's rules (recent sign-in, rate limits, the old
address's cancel link, no change by staff acting for the customer) are services.profile's."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.models import Customer
from portal_app.services import auth, profile, ratelimit
from portal_app.services.errors import PortalError
from portal_app.state.guard import CLOCK, PrivateState, current, guarded

ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "state", "country")


def _address_from(form_data: dict, prefix: str) -> dict[str, str]:
    return {
        field: str(form_data.get(f"{prefix}_{field}", "")).strip()
        for field in ADDRESS_FIELDS
        if str(form_data.get(f"{prefix}_{field}", "")).strip()
    }


class ProfileState(PrivateState):
    name: str = ""
    email: str = ""
    billing: dict[str, str] = {}
    shipping: dict[str, str] = {}
    editable: dict[str, bool] = {}
    fields: list[dict[str, Any]] = []
    values: dict[str, str] = {}
    error: str = ""
    email_message: str = ""
    # profile.OPEN, STAFF_ACTING_GATE or REAUTH_GATE: which email section the page shows
    email_gate: str = ""
    reauth_message: str = ""
    loaded: bool = False
    form_version: int = 0

    def _reload(self) -> None:
        who = current()
        with read_scope() as session:
            customer = session.get(Customer, who.customer_id)
            self.editable = profile.editable_parts(session, who.merchant_id)
            self.fields = [
                {**definition, "options": list(definition.get("options", []))}
                for definition in profile.field_definitions(session, who.merchant_id)
            ]
            self.name, self.email = customer.name, customer.email
            self.billing = {k: str(v) for k, v in (customer.billing_address or {}).items()}
            self.shipping = {k: str(v) for k, v in (customer.shipping_address or {}).items()}
            self.values = {
                k: "" if v is None else str(v) for k, v in (customer.custom_fields or {}).items()
            }
            self.email_gate = profile.email_change_status(
                session, CLOCK, customer_id=who.customer_id, session_row_id=who.session_row_id
            )
        self.form_version += 1
        self.loaded = True

    @rx.event
    @guarded("customer")
    def load(self):
        self.error, self.email_message, self.reauth_message = "", "", ""
        self._reload()

    @rx.event
    @guarded("customer")
    def save(self, form_data: dict):
        who = current()
        self.error = ""
        changes: dict[str, Any] = {}
        if self.editable.get("name"):
            changes["name"] = str(form_data.get("name", ""))
        if self.editable.get("billing_address"):
            changes["billing_address"] = _address_from(form_data, "billing")
        if self.editable.get("shipping_address"):
            changes["shipping_address"] = _address_from(form_data, "shipping")
        if self.editable.get("custom_fields") and self.fields:
            changes["custom_fields"] = {
                field["key"]: form_data.get(f"custom_{field['key']}", "") for field in self.fields
            }
        try:
            with session_scope() as session:
                profile.update_profile(
                    session, CLOCK, customer_id=who.customer_id, changes=changes, actor=who.actor
                )
        except PortalError as exc:
            self.error = str(exc)
            return
        self._reload()
        return rx.toast.success("Profile saved.")

    @rx.event
    @guarded("customer", feature="profile.email")
    def change_email(self, form_data: dict):
        who = current()
        self.email_message = ""
        throttled = None
        try:
            with session_scope() as session:
                try:
                    profile.request_email_change(
                        session,
                        CLOCK,
                        customer_id=who.customer_id,
                        session_row_id=who.session_row_id,
                        new_email=str(form_data.get("new_email", ""))[:400],
                        actor=who.actor,
                        limiter=ratelimit.get_limiter(),
                    )
                except profile.Throttled as exc:
                    throttled = exc  # the refusal's tally commits with this unit of work
        except profile.ReauthRequired:
            self.email_gate = profile.REAUTH_GATE
            return
        except profile.StaffActing:
            self.email_gate = profile.STAFF_ACTING_GATE
            return
        except PortalError as exc:
            self.email_message = str(exc)
            return
        if throttled is not None:
            self.email_message = str(throttled)
            return
        self.email_message = (
            "We sent a confirmation link to the new address, and a note to your current one. "
            "Your email changes when you open the link; you will then sign in again."
        )

    @rx.event
    @guarded("customer", feature="profile.email")
    def send_reauth_link(self):
        """The 'sign in again' button: a fresh link to the customer's own address that comes
        back to this page."""
        who = current()
        throttled = None
        try:
            with session_scope() as session:
                try:
                    profile.send_reauth_link(
                        session,
                        CLOCK,
                        customer_id=who.customer_id,
                        session_row_id=who.session_row_id,
                        actor=who.actor,
                        limiter=ratelimit.get_limiter(),
                    )
                except profile.Throttled as exc:
                    throttled = exc  # the refusal's tally commits with this unit of work
        except PortalError as exc:
            self.reauth_message = str(exc)
            return
        self.reauth_message = (
            str(throttled)
            if throttled is not None
            else f"We sent a sign-in link to {self.email}. Open it in this browser: it works "
            f"once, for {int(auth.LINK_TTL.total_seconds() // 60)} minutes, and brings you "
            "back here."
        )
