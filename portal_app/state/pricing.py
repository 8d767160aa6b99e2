"""The public pricing page: the demo merchant's plans with monthly and annual prices."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from portal_app.services import pricing_view
from portal_app.services.pricing_view import PlanCard

log = logging.getLogger(__name__)


class PricingState(rx.State):
    merchant_name: str = ""
    plans: list[PlanCard] = []
    loaded: bool = False
    error: str = ""

    @rx.event
    async def load(self):
        """On page load: read the catalog off the event loop, keep only display strings."""
        try:
            name, plans = await asyncio.to_thread(pricing_view.load)
        except SQLAlchemyError:
            log.exception("could not read the catalog")
            self.merchant_name, self.plans = "", []
            self.error = "The catalog is unavailable right now. Please try again later."
        else:
            self.merchant_name, self.plans, self.error = name, plans, ""
        self.loaded = True
