"""The customer portal's navigation: only what the merchant enabled is shown. Hiding is for
the eye; every service refuses a disabled feature on its own."""

from __future__ import annotations

import re

import reflex as rx

from portal_app import routes
from portal_app.db import read_scope
from portal_app.models import Merchant, StaffUser
from portal_app.services import features
from portal_app.state.guard import PrivateState, current, guarded

HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


def visible_sections(settings: features.FeatureSet) -> list[dict[str, str]]:
    return [
        {"label": section.label, "path": section.path, "icon": section.icon}
        for section in routes.PORTAL_SECTIONS
        if section.feature is None
        or (
            any(settings.enabled(f) for f in section.feature)
            if isinstance(section.feature, tuple)
            else settings.enabled(section.feature)
        )
    ]


class NavState(PrivateState):
    sections: list[dict[str, str]] = []
    brand_name: str = ""
    brand_color: str = "#4f46e5"
    logo_url: str = ""
    enabled: dict[str, bool] = {}
    # Set in a support link's session: the staff member acting for the customer (the banner).
    acting_staff: str = ""
    loaded: bool = False

    @rx.event
    @guarded("customer")
    def load(self):
        who = current()
        with read_scope() as session:
            settings = features.load(session, who.merchant_id)
            merchant = session.get(Merchant, who.merchant_id)
            acting = None
            if who.actor.for_customer is not None:
                acting = session.get(StaffUser, int(who.actor.id))
        self.acting_staff = ""
        if who.actor.for_customer is not None:
            self.acting_staff = (acting.name or acting.email) if acting else "(unknown)"
        self.sections = visible_sections(settings)
        self.brand_name = settings["branding.name"] or merchant.name
        color = settings["branding.color"] or ""
        self.brand_color = color if HEX_COLOR.fullmatch(color) else "#4f46e5"
        logo = settings["branding.logo_url"] or ""
        self.logo_url = logo if logo.startswith(("https://", "/")) and '"' not in logo else ""
        self.enabled = {
            key: settings.enabled(key)
            for key, option in features.FEATURES.items()
            if option.kind == "bool"
        }
        self.loaded = True
