"""Digital products: files (signed expiring links), license keys (masked until revealed), external
links and the customer's download history. What `load` may hold is decided by
`digital.portal_view` (the merchant's toggles), not by the page."""

from __future__ import annotations

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.services import digital
from portal_app.state.guard import CLOCK, PrivateState, current, guarded

# What an asset of a kind the merchant turned off says instead of its action.
NOT_OFFERED = {
    "file": "Downloads are not offered in this portal right now.",
    "license": "License keys are not offered in this portal right now.",
    "link": "Links are not offered in this portal right now.",
}


def read_view() -> tuple[dict[str, bool], list[dict[str, str]], list[dict[str, str]]]:
    """The signed-in customer's offered toggles, assets and history, as the page shows them."""
    who = current()
    with read_scope() as session:
        view = digital.portal_view(
            session, merchant_id=who.merchant_id, customer_id=who.customer_id
        )
    assets = [
        {
            "id": str(asset.id),
            "kind": asset.kind,
            "name": asset.name,
            "description": asset.description,
            "url": asset.url,
            "size": f"{asset.file_size // 1024 + 1} KB" if asset.kind == "file" else "",
            "offered": "yes" if asset.offered else "",
            "note": "" if asset.offered else NOT_OFFERED.get(asset.kind, "Not offered."),
        }
        for asset in view.assets
    ]
    history = [
        {"name": name, "when": event.created_at.strftime("%d %b %Y %H:%M UTC"), "ip": event.ip}
        for event, name in view.history
    ]
    return view.offered, assets, history


class DownloadsState(PrivateState):
    offered: dict[str, bool] = {}
    assets: list[dict[str, str]] = []
    history: list[dict[str, str]] = []
    revealed: dict[str, str] = {}
    loaded: bool = False

    @rx.event
    @guarded("customer")
    def load(self):
        self.offered, self.assets, self.history = read_view()
        self.revealed = {}
        self.loaded = True

    @rx.event
    @guarded("customer", feature="digital.downloads")
    def download(self, asset_id: int):
        who = current()
        with read_scope() as session:
            url, _ = digital.download_link(
                session, CLOCK, customer_id=who.customer_id, asset_id=int(asset_id)
            )
        return rx.redirect(url, is_external=True)

    @rx.event
    @guarded("customer", feature="digital.license_keys")
    def reveal_key(self, asset_id: int):
        who = current()
        with session_scope() as session:
            key = digital.reveal_license_key(
                session,
                CLOCK,
                customer_id=who.customer_id,
                asset_id=int(asset_id),
                actor=who.actor,
            )
        self.revealed = {**self.revealed, str(int(asset_id)): key}

    @rx.event
    @guarded("customer", feature="digital.history")
    def refresh_history(self):
        self.offered, self.assets, self.history = read_view()
