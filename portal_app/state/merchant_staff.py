"""Staff: the Staff page (owners only). Thin: every handler that reads or changes the team is
`@guarded("staff", staff_role="owner")` and passes ids from the browser to services/staff.py,
which re-scopes them to the owner's merchant. `open` (any staff role) only says whether this
member may see the page, so a non-owner gets "Only owners manage staff" and no refusal."""

from __future__ import annotations

from typing import TypedDict

import reflex as rx

from portal_app.services import merchant_staff_view, staff, staff_auth, staff_roles
from portal_app.services.errors import NotFound
from portal_app.services.merchant_staff_view import MemberRow, SessionRow
from portal_app.state.guard import PrivateState, Refreshing, current, guarded, read, write

ROLE_CHOICES: list[RoleChoice] = [
    {"value": r, "label": staff_roles.LABELS[r]} for r in staff_roles.STAFF_ROLES
]
# What the confirmation dialog can confirm: action -> (title, button)
CONFIRMABLE = {
    "disable": ("Disable {email}?", "Disable"),
    "enable": ("Enable {email}?", "Enable"),
    "end_all": ("Sign {email} out everywhere?", "End all sessions"),
    "revoke": ("Withdraw the invitation to {email}?", "Withdraw invitation"),
}
CONFIRM_TEXT = {
    "disable": "They are signed out of every session at once and can't sign in until an owner "
    "enables them again. Their history stays in the audit log.",
    "enable": "They can sign in again with their password. Sessions that ended stay ended.",
    "end_all": "Every open session of theirs ends now; they can sign in again.",
    "revoke": "The link in the invitation email stops working. You can invite them again later.",
}


class RoleChoice(TypedDict):
    value: str
    label: str


