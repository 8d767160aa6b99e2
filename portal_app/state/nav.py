"""The customer portal's navigation: only what the merchant enabled is shown. Hiding is for
the eye; every service refuses a disabled feature on its own."""

from __future__ import annotations

import re
from dataclasses import dataclass

import reflex as rx

from portal_app import routes
from portal_app.services import features, nav_view
from portal_app.state.guard import PrivateState, guarded, read

HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


@dataclass
class NavSection:
    label: str = ""
    path: str = ""
    icon: str = ""


def visible_sections(settings: features.FeatureSet) -> list[NavSection]:
    return [
        NavSection(section.label, section.path, section.icon)
        for section in routes.PORTAL_SECTIONS
        if section.feature is None
        or (
            any(settings.enabled(f) for f in section.feature)
            if isinstance(section.feature, tuple)
            else settings.enabled(section.feature)
        )
    ]


class NavState(PrivateState):
    sections: list[NavSection] = []
    brand_name: str = ""
    brand_color: str = "#4f46e5"
    logo_url: str = ""
    # The portal's footer: the merchant's support contacts and text ("" where not set).
    support_email: str = ""
    support_url: str = ""
    footer_text: str = ""
    enabled: dict[str, bool] = {}
    # Set in a support link's session: the staff member acting for the customer (the banner).
    acting_staff: str = ""
    loaded: bool = False

    @rx.event
    @guarded("customer")
    def load(self):
        frame = read(nav_view.portal_frame)
        settings = frame.settings
        self.acting_staff = frame.acting_staff
        self.sections = visible_sections(settings)
        self.brand_name = settings["branding.name"] or frame.merchant_name
        color = settings["branding.color"] or ""
        self.brand_color = color if HEX_COLOR.fullmatch(color) else "#4f46e5"
        self.logo_url = frame.logo_url
        self.support_email = settings["branding.support_email"] or ""
        support_url = settings["branding.support_url"] or ""
        self.support_url = support_url if support_url.startswith("https://") else ""
        self.footer_text = settings["branding.footer"] or ""
        self.enabled = {
            key: settings.enabled(key)
            for key, option in features.FEATURES.items()
            if option.kind == "bool"
        }
        self.loaded = True
