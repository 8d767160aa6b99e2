"""Staff → Webhooks: the merchant's endpoints and their deliveries (owners and admins). Thin:
every handler is `@guarded("staff", staff_role="admin")` and hands ids to the services, which
scope them to the member's merchant. A secret is shown once, in a dialog, and leaves the state
when the dialog closes; delete and rotate act on the id the confirmation was opened for."""

from __future__ import annotations

import reflex as rx

from portal_app.services import (
    merchant_webhooks_view,
    staff_roles,
    webhook_delivery,
    webhook_endpoints,
)
from portal_app.services.merchant_webhooks_view import DeliveryRow, EndpointRow
from portal_app.services.webhook_events import EVENT_TYPES
from portal_app.state.guard import PrivateState, Refreshing, current, guarded, read, write
from portal_app.state.merchant_catalog_editor import posted, resubmitted


class MerchantWebhooksState(Refreshing, PrivateState):
    access: str = ""  # "" until checked | admin | denied
    loaded: bool = False
    endpoints: list[EndpointRow] = []
    event_types: list[str] = list(EVENT_TYPES)
    create_error: str = ""
    form_version: int = 0
    secret: str = ""  # a new or rotated secret, shown once
    secret_for: str = ""
    selected_id: str = ""  # the endpoint whose deliveries are listed
    selected_url: str = ""
    deliveries: list[DeliveryRow] = []
    type_filter: str = ""
    status_filter: str = ""
    confirm_kind: str = ""  # "" | delete | rotate
    confirm_url: str = ""
    _confirm_id: int = 0

    @rx.event
    @guarded("staff", staff_role="viewer")
    def open(self):
        """The page's on_load: owners and admins get the endpoints, others an admins-only note."""
        if staff_roles.allows(current().staff_role, "admin"):
            self.access = "admin"
            return MerchantWebhooksState.load
        self.access, self.loaded, self.endpoints, self.deliveries = "denied", False, [], []
        return None

    @rx.event
    @guarded("staff", staff_role="admin")
    def load(self):
        self.access, self.create_error, self.secret, self.secret_for = "admin", "", "", ""
        self.confirm_kind, self.confirm_url, self._confirm_id = "", "", 0
        self._refresh()

    def _refresh(self) -> None:
        self.endpoints = read(merchant_webhooks_view.endpoints)
        if self.selected_id and not any(e["id"] == self.selected_id for e in self.endpoints):
            self.selected_id, self.selected_url, self.deliveries = "", "", []
        if self.selected_id:
            self.deliveries = read(
                merchant_webhooks_view.deliveries,
                endpoint_id=int(self.selected_id),
                event_type=self.type_filter,
                status=self.status_filter,
            )
        self.loaded = True

    def _row(self, endpoint_id) -> EndpointRow | None:
        return next((e for e in self.endpoints if e["id"] == str(endpoint_id)), None)

    @rx.event
    @guarded("staff", staff_role="admin", error="create_error")
    def create(self, form_data: dict):
        form = posted(form_data)
        if resubmitted(form, self.form_version):  # a double click's second submit
            return None
        self.secret = write(merchant_webhooks_view.create, form=form)
        self.secret_for = str(form.get("url", "")).strip()[:2000]
        self.form_version += 1
        return self._changed("Endpoint added. Copy its signing secret now: it is shown once.")

    @rx.event
    @guarded("staff", staff_role="admin")
    def close_secret(self, is_open: bool = False):
        if is_open is not True:
            self.secret = self.secret_for = ""

    @rx.event
    @guarded("staff", staff_role="admin")
    def show(self, endpoint_id: str):
        row = self._row(endpoint_id)
        if row is None:
            self._refresh()
            return rx.toast.error("That endpoint is no longer listed. The list was refreshed.")
        self.selected_id, self.selected_url = row["id"], row["url"]
        self.type_filter = self.status_filter = ""
        self._refresh()
        return None

    @rx.event
    @guarded("staff", staff_role="admin")
    def filter_type(self, value: str):
        self.type_filter = value if value in EVENT_TYPES else ""
        self._refresh()

    @rx.event
    @guarded("staff", staff_role="admin")
    def filter_status(self, value: str):
        self.status_filter = value if value in merchant_webhooks_view.STATUSES else ""
        self._refresh()

    @rx.event
    @guarded("staff", staff_role="admin")
    def refresh(self):
        self._refresh()

    @rx.event
    @guarded("staff", staff_role="admin")
    def switch_endpoint(self, endpoint_id: str, enabled: bool):
        if self._row(endpoint_id) is None:
            self._refresh()
            return rx.toast.error("That endpoint is no longer listed. The list was refreshed.")
        write(
            webhook_endpoints.update_endpoint, endpoint_id=int(endpoint_id), enabled=enabled is True
        )
        return self._changed(
            "Endpoint enabled: waiting events go out in order."
            if enabled is True
            else "Endpoint disabled: events wait until you enable it again."
        )

    @rx.event
    @guarded("staff", staff_role="admin")
    def send_test(self, endpoint_id: str):
        if self._row(endpoint_id) is None:
            self._refresh()
            return rx.toast.error("That endpoint is no longer listed. The list was refreshed.")
        write(webhook_delivery.send_test, endpoint_id=int(endpoint_id))
        return self._changed("Test event queued: the worker sends it within seconds.")

    @rx.event
    @guarded("staff", staff_role="admin")
    def replay(self, delivery_id: str):
        if not any(d["id"] == str(delivery_id) for d in self.deliveries):
            self._refresh()
            return rx.toast.error("That delivery is no longer listed. The list was refreshed.")
        write(webhook_delivery.replay, delivery_id=int(delivery_id))
        return self._changed("Event queued again, with the same webhook-id.")

    @rx.event
    @guarded("staff", staff_role="admin")
    def ask(self, kind: str, endpoint_id: str):
        row = self._row(endpoint_id)
        if row is None or kind not in ("delete", "rotate"):
            self._refresh()
            return rx.toast.error("That endpoint is no longer listed. The list was refreshed.")
        self.confirm_kind, self.confirm_url, self._confirm_id = kind, row["url"], int(row["id"])
        return None

    @rx.event
    @guarded("staff", staff_role="admin")
    def confirm_visibility(self, is_open: bool):
        if is_open is not True:
            self.confirm_kind, self.confirm_url, self._confirm_id = "", "", 0

    @rx.event
    @guarded("staff", staff_role="admin")
    def confirm(self):
        kind, endpoint_id, url = self.confirm_kind, self._confirm_id, self.confirm_url
        self.confirm_kind, self.confirm_url, self._confirm_id = "", "", 0
        if not endpoint_id:
            return None
        if kind == "delete":
            write(webhook_endpoints.delete_endpoint, endpoint_id=endpoint_id)
            return self._changed("Endpoint deleted: nothing more is sent to it.")
        if kind == "rotate":
            self.secret = write(webhook_endpoints.rotate_secret, endpoint_id=endpoint_id)
            self.secret_for = url
            return self._changed("New secret made. The old one also signs for 24 hours.")
        return None
