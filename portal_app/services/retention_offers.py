"""Merchant staff manage retention offers: a percentage off the next N renewals, shown in the
cancellation flow to customers who give one of the offer's reasons (no reasons = any reason).

Which offer a customer sees is decided by `cancellation_offers.eligible_offer` (one aimed at the
reason before one for any reason, then the oldest); `routing` shows the staff exactly that, per
reason, so a new offer that would never be shown is visible as such. Editing an offer does not touch
discounts already granted: a subscription copies the percentage and cycles when the customer
accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import RetentionOffer, RetentionRedemption
from portal_app.services import audit, cancellation_offers, features
from portal_app.services.catalog_rules import NAME_MAX, Problems, edit, get_owned
from portal_app.services.errors import CatalogError

PERCENT_MIN, PERCENT_MAX = 1, 100
CYCLES_MIN, CYCLES_MAX = 1, 36
FIELDS = ("name", "percent_off", "duration_cycles", "reasons")
TARGET = "retention_offer"


def get_offer(session: Session, merchant_id: int, offer_id: int) -> RetentionOffer:
    return get_owned(session, RetentionOffer, merchant_id, offer_id, "Offer")


def _clean(
    session: Session,
    merchant_id: int,
    skip_id: int | None,
    name: Any,
    percent_off: Any,
    duration_cycles: Any,
    reasons: Any,
) -> dict[str, Any]:
    problems = Problems()
    clean_name = problems.text(name, "Offer name", max_len=NAME_MAX)
    percent = problems.whole(percent_off, "Percent off", low=PERCENT_MIN, high=PERCENT_MAX)
    cycles = problems.whole(duration_cycles, "Number of renewals", low=CYCLES_MIN, high=CYCLES_MAX)
    allowed = features.load(session, merchant_id)["cancel.reasons"]
    clean_reasons: list[str] = []
    if reasons is None:
        reasons = []
    if not isinstance(reasons, (list, tuple)) or not all(isinstance(r, str) for r in reasons):
        problems.add("Reasons must be a list of survey reasons.")
    else:
        unknown = [r for r in reasons if r not in allowed]
        if unknown:
            problems.add(
                f"Unknown reason: {', '.join(unknown)}. Choose among the survey's reasons."
            )
        clean_reasons = [r for r in allowed if r in reasons]  # the survey's order, no repeats
    if clean_name is not None:
        for other in session.exec(
            select(RetentionOffer).where(RetentionOffer.merchant_id == merchant_id)
        ):
            if other.id != skip_id and other.name.casefold() == clean_name.casefold():
                problems.add(f'An offer named "{other.name}" already exists.')
    problems.check()
    return {
        "name": clean_name,
        "percent_off": percent,
        "duration_cycles": cycles,
        "reasons": clean_reasons,
    }


def _snapshot(offer: RetentionOffer) -> dict[str, Any]:
    return {key: getattr(offer, key) for key in FIELDS}


def create_offer(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    name: Any,
    percent_off: Any,
    duration_cycles: Any,
    reasons: Any = None,
    actor: audit.Actor,
) -> RetentionOffer:
    values = _clean(session, merchant_id, None, name, percent_off, duration_cycles, reasons)
    offer = RetentionOffer(merchant_id=merchant_id, created_at=clock.now(), **values)
    with audit.changing(
        session,
        clock,
        offer,
        actor=actor,
        action="retention_offer.create",
        target_type=TARGET,
    ) as change:
        change.after = _snapshot(offer)
    return offer


def update_offer(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    offer_id: int,
    name: Any,
    percent_off: Any,
    duration_cycles: Any,
    reasons: Any = None,
    actor: audit.Actor,
) -> RetentionOffer:
    offer = get_offer(session, merchant_id, offer_id)
    values = _clean(session, merchant_id, offer.id, name, percent_off, duration_cycles, reasons)
    edit(
        session,
        clock,
        offer,
        values,
        actor=actor,
        action="retention_offer.update",
        target_type=TARGET,
    )
    return offer


def set_active(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    offer_id: int,
    active: Any,
    actor: audit.Actor,
) -> RetentionOffer:
    """Disable an offer (customers stop seeing it at once) or enable it again."""
    if not isinstance(active, bool):
        raise CatalogError("Say whether the offer should be on or off.", code="invalid_active")
    offer = get_offer(session, merchant_id, offer_id)
    if offer.active == active:
        raise CatalogError(f"This offer is already {'on' if active else 'off'}.", code="unchanged")
    with audit.changing(
        session,
        clock,
        offer,
        actor=actor,
        action="retention_offer.enable" if active else "retention_offer.disable",
        target_type=TARGET,
        snapshot=lambda row: {"active": row.active},
    ):
        offer.active = active
    return offer


# --- the staff's view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferRow:
    offer: RetentionOffer
    redemptions: int


def list_offers(session: Session, merchant_id: int) -> list[OfferRow]:
    offers = session.exec(
        select(RetentionOffer)
        .where(RetentionOffer.merchant_id == merchant_id)
        .order_by(RetentionOffer.active.desc(), RetentionOffer.id)
    ).all()
    counts = dict(
        session.exec(
            select(RetentionRedemption.offer_id, sa.func.count())
            .join(RetentionOffer, RetentionOffer.id == RetentionRedemption.offer_id)
            .where(RetentionOffer.merchant_id == merchant_id)
            .group_by(RetentionRedemption.offer_id)
        ).all()
    )
    return [OfferRow(offer, counts.get(offer.id, 0)) for offer in offers]


@dataclass(frozen=True)
class Route:
    reason: str  # "" = the customer gave no reason (survey off or skipped)
    offer: RetentionOffer | None
    discount_routed: bool  # False: the flow never offers a discount for this reason


def routing(session: Session, merchant_id: int) -> list[Route]:
    """For each survey reason (and "no reason"), the offer a customer would be shown now."""
    reasons = [*features.load(session, merchant_id)["cancel.reasons"], ""]
    return [
        Route(
            reason=reason,
            offer=cancellation_offers.eligible_offer(session, merchant_id, reason),
            discount_routed=cancellation_offers.DISCOUNT in cancellation_offers.route(reason),
        )
        for reason in reasons
    ]
