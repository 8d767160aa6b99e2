"""Staff → Developers: the merchant's API keys (owners and admins). Thin: every handler is
`@guarded("staff", staff_role="admin")`; the key's id goes to services/api_keys.py, which
re-scopes it to the member's merchant. A new key's secret is shown once, in a dialog, and is
gone from the state when the dialog closes (only its hash is stored)."""

from __future__ import annotations

import reflex as rx

from portal_app.services import api_keys, merchant_developers_view, staff_roles
from portal_app.services.merchant_developers_view import RESOURCE_CHOICES, KeyRow, ResourceChoice
from portal_app.state.guard import PrivateState, Refreshing, current, guarded, read, write
from portal_app.state.merchant_catalog_editor import posted, resubmitted


class MerchantDevelopersState(Refreshing, PrivateState):
    access: str = ""  # "" until checked | admin | denied
    loaded: bool = False
    keys: list[KeyRow] = []
    resources: list[ResourceChoice] = RESOURCE_CHOICES
    create_error: str = ""
    form_version: int = 0
    new_key: str = ""  # the secret of the key just created, shown once
    new_key_name: str = ""
    revoke_name: str = ""  # the confirmation dialog's key; its id stays server-side
    _revoke_id: int = 0

    @rx.event
    @guarded("staff", staff_role="viewer")
    def open(self):
        """The page's on_load: owners and admins get the keys, others an "admins only" note."""
        if staff_roles.allows(current().staff_role, "admin"):
            self.access = "admin"
            return MerchantDevelopersState.load
        self.access, self.loaded, self.keys = "denied", False, []
        return None

    @rx.event
    @guarded("staff", staff_role="admin")
    def load(self):
        self.access, self.create_error = "admin", ""
        self.new_key = self.new_key_name = self.revoke_name = ""
        self._revoke_id = 0
        self._refresh()

    def _refresh(self) -> None:
        self.keys = read(merchant_developers_view.keys)
        self.loaded = True

    @rx.event
    @guarded("staff", staff_role="admin", error="create_error")
    def create(self, form_data: dict):
        if resubmitted(posted(form_data), self.form_version):  # a double click's second submit
            return None
        raw = write(
            merchant_developers_view.create,
            form=dict(form_data or {}),
            staff_id=current().staff_id,
        )
        self.new_key = raw
        self.new_key_name = str(form_data.get("name", "")).strip()[:100]
        self.form_version += 1
        return self._changed("API key created. Copy it now: it is shown only once.")

    @rx.event
    @guarded("staff", staff_role="admin")
    def close_new_key(self, is_open: bool = False):
        if is_open is not True:
            self.new_key = self.new_key_name = ""

    @rx.event
    @guarded("staff", staff_role="admin")
    def ask_revoke(self, key_id: str):
        row = next((k for k in self.keys if k["id"] == str(key_id) and k["status"] == "live"), None)
        if row is None:
            self._refresh()
            return rx.toast.error("That key is no longer listed. The list was refreshed.")
        self.revoke_name, self._revoke_id = row["name"], int(row["id"])
        return None

    @rx.event
    @guarded("staff", staff_role="admin")
    def revoke_visibility(self, is_open: bool):
        if is_open is not True:
            self.revoke_name, self._revoke_id = "", 0

    @rx.event
    @guarded("staff", staff_role="admin")
    def revoke(self):
        key_id, self._revoke_id, self.revoke_name = self._revoke_id, 0, ""
        if not key_id:
            return None
        write(api_keys.revoke, key_id=key_id)
        return self._changed("Key revoked: requests with it are refused from now on.")
