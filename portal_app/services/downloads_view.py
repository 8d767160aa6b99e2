"""What the downloads page shows: the toggles the merchant offers, the customer's assets
(what a kind that is off may not carry is left out by `digital.portal_view`) and the download
history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.services import digital

# What an asset of a kind the merchant turned off says instead of its action.
NOT_OFFERED = {
    "file": "Downloads are not offered in this portal right now.",
    "license": "License keys are not offered in this portal right now.",
    "link": "Links are not offered in this portal right now.",
}


@dataclass
class AssetRow:
    id: str = ""
    kind: str = ""  # file | license | link
    name: str = ""
    description: str = ""
    url: str = ""
    size: str = ""
    offered: str = ""  # "yes" when its kind is offered
    note: str = ""  # what it says instead of its action when not offered


@dataclass
class HistoryRow:
    name: str = ""
    when: str = ""
    ip: str = ""


def downloads(
    session: Session, clock: Clock, *, merchant_id: int, customer_id: int
) -> tuple[dict[str, bool], list[AssetRow], list[HistoryRow]]:
    """The offered toggles, the assets and the history, as the page shows them."""
    view = digital.portal_view(session, merchant_id=merchant_id, customer_id=customer_id)
    assets = [
        AssetRow(
            id=str(asset.id),
            kind=asset.kind,
            name=asset.name,
            description=asset.description,
            url=asset.url,
            size=f"{asset.file_size // 1024 + 1} KB" if asset.kind == "file" else "",
            offered="yes" if asset.offered else "",
            note="" if asset.offered else NOT_OFFERED.get(asset.kind, "Not offered."),
        )
        for asset in view.assets
    ]
    history = [
        HistoryRow(name=name, when=formatting.datetime_(event.created_at), ip=event.ip)
        for event, name in view.history
    ]
    return view.offered, assets, history
