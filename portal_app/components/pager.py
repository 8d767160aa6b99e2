"""Previous / Page n of m / Next for any state with `page`, `pages` and `go_to_page(n)`."""

from __future__ import annotations

import reflex as rx


def pager(state) -> rx.Component:
    return rx.hstack(
        rx.button(
            "Previous",
            variant="soft",
            disabled=state.page <= 1,
            on_click=state.go_to_page(state.page - 1),
        ),
        rx.text("Page ", state.page, " of ", state.pages, size="2"),
        rx.button(
            "Next",
            variant="soft",
            disabled=state.page >= state.pages,
            on_click=state.go_to_page(state.page + 1),
        ),
        align="center",
        aria_label="Pages",
    )
