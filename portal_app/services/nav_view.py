"""What the customer portal's frame shows around every page: the merchant's settings (branding,
toggles), its name, and in a support link's session the staff member acting for the customer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.models import Merchant, StaffUser
from portal_app.services import audit, brand_logo, features


@dataclass(frozen=True)
class PortalFrame:
    settings: features.FeatureSet
    merchant_name: str
    logo_url: str  # the uploaded logo's URL, else the merchant's https:// or /path address
    acting_staff: str  # "" unless staff act for the customer; "(unknown)" for a deleted member


def portal_frame(
    session: Session, clock: Clock, *, merchant_id: int, actor: audit.Actor
) -> PortalFrame:
    settings = features.load(session, merchant_id)
    merchant = session.get(Merchant, merchant_id)
    acting_staff = ""
    if actor.for_customer is not None:
        acting = session.get(StaffUser, int(actor.id))
        acting_staff = (acting.name or acting.email) if acting else "(unknown)"
    return PortalFrame(settings, merchant.name, logo_url(merchant_id, settings), acting_staff)


def logo_url(merchant_id: int, settings: features.FeatureSet) -> str:
    """Where the header's logo comes from: an upload, else an address the merchant typed (only
    https:// or a path on this site, never one that could break out of the attribute)."""
    if settings["branding.logo"]:
        return brand_logo.url(merchant_id, settings["branding.logo"])
    typed = settings["branding.logo_url"] or ""
    return typed if typed.startswith(("https://", "/")) and '"' not in typed else ""