class MerchantStaffState(Refreshing, PrivateState):
    access: str = ""  # "" until checked | owner | denied
    loaded: bool = False
    load_error: str = ""
    members: list[MemberRow] = []
    roles: list[RoleChoice] = ROLE_CHOICES
    invite_error: str = ""
    form_version: int = 0
    # The confirmation dialog (one at a time); the member it is about stays server-side.
    confirm_action: str = ""
    confirm_title: str = ""
    confirm_text: str = ""
    confirm_button: str = ""
    _confirm_id: int = 0
    # A member's sessions, in a dialog.
    sessions_email: str = ""
    sessions: list[SessionRow] = []
    _sessions_staff_id: int = 0

    # --- loading --------------------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="viewer")
    def open(self):
        """The page's on_load: owners get the team, everyone else the "owners only" notice."""
        if staff_roles.allows(current().staff_role, "owner"):
            self.access = "owner"
            return MerchantStaffState.load
        self.access, self.loaded, self.members = "denied", False, []
        return None

    @rx.event
    @guarded("staff", staff_role="owner")
    def load(self):
        self.access = "owner"
        self.invite_error = ""
        self._close_dialogs()
        self._refresh()

    def _refresh(self) -> None:
        self.members = read(merchant_staff_view.members, me=current().staff_id)
        self.loaded = True

    def _close_dialogs(self) -> None:
        self.confirm_action = self.confirm_title = self.confirm_text = self.confirm_button = ""
        self._confirm_id = 0
        self.sessions_email, self.sessions, self._sessions_staff_id = "", [], 0

    def _row(self, kind: str, item_id) -> MemberRow | None:
        return next(
            (m for m in self.members if m["kind"] == kind and m["id"] == str(int(item_id))), None
        )

    # --- invitations ----------------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="owner", error="invite_error")
    def invite(self, form_data: dict):
        email = str(form_data.get("email", ""))[:320]
        write(
            staff.invite,
            email=email,
            role=str(form_data.get("role", ""))[:16],
            invited_by=current().staff_id,
        )
        self.form_version += 1
        return self._changed(f"Invitation sent to {email.strip().lower()}.")

    @rx.event
    @guarded("staff", staff_role="owner")
    def resend_invite(self, invite_id: str):
        write(staff.reinvite, invite_id=int(invite_id), invited_by=current().staff_id)
        return self._changed("A new invitation is on its way; the old link no longer works.")

    # --- roles ----------------------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="owner")
    def change_role(self, staff_id: str, role: str):
        try:
            done = write(merchant_staff_view.change_role, staff_id=int(staff_id), role=str(role))
        finally:
            self._refresh()  # a refused change puts the select back to the stored role
        return rx.toast.success(done)

    # --- confirmations: disable, enable, end all sessions, withdraw an invitation ---------------

    @rx.event
    @guarded("staff", staff_role="owner")
    def ask(self, action: str, item_id: str):
        if action not in CONFIRMABLE:
            return None
        row = self._row("invite" if action == "revoke" else "member", item_id)
        if row is None:
            self._refresh()
            return rx.toast.error("That member is no longer listed. The list was refreshed.")
        title, button = CONFIRMABLE[action]
        self.confirm_action, self.confirm_button = action, button
        self.confirm_title = title.format(email=row["email"])
        text = CONFIRM_TEXT[action]
        if action == "disable" and row["me"] == "yes":
            text = "This is your own account: you will be signed out now. " + text
        self.confirm_text = text
        self._confirm_id = int(row["id"])
        return None

    @rx.event
    @guarded("staff", staff_role="owner")
    def cancel_confirm(self):
        self.confirm_action, self._confirm_id = "", 0

    @rx.event
    @guarded("staff", staff_role="owner")
    def confirm_visibility(self, is_open: bool):
        """Escape or a click outside closes the confirmation like "Cancel"."""
        if is_open is not True:
            self.confirm_action, self._confirm_id = "", 0

    @rx.event
    @guarded("staff", staff_role="owner")
    def confirm(self):
        action, item = self.confirm_action, self._confirm_id
        self.confirm_action, self._confirm_id = "", 0
        if action not in CONFIRMABLE or not item:
            return None
        if action == "disable":
            ended = write(staff.disable, staff_id=item)
            message = f"Disabled; {ended} session{'s' if ended != 1 else ''} ended."
        elif action == "enable":
            write(staff.enable, staff_id=item)
            message = "Enabled: they can sign in again."
        elif action == "end_all":
            ended = write(staff.end_all_sessions, staff_id=item)
            message = f"{ended} session{'s' if ended != 1 else ''} ended."
        else:
            write(staff.revoke_invite, invite_id=item)
            message = "Invitation withdrawn."
        if action in ("disable", "end_all") and self._sessions_staff_id == item:
            self.sessions_email, self.sessions, self._sessions_staff_id = "", [], 0
        return self._changed(message)

    # --- a member's sessions --------------------------------------------------------------------

    def _read_sessions(self) -> None:
        self.sessions = read(
            merchant_staff_view.sessions,
            staff_id=self._sessions_staff_id,
            current_session=current().session_row_id,
        )

    @rx.event
    @guarded("staff", staff_role="owner")
    def show_sessions(self, staff_id: str):
        row = self._row("member", staff_id)
        if row is None:
            raise NotFound("Staff member not found.")
        self._sessions_staff_id, self.sessions_email = int(row["id"]), row["email"]
        self._read_sessions()

    @rx.event
    @guarded("staff", staff_role="owner")
    def sessions_visibility(self, is_open: bool):
        if is_open is not True:
            self.sessions_email, self.sessions, self._sessions_staff_id = "", [], 0

    @rx.event
    @guarded("staff", staff_role="owner")
    def end_session(self, session_id: str):
        if not self._sessions_staff_id:
            return None
        write(staff.end_session, staff_id=self._sessions_staff_id, session_row_id=int(session_id))
        self._read_sessions()
        return self._changed("Session ended.")

    # --- sign-in lock-out -----------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="owner")
    def unlock(self, staff_id: str):
        """Lift a member's sign-in lock-out (too many wrong passwords, from any address)."""
        row = self._row("member", staff_id)
        write(staff_auth.unlock_staff, staff_id=int(staff_id))
        email = row["email"] if row else "They"
        return rx.toast.success(f"Sign-in unlocked: {email} can try their password again.")
