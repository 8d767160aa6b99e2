"""Merchant dashboard → Staff (owners only): the team with roles and status, invitations, a
member's sessions, and disabling or enabling a member behind a confirmation."""

from __future__ import annotations

import reflex as rx

from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.merchant_header import INPUT_STYLE
from portal_app.components.page_parts import confirm_dialog
from portal_app.components.ui import secondary_button
from portal_app.state.merchant_staff import MerchantStaffState as Staff


def _status(member: rx.Var) -> rx.Component:
    return ui.labelled_badge(
        member["status"],
        {"active": ("Active", "green"), "disabled": ("Disabled", "gray")},
        ("Invited", "amber"),
    )


def _role_control(member: rx.Var) -> rx.Component:
    """A member's role as a select (changes at once, refused for the last owner); an
    invitation's role as text (send a new invitation to change it)."""
    return rx.cond(
        member["kind"] == "member",
        rx.el.select(
            rx.foreach(Staff.roles, lambda r: rx.el.option(r["label"], value=r["value"])),
            value=member["role"],
            on_change=lambda value: Staff.change_role(member["id"], value),
            aria_label="Role of " + member["email"],
            disabled=member["status"] == "disabled",
            style={**INPUT_STYLE, "width": "auto", "min_width": "7rem"},
            data_testid="role-select",
        ),
        rx.text(member["role_label"], size="2"),
    )


def _ask_button(member: rx.Var, label: str, action: str, color: str, aria: str, testid: str):
    """A row button that asks before `action` ("enable", "disable", "revoke") is done."""
    return ui.row_action(
        label,
        Staff.ask(action, member["id"]),
        color=color,
        aria_label=aria + member["email"],
        testid=testid,
    )


def _actions(member: rx.Var) -> rx.Component:
    email = member["email"]
    return rx.cond(
        member["kind"] == "member",
        ui.row_actions(
            ui.row_action(
                "Sessions (" + member["open_sessions"] + ")",
                Staff.show_sessions(member["id"]),
                aria_label="Sessions of " + email,
                testid="show-sessions",
            ),
            rx.cond(
                member["status"] == "disabled",
                _ask_button(member, "Enable", "enable", "green", "Enable ", "enable-member"),
                _ask_button(member, "Disable", "disable", "red", "Disable ", "disable-member"),
            ),
            rx.cond(
                member["status"] == "active",
                secondary_button(
                    "Unlock sign-in",
                    size="1",
                    on_click=Staff.unlock(member["id"]),
                    aria_label="Unlock sign-in of " + email,
                    title="Lift a lock-out after too many wrong passwords",
                    data_testid="unlock-member",
                ),
            ),
        ),
        ui.row_actions(
            ui.row_action(
                "Resend",
                Staff.resend_invite(member["id"]),
                aria_label="Resend the invitation to " + email,
                testid="resend-invite",
            ),
            _ask_button(
                member, "Withdraw", "revoke", "red", "Withdraw the invitation to ", "revoke-invite"
            ),
        ),
    )


def _who(member: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.text(
            rx.cond(member["name"] != "", member["name"], member["email"]),
            rx.cond(member["me"] == "yes", " (you)", ""),
            weight="medium",
            size="2",
        ),
        rx.cond(
            member["name"] != "",
            rx.text(member["email"], size="1", color_scheme="gray"),
        ),
        rx.cond(
            member["kind"] == "invite",
            rx.text("Link expires ", member["expires"], size="1", color_scheme="gray"),
        ),
        spacing="0",
        # wide enough to read an address; the table scrolls sideways on a phone instead
        min_width="12rem",
        style={"overflow_wrap": "anywhere"},
    )


def _member_row(m: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(_who(m)),
        rx.table.cell(_role_control(m)),
        rx.table.cell(_status(m)),
        rx.table.cell(
            rx.cond(m["kind"] == "member", m["last_sign_in"], "—"),
            white_space="nowrap",
        ),
        rx.table.cell(_actions(m)),
        key=m["key"],
        data_testid="staff-row",
        data_email=m["email"],
    )


def _members_table() -> rx.Component:
    return ui.data_table(
        ("Member", "Role", "Status", "Last sign-in", ""),
        rows=Staff.members,
        render=_member_row,
        size="2",
    )


