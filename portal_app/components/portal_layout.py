"""The signed-in customer's frame: brand, the sections the merchant enabled, sign-out. A side
column on wide screens, a scrolling tab row on phones. `loaded_page` / `stacked_page`: a page
whose body waits for its state's first load."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.post_form import post_form
from portal_app.components.shell import page_shell
from portal_app.state.nav import NavState


def sign_out_button(*, staff: bool = False) -> rx.Component:
    """A real form POST: the HttpOnly cookie can only be cleared by the server. The portal's
    button ends the customer session, the dashboard's (`staff=True`) the staff session: each
    has its own cookie, and signing out of one leaves the other signed in."""
    return post_form(
        rx.button("Sign out", type="submit", variant="soft", color_scheme="gray", size="2"),
        action="/auth/staff/logout" if staff else "/auth/logout",
    )


def title_bar(heading: rx.Component, end: rx.Component) -> rx.Component:
    """A page's h1 at the start and `end` (sign-out; on the dashboard also the role) at the
    end, wrapping on a phone."""
    return rx.flex(
        heading, end, justify="between", align="center", width="100%", wrap="wrap", spacing="3"
    )


def _nav_link(section: rx.Var) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon(section.icon, size=16),
            rx.text(section.label),
            spacing="2",
            align="center",
        ),
        href=section.path,
        underline="none",
        padding_x="0.75rem",
        padding_y="0.5rem",
        border_radius="8px",
        white_space="nowrap",
        _hover={"background_color": "var(--gray-a3)"},
    )


def unavailable() -> rx.Component:
    return rx.callout(
        "This part of the portal is not available. Contact us if you need help with it.",
        icon="ban",
        data_testid="feature-unavailable",
    )


def acting_banner() -> rx.Component:
    """In a support link's session: who is acting, on every page of the portal."""
    return rx.cond(
        NavState.acting_staff != "",
        rx.callout(
            rx.text(
                "Staff member ",
                rx.text.strong(NavState.acting_staff),
                " is acting for this customer. Everything done here is recorded under their "
                "name; the customer's email and sign-in settings can't be changed.",
            ),
            icon="user-cog",
            color_scheme="amber",
            role="status",
            width="100%",
            data_testid="staff-acting-banner",
        ),
    )


def portal_layout(title: str, feature: str | None, *children: rx.Component) -> rx.Component:
    """`feature`: the toggle this page needs; when the merchant turned it off the route says so
    (the services refuse it regardless)."""
    body: tuple[rx.Component, ...] = children
    if feature is not None:
        body = (
            rx.cond(
                NavState.loaded,
                rx.cond(
                    NavState.enabled[feature],
                    rx.vstack(*children, spacing="4", width="100%"),
                    unavailable(),
                ),
                ui.loading(),
            ),
        )
    nav = rx.el.nav(
        rx.flex(
            rx.foreach(NavState.sections, _nav_link),
            direction=rx.breakpoints(initial="row", md="column"),
            spacing="1",
            overflow_x="auto",
            width="100%",
        ),
        aria_label="Account sections",
        style={"width": "100%"},
    )
    brand = rx.hstack(
        rx.cond(NavState.logo_url != "", rx.image(src=NavState.logo_url, alt="", height="32px")),
        rx.text(NavState.brand_name, weight="bold", size="4"),
        align="center",
    )
    return page_shell(
        acting_banner(),
        rx.flex(
            rx.vstack(brand, nav, spacing="4", width=rx.breakpoints(initial="100%", md="13rem")),
            rx.vstack(
                title_bar(rx.heading(title, size="6", as_="h1"), sign_out_button()),
                *body,
                spacing="4",
                width="100%",
                min_width="0",
            ),
            direction=rx.breakpoints(initial="column", md="row"),
            spacing="5",
            width="100%",
            # the merchant's brand colour drives every accent (buttons, links, focus rings)
            style={
                "--accent-9": NavState.brand_color,
                "--accent-10": NavState.brand_color,
                "--accent-11": NavState.brand_color,
            },
        ),
        subtitle=NavState.brand_name,
        footer=_merchant_footer(),
    )


def _merchant_footer() -> tuple[rx.Component, ...]:
    """The merchant's support contacts and footer text, each only where set (Settings →
    Branding)."""
    small = {"size": "1", "color_scheme": "gray", "align": "center"}
    return (
        rx.cond(
            (NavState.support_email != "") | (NavState.support_url != ""),
            rx.text(
                "Questions? ",
                rx.cond(
                    NavState.support_email != "",
                    rx.link(
                        NavState.support_email,
                        href="mailto:" + NavState.support_email,
                        data_testid="support-email",
                    ),
                ),
                rx.cond((NavState.support_email != "") & (NavState.support_url != ""), " · ", ""),
                rx.cond(
                    NavState.support_url != "",
                    rx.link(
                        "Help and support",
                        href=NavState.support_url,
                        is_external=True,
                        data_testid="support-link",
                    ),
                ),
                **small,
            ),
        ),
        rx.cond(
            NavState.footer_text != "",
            rx.text(NavState.footer_text, data_testid="portal-footer-text", **small),
        ),
    )


def loaded_page(
    title: str,
    feature: str | None,
    loaded: rx.Var,
    content: rx.Component,
    *,
    fallback: rx.Component | None = None,
) -> rx.Component:
    """A portal page whose `content` waits for its state's first load (`loaded`): a spinner
    until then, or `fallback`."""
    return portal_layout(
        title, feature, rx.cond(loaded, content, ui.loading() if fallback is None else fallback)
    )


def stacked_page(
    title: str,
    feature: str | None,
    loaded: rx.Var,
    *sections: rx.Component,
    spacing: str = "3",
    fallback: rx.Component | None = None,
) -> rx.Component:
    """A `loaded_page` whose sections stack full-width, `spacing` apart."""
    return portal_layout(
        title, feature, ui.when_loaded(loaded, *sections, spacing=spacing, otherwise=fallback)
    )
