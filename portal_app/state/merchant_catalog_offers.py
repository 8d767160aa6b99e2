"""The catalog's retention offers: the list, who sees which offer for each cancellation reason,
the create form, and turning an offer on or off (editing goes through the dialog).

A mixin of `MerchantCatalogState` (state/merchant_catalog.py), which brings `_clear_errors`,
`_done`, `_refresh` and `_changed` (Refreshing)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal_app.services import retention_offers
from portal_app.services.catalog_view import OfferView, ReasonView, RouteView
from portal_app.state.guard import guarded, write
from portal_app.state.merchant_catalog_editor import checked, field, parse_id, posted, whole


class CatalogOffersMixin(rx.State, mixin=True):
    offers: list[OfferView] = []
    routes: list[RouteView] = []  # per survey reason, the offer the cancellation flow shows
    reasons: list[ReasonView] = []  # the merchant's survey reasons, for the reason boxes
    offers_shown: bool = True  # retention offers and cancelling are both on
    offer_error: str = ""

    def _ticked_reasons(self, form: dict[str, Any]) -> list[str]:
        return [r["key"] for r in self.reasons if checked(form, f"reason_{r['key']}")]

    @rx.event
    @guarded("staff", staff_role="admin", error="offer_error")
    def create_offer(self, form_data: dict):
        form = posted(form_data)
        self._clear_errors()
        offer = write(
            retention_offers.create_offer,
            name=field(form, "name"),
            percent_off=whole(form, "percent_off", "Percent off"),
            duration_cycles=whole(form, "duration_cycles", "Number of renewals"),
            reasons=self._ticked_reasons(form),
        )
        return self._done(f'Offer "{offer.name}" created.')

    @rx.event
    @guarded("staff", staff_role="admin")
    def switch_offer(self, offer_id: str, active: bool):
        if not isinstance(active, bool):
            raise ValueError("active must be true or false")
        offer = write(retention_offers.set_active, offer_id=parse_id(offer_id), active=active)
        return self._changed(
            f'Offer "{offer.name}" is on.'
            if active
            else f'Offer "{offer.name}" is off: customers no longer see it.'
        )
