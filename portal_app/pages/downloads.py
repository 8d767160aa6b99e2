"""Customer pages: invoices (list, detail, pay, PDFs, receipts) and digital products."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.portal_layout import loaded_page, unavailable
from portal_app.state.downloads import DownloadsState


def _asset(asset: rx.Var) -> rx.Component:
    return ui.row_card(
        rx.vstack(
            rx.hstack(
                rx.icon(
                    rx.match(
                        asset.kind,
                        ("file", "file-archive"),
                        ("license", "key-round"),
                        "external-link",
                    )
                ),
                rx.text(asset.name, weight="medium"),
                align="center",
            ),
            rx.cond(
                asset.description != "",
                rx.text(asset.description, size="2", color_scheme="gray"),
            ),
            spacing="1",
        ),
        rx.cond(
            asset.offered == "yes",
            _asset_action(asset),
            rx.hstack(
                rx.badge("Not offered", color_scheme="gray"),
                rx.text(asset.note, size="2", color_scheme="gray"),
                align="center",
                wrap="wrap",
                data_testid="not-offered",
            ),
        ),
    )


def _asset_action(asset: rx.Var) -> rx.Component:
    """The asset's action: download, reveal (masked until asked) or open."""
    return rx.match(
        asset.kind,
        (
            "file",
            rx.button(
                "Download ",
                asset.size,
                variant="soft",
                on_click=DownloadsState.download(asset.id),
                data_testid="download-file",
            ),
        ),
        (
            "license",
            rx.cond(
                DownloadsState.revealed.contains(asset.id),
                rx.hstack(
                    rx.code(DownloadsState.revealed[asset.id], data_testid="license-key"),
                    rx.button(
                        rx.icon("copy", size=14),
                        size="1",
                        variant="soft",
                        aria_label="Copy key",
                        on_click=[
                            rx.set_clipboard(DownloadsState.revealed[asset.id]),
                            rx.toast.success("Copied"),
                        ],
                    ),
                ),
                rx.hstack(
                    rx.code("••••-••••-••••"),
                    ui.row_action("Reveal", DownloadsState.reveal_key(asset.id)),
                ),
            ),
        ),
        rx.link(rx.button("Open", variant="soft"), href=asset.url, is_external=True),
    )


def _history_row(h: rx.Var) -> rx.Component:
    return rx.flex(
        rx.text(h.name, size="2"),
        rx.text(h.when, " · from ", h.ip, size="1", color_scheme="gray"),
        justify="between",
        width="100%",
        wrap="wrap",
        spacing="2",
        data_testid="history-row",
    )


def _history() -> rx.Component:
    return ui.card_stack(
        rx.flex(
            rx.heading("Download history", size="4", as_="h2"),
            rx.cond(
                DownloadsState.offered["digital.history"],
                ui.row_action("Refresh", DownloadsState.refresh_history),
            ),
            justify="between",
            width="100%",
        ),
        rx.cond(
            DownloadsState.offered["digital.history"],
            ui.foreach_or_empty(
                DownloadsState.history,
                _history_row,
                ui.empty_state("No downloads yet.", plain=True),
            ),
            ui.empty_state(
                "Download history is not offered in this portal.",
                plain=True,
                testid="history-not-offered",
            ),
        ),
        spacing="2",
    )


def downloads_page() -> rx.Component:
    """Open while any of the digital toggles is on; each asset and the history say on their own
    when the merchant does not offer them (the state only ever holds what is offered)."""
    return loaded_page(
        "Downloads",
        None,
        DownloadsState.loaded,
        rx.cond(
            DownloadsState.offered.values().contains(True),
            rx.vstack(
                ui.foreach_or_empty(
                    DownloadsState.assets,
                    _asset,
                    rx.callout("Your plan includes no digital products.", icon="info"),
                ),
                _history(),
                spacing="3",
                width="100%",
            ),
            unavailable(),
        ),
    )
