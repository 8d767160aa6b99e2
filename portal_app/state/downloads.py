"""Digital products: files (signed expiring links), license keys (masked until revealed), external
links and the customer's download history. What `load` may hold is decided by
`digital.portal_view` (the merchant's toggles), not by the page."""

from __future__ import annotations

import reflex as rx

from portal_app.services import digital, downloads_view
from portal_app.services.downloads_view import AssetRow, HistoryRow
from portal_app.state.guard import PrivateState, guarded, read, write


class DownloadsState(PrivateState):
    offered: dict[str, bool] = {}
    assets: list[AssetRow] = []
    history: list[HistoryRow] = []
    revealed: dict[str, str] = {}
    loaded: bool = False

    @rx.event
    @guarded("customer")
    def load(self):
        self.offered, self.assets, self.history = read(downloads_view.downloads)
        self.revealed = {}
        self.loaded = True

    @rx.event
    @guarded("customer", feature="digital.downloads")
    def download(self, asset_id: int):
        url, _ = read(digital.download_link, asset_id=int(asset_id))
        return rx.redirect(url, is_external=True)

    @rx.event
    @guarded("customer", feature="digital.license_keys")
    def reveal_key(self, asset_id: int):
        key = write(digital.reveal_license_key, asset_id=int(asset_id))
        self.revealed = {**self.revealed, str(int(asset_id)): key}

    @rx.event
    @guarded("customer", feature="digital.history")
    def refresh_history(self):
        self.offered, self.assets, self.history = read(downloads_view.downloads)
