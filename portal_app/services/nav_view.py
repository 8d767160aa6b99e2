"""What the customer portal's frame shows around every page: the merchant's settings (branding,
toggles), its name, and in a support link's session the staff member acting for the customer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.models import Merchant, StaffUser
from portal_app.services import audit, features


@dataclass(frozen=True)
class PortalFrame:
    settings: features.FeatureSet
    merchant_name: str
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
    return PortalFrame(settings, merchant.name, acting_staff)
