"""What every dashboard page shares: the header (section links, title, role, sign-out), the
role checks that hide controls a member can't use (`staff_can`, `staff_button`; that only
spares clicks: every handler checks the role on the server) and the note that says why."""

from __future__ import annotations

import reflex as rx

from portal_app.components.merchant_nav import merchant_nav
from portal_app.components.portal_layout import sign_out_button, title_bar
from portal_app.services import staff_roles
from portal_app.state.guard import SessionState

INPUT_STYLE = {
    "padding": "6px 8px",
    "border": "1px solid var(--gray-a7)",
    "border_radius": "6px",
    "width": "100%",
    "max_width": "22rem",
    "background": "var(--color-surface)",
}


def staff_can(need: str) -> rx.Var:
    """Whether the signed-in member's role (as the last staff guard read it) allows `need`.
    False until a staff handler has run, so write controls never flash for a viewer."""
    return rx.Var.create(list(staff_roles.at_least(need))).contains(SessionState.staff_role)


def _by_role(texts: dict[str, str]) -> rx.Var:
    """The signed-in member's role's entry of `texts` (role -> text); "" without a role."""
    return rx.match(SessionState.staff_role, *[(r, texts[r]) for r in staff_roles.STAFF_ROLES], "")


def _with_role(component: rx.Component) -> rx.Component:
    """`component` once a staff handler has read the member's role (nothing before)."""
    return rx.cond(SessionState.staff_role != "", component)


def role_label() -> rx.Var:
    return _by_role(staff_roles.LABELS)


def roles_text(need: str) -> str:
    """ "Admin or Owner", "Support, Admin or Owner"."""
    labels = [staff_roles.LABELS[r] for r in staff_roles.at_least(need)]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


def staff_button(need: str, label: str, on_click, testid: str | None = None) -> rx.Component:
    """A soft button shown only to a member whose role allows `need`."""
    props = {} if testid is None else {"data_testid": testid}
    return rx.cond(staff_can(need), rx.button(label, variant="soft", on_click=on_click, **props))


def read_only_note(need: str, what: str) -> rx.Component:
    """Says why a page shows no write controls, instead of leaving the member guessing."""
    return rx.cond(
        ~staff_can(need) & (SessionState.staff_role != ""),
        rx.callout(
            rx.text(
                "Your role (",
                role_label(),
                f") lets you view {what}; changing it needs {roles_text(need)}. "
                "An owner can change your role.",
            ),
            icon="eye",
            color_scheme="gray",
            width="100%",
            data_testid="read-only-note",
        ),
    )


def merchant_header(title: str) -> rx.Component:
    """The page title, the member's role and what it allows, sign-out and the section links."""
    return rx.vstack(
        merchant_nav(),
        title_bar(
            rx.heading(title, size="6", as_="h1"),
            rx.hstack(
                role_badge(),
                sign_out_button(staff=True),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
        ),
        _with_role(
            rx.text(
                _by_role(staff_roles.SUMMARIES),
                size="1",
                color_scheme="gray",
                data_testid="staff-role-summary",
            )
        ),
        spacing="3",
        width="100%",
    )


def role_badge() -> rx.Component:
    """The signed-in member's role, in the dashboard header."""
    return _with_role(
        rx.badge(
            "Role: ",
            role_label(),
            color_scheme=rx.match(
                SessionState.staff_role, ("owner", "purple"), ("admin", "blue"), "gray"
            ),
            size="2",
            data_testid="staff-role",
        )
    )