def _invite_form() -> rx.Component:
    return ff.section_form(
        "Invite a team member",
        "They get an email with a link to choose a password. The link works once "
        "and expires in 72 hours.",
        rx.flex(
            ff.labelled(
                "Email",
                "invite-email",
                rx.el.input(
                    id="invite-email",
                    name="email",
                    type="email",
                    required=True,
                    auto_complete="off",
                    placeholder="name@company.com",
                    style=INPUT_STYLE,
                ),
                width="100%",
                max_width="22rem",
            ),
            ff.labelled_select(
                "Role",
                "invite-role",
                rx.foreach(Staff.roles, lambda r: rx.el.option(r["label"], value=r["value"])),
                min_width="8rem",
                name="role",
                default_value="viewer",
            ),
            rx.button("Send invitation", type="submit", data_testid="send-invite"),
            spacing="3",
            wrap="wrap",
            align="end",
            width="100%",
        ),
        rx.text(
            "Viewer: read-only. Support: customers and portal links. Admin: settings, "
            "catalog, billing and customers. Owner: everything, including staff.",
            size="1",
            color_scheme="gray",
        ),
        ui.error_callout(Staff.invite_error, width="100%", testid="invite-error"),
        on_submit=Staff.invite,
        key=Staff.form_version.to(str),
    )


def _confirm_dialog() -> rx.Component:
    return confirm_dialog(
        Staff.confirm_title,
        Staff.confirm_text,
        keep="Cancel",
        on_keep=Staff.cancel_confirm,
        action=Staff.confirm_button,
        on_confirm=Staff.confirm,
        color=rx.cond(Staff.confirm_action == "enable", "green", "red"),
        testid="confirm-staff-action",
        open=Staff.confirm_action != "",
        on_open_change=Staff.confirm_visibility,
        wrap="wrap",
    )


def _sessions_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Sessions of ", Staff.sessions_email),
            rx.dialog.description(
                "Open sign-ins, most recently used first. Ending one signs that browser out at "
                "its next action.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                Staff.sessions.length() > 0,
                rx.vstack(
                    rx.foreach(
                        Staff.sessions,
                        lambda s: rx.card(
                            rx.flex(
                                rx.vstack(
                                    rx.text(
                                        s["device"],
                                        size="2",
                                        weight="medium",
                                        style={"overflow_wrap": "anywhere"},
                                    ),
                                    rx.text(
                                        "From ",
                                        s["ip"],
                                        " · signed in ",
                                        s["started"],
                                        " · last active ",
                                        s["last_seen"],
                                        rx.cond(s["current"] == "yes", " · this session", ""),
                                        size="1",
                                        color_scheme="gray",
                                    ),
                                    spacing="1",
                                    flex="1",
                                    min_width="12rem",
                                ),
                                rx.button(
                                    "End session",
                                    size="1",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=Staff.end_session(s["id"]),
                                    data_testid="end-session",
                                ),
                                spacing="2",
                                wrap="wrap",
                                align="center",
                                justify="between",
                            ),
                            width="100%",
                            data_testid="staff-session",
                        ),
                    ),
                    spacing="2",
                    width="100%",
                    padding_top="0.75rem",
                ),
                rx.text("No open sessions.", size="2", padding_top="0.75rem"),
            ),
            ui.dialog_actions(rx.dialog.close(secondary_button("Close"))),
            max_width="36rem",
            data_testid="sessions-dialog",
        ),
        open=Staff.sessions_email != "",
        on_open_change=Staff.sessions_visibility,
    )


def staff_page() -> rx.Component:
    return ui.restricted_page(
        "Staff",
        Staff.access,
        ui.when_loaded(
            Staff.loaded,
            _invite_form(),
            rx.heading("Team", size="4", as_="h2"),
            _members_table(),
            rx.cond(
                Staff.members.length() <= 1,
                rx.callout(
                    "You're the only member so far. Invite your team above: "
                    "each person signs in with their own account and role.",
                    icon="users",
                    data_testid="staff-empty",
                ),
            ),
            _confirm_dialog(),
            _sessions_dialog(),
        ),
        role="owner",
        denied="Only owners manage staff. Ask an owner of your team if you need a "
        "change to your role or access.",
        testid="staff-owners-only",
    )
