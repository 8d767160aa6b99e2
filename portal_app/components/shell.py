"""The page shell: header, a centred content column and a footer. Works down to 375 px wide."""

from __future__ import annotations

import reflex as rx

from portal_app import routes

BRAND = "Portal"


def _header(subtitle: rx.Var | str) -> rx.Component:
    return rx.el.header(
        rx.flex(
            rx.link(
                rx.hstack(
                    rx.icon("receipt", size=22),
                    rx.text(BRAND, weight="bold", size="4"),
                    align="center",
                    spacing="2",
                ),
                href=routes.PRICING,
                underline="none",
                color_scheme="gray",
                high_contrast=True,
            ),
            rx.text(subtitle, size="2", color_scheme="gray", truncate=True),
            justify="between",
            align="center",
            spacing="3",
            max_width="72rem",
            margin_x="auto",
            padding_x=rx.breakpoints(initial="1rem", sm="1.5rem"),
            padding_y="0.875rem",
        ),
        border_bottom="1px solid var(--gray-a5)",
        background_color="var(--color-panel-solid)",
        width="100%",
    )


def _footer(*lines: rx.Component) -> rx.Component:
    """The page's foot: `lines` (the portal passes the merchant's support contacts and text),
    else the product's own line."""
    return rx.el.footer(
        rx.vstack(*lines, align="center", spacing="1")
        if lines
        else rx.text("Self-hosted billing portal", size="1", color_scheme="gray", align="center"),
        padding_y="1.5rem",
        padding_x="1rem",
        width="100%",
    )


def page_shell(
    *children: rx.Component,
    subtitle: rx.Var | str = "",
    footer: tuple[rx.Component, ...] = (),
) -> rx.Component:
    """Wrap page content in the common header/footer and a responsive content column."""
    return rx.flex(
        _header(subtitle),
        rx.el.main(
            *children,
            width="100%",
            max_width="72rem",
            margin_x="auto",
            padding_x=rx.breakpoints(initial="1rem", sm="1.5rem"),
            padding_y=rx.breakpoints(initial="1.5rem", sm="2.5rem"),
            flex="1",
        ),
        _footer(*footer),
        direction="column",
        min_height="100vh",
        width="100%",
        background_color="var(--gray-2)",
    )
