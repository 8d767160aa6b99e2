"""Digital products: files (signed expiring links), license keys (masked until revealed), external
links and the customer's download history."""

from __future__ import annotations

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.services import digital
from portal_app.state.guard import CLOCK, PrivateState, current, guarded


def read_assets(customer_id: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    with read_scope() as session:
        assets = [
            {
                "id": str(asset.id),
                "kind": asset.kind,
                "name": asset.name,
                "description": asset.description,
                "url": asset.url or "",
                "size": f"{(asset.file_size or 0) // 1024 + 1} KB" if asset.kind == "file" else "",
            }
            for asset in digital.entitled_assets(session, customer_id)
        ]
        history = [
            {"name": name, "when": event.created_at.strftime("%d %b %Y %H:%M UTC"), "ip": event.ip}
            for event, name in digital.history(session, customer_id)
        ]
    return assets, history


class DownloadsState(PrivateState):
    assets: list[dict[str, str]] = []
    history: list[dict[str, str]] = []
    revealed: dict[str, str] = {}
    loaded: bool = False

    @rx.event
    @guarded("customer")
    def load(self):
        self.assets, self.history = read_assets(current().customer_id)
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
        self.assets, self.history = read_assets(current().customer_id)
