"""Staff: the Staff page (owners only). Thin: every handler that reads or changes the team is
`@guarded("staff", staff_role="owner")` and passes ids from the browser to services/staff.py,
which re-scopes them to the owner's merchant. `open` (any staff role) only says whether this
member may see the page, so a non-owner gets "Only owners manage staff" and no refusal."""

from __future__ import annotations

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.services import auth, staff, staff_roles
from portal_app.services.errors import NotFound
from portal_app.state.guard import CLOCK, PrivateState, current, guarded

ROLE_CHOICES = [{"value": r, "label": staff_roles.LABELS[r]} for r in staff_roles.STAFF_ROLES]
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


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


class MerchantStaffState(PrivateState):
    access: str = ""  # "" until checked | owner | denied
    loaded: bool = False
    load_error: str = ""
    members: list[dict[str, str]] = []
    roles: list[dict[str, str]] = ROLE_CHOICES
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
    sessions: list[dict[str, str]] = []
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
        self._reload()

    def _reload(self) -> None:
        who = current()
        with read_scope() as session:
            found = staff.list_members(session, CLOCK, who.merchant_id)
        self.members = [
            {
                "key": f"{m.kind}-{m.id}",
                "kind": m.kind,
                "id": str(m.id),
                "email": m.email,
                "name": m.name,
                "role": m.role,
                "role_label": staff_roles.LABELS.get(m.role, m.role),
                "status": m.status,
                "last_sign_in": _when(m.last_sign_in) or "Never",
                "open_sessions": str(m.open_sessions),
                "expires": _when(m.expires_at),
                "me": "yes" if m.kind == "member" and m.id == who.staff_id else "",
            }
            for m in found
        ]
        self.loaded = True

    def _close_dialogs(self) -> None:
        self.confirm_action = self.confirm_title = self.confirm_text = self.confirm_button = ""
        self._confirm_id = 0
        self.sessions_email, self.sessions, self._sessions_staff_id = "", [], 0

    def _row(self, kind: str, item_id) -> dict[str, str] | None:
        return next(
            (m for m in self.members if m["kind"] == kind and m["id"] == str(int(item_id))), None
        )

    # --- invitations ----------------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="owner")
    def invite(self, form_data: dict):
        who = current()
        email = str(form_data.get("email", ""))[:320]
        role = str(form_data.get("role", ""))[:16]
        try:
            with session_scope() as session:
                staff.invite(
                    session,
                    CLOCK,
                    merchant_id=who.merchant_id,
                    email=email,
                    role=role,
                    actor=who.actor,
                    invited_by=who.staff_id,
                )
        except staff.StaffError as exc:
            self.invite_error = str(exc)
            return None
        self.invite_error = ""
        self.form_version += 1
        self._reload()
        return rx.toast.success(f"Invitation sent to {email.strip().lower()}.")

    @rx.event
    @guarded("staff", staff_role="owner")
    def resend_invite(self, invite_id: str):
        who = current()
        with session_scope() as session:
            staff.reinvite(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                invite_id=int(invite_id),
                actor=who.actor,
                invited_by=who.staff_id,
            )
        self._reload()
        return rx.toast.success("A new invitation is on its way; the old link no longer works.")

    # --- roles ----------------------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="owner")
    def change_role(self, staff_id: str, role: str):
        who = current()
        try:
            with session_scope() as session:
                member = staff.change_role(
                    session,
                    CLOCK,
                    merchant_id=who.merchant_id,
                    staff_id=int(staff_id),
                    role=str(role),
                    actor=who.actor,
                )
                email, label = member.email, staff_roles.LABELS[member.role]
        finally:
            self._reload()  # a refused change puts the select back to the stored role
        return rx.toast.success(f"{email} is now {label}.")

    # --- confirmations: disable, enable, end all sessions, withdraw an invitation ---------------

    @rx.event
    @guarded("staff", staff_role="owner")
    def ask(self, action: str, item_id: str):
        if action not in CONFIRMABLE:
            return None
        row = self._row("invite" if action == "revoke" else "member", item_id)
        if row is None:
            self._reload()
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
        who = current()
        common = {"merchant_id": who.merchant_id, "actor": who.actor}
        with session_scope() as session:
            if action == "disable":
                ended = staff.disable(session, CLOCK, staff_id=item, **common)
                message = f"Disabled; {ended} session{'s' if ended != 1 else ''} ended."
            elif action == "enable":
                staff.enable(session, CLOCK, staff_id=item, **common)
                message = "Enabled: they can sign in again."
            elif action == "end_all":
                ended = staff.end_all_sessions(session, CLOCK, staff_id=item, **common)
                message = f"{ended} session{'s' if ended != 1 else ''} ended."
            else:
                staff.revoke_invite(session, CLOCK, invite_id=item, **common)
                message = "Invitation withdrawn."
        if action in ("disable", "end_all") and self._sessions_staff_id == item:
            self.sessions_email, self.sessions, self._sessions_staff_id = "", [], 0
        self._reload()
        return rx.toast.success(message)

    # --- a member's sessions --------------------------------------------------------------------

    def _read_sessions(self) -> None:
        who = current()
        with read_scope() as session:
            found = staff.list_sessions(
                session, CLOCK, merchant_id=who.merchant_id, staff_id=self._sessions_staff_id
            )
        self.sessions = [
            {
                "id": str(s.id),
                "started": _when(s.created_at),
                "last_seen": _when(s.last_seen_at),
                "ip": s.ip or "unknown",
                "device": s.user_agent or "unknown device",
                "current": "yes" if s.id == who.session_row_id else "",
            }
            for s in found
        ]

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
        who = current()
        if not self._sessions_staff_id:
            return None
        with session_scope() as session:
            staff.end_session(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                staff_id=self._sessions_staff_id,
                session_row_id=int(session_id),
                actor=who.actor,
            )
        self._read_sessions()
        self._reload()
        return rx.toast.success("Session ended.")

    # --- sign-in lock-out -----------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="owner")
    def unlock(self, staff_id: str):
        """Lift a member's sign-in lock-out (too many wrong passwords, from any address)."""
        who = current()
        row = self._row("member", staff_id)
        with session_scope() as session:
            auth.unlock_staff(
                session,
                CLOCK,
                merchant_id=who.merchant_id,
                staff_id=int(staff_id),
                actor=who.actor,
            )
        email = row["email"] if row else "They"
        return rx.toast.success(f"Sign-in unlocked: {email} can try their password again.")
