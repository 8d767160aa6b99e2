"""The dashboard's section links, on every staff page: one landmark, the current page marked."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.state.guard import SessionState


def _is_current(href: str) -> rx.Var:
    path = rx.State.router.url.path.to(str)
    if href == routes.MERCHANT_HOME:
        return (path == href) | (path == href + "/")
    return (path == href) | path.startswith(href + "/")


def _section_link(label: str, href: str) -> rx.Component:
    current = _is_current(href)
    return rx.link(
        label,
        href=href,
        aria_current=rx.cond(current, "page", None),
        weight=rx.cond(current, "bold", "regular"),
        underline=rx.cond(current, "always", "hover"),
        white_space="nowrap",
    )


# Shown only to the roles that can use them (the pages and handlers refuse the rest anyway).
OWNER_ONLY = {routes.MERCHANT_STAFF}
ADMINS = {routes.MERCHANT_DEVELOPERS, routes.MERCHANT_WEBHOOKS}


def merchant_nav() -> rx.Component:
    return rx.el.nav(
        rx.flex(
            *[
                rx.cond(
                    SessionState.staff_role == "owner", _section_link(section.label, section.path)
                )
                if section.path in OWNER_ONLY
                else rx.cond(
                    (SessionState.staff_role == "owner") | (SessionState.staff_role == "admin"),
                    _section_link(section.label, section.path),
                )
                if section.path in ADMINS
                else _section_link(section.label, section.path)
                for section in routes.MERCHANT_SECTIONS
            ],
            spacing="4",
            wrap="wrap",
            row_gap="0.5rem",
        ),
        aria_label="Dashboard sections",
        width="100%",
        padding_bottom="0.75rem",
        border_bottom="1px solid var(--gray-a5)",
    )
