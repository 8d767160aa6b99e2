"""The cancellation flow's screen steps that take more than one service call in one unit of
work: starting the flow (the attempt and what the merchant's settings ask of it) and showing the
offers (found, then recorded as shown)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.services import audit, cancellation, features


@dataclass
class Reason:
    key: str = ""
    label: str = ""


@dataclass(frozen=True)
class FlowStart:
    attempt_id: int
    survey: bool  # the merchant asks why first
    cancel_choice: bool  # the customer chooses now / at the period's end
    reasons: list[Reason]


def start(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    merchant_id: int,
    subscription_id: int,
    actor: audit.Actor,
) -> FlowStart:
    attempt = cancellation.start(
        session, clock, customer_id=customer_id, subscription_id=subscription_id, actor=actor
    )
    settings = features.load(session, merchant_id)
    return FlowStart(
        attempt_id=attempt.id,
        survey=settings.enabled("cancel.survey"),
        cancel_choice=settings["cancel.mode"] == "customer_choice",
        reasons=[Reason(key, label) for key, label in features.reasons(settings)],
    )


def show_offers(
    session: Session, clock: Clock, *, customer_id: int, attempt_id: int, actor: audit.Actor
) -> cancellation.Offers:
    """The offers for this attempt, recorded as shown."""
    found = cancellation.offers(session, clock, customer_id=customer_id, attempt_id=attempt_id)
    cancellation.record_offers_shown(
        session, clock, customer_id=customer_id, attempt_id=attempt_id, offers=found, actor=actor
    )
    return found
