"""The cancellation flow: survey, save offers routed by reason, then an outcome on the attempt.

A pass through the flow is one `CancellationAttempt`: `start` opens it, `answer_survey` records why,
`offers` says what to show next (pause instead, a cheaper plan of the same product, a retention
discount) with the exact effect of each, `record_offers_shown` notes the first such showing (for the
merchant's funnel), and exactly one of `accept_offer`, `accept_pause`,
`accept_downgrade`, `confirm_cancel` or `abandon` finishes it with its outcome. Each step is a
merchant toggle (`cancel.*`) checked here, not only in the UI, and each step writes one audit event
(the subscription services audit their own change as well). The offers themselves are built in
`cancellation_offers`; `cancellation_stats.save_rate` turns the outcomes into the merchant's
numbers.

Nothing here stands between a customer and cancelling: the survey is optional and
`confirm_cancel` works from any open attempt without looking at the offers first. A cancellation
outside the flow (`cancel_directly`: paused and past-due subscriptions, or any when the merchant
has neither survey nor offers) is still an attempt with its outcome, so every customer
cancellation is in the merchant's numbers; an active one while the flow has a step must go
through the flow.

A retention discount is granted at most once per customer. `RetentionRedemption` has the customer
as its primary key, so of two concurrent redemptions the database lets exactly one in; the other
insert fails inside a savepoint and becomes a refusal the customer can read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import (
    CancellationAttempt,
    RetentionOffer,
    RetentionRedemption,
    Subscription,
    SubscriptionStatus,
)
from portal_app.services import audit, features, plan_changes, subscriptions
from portal_app.services.cancellation_offers import (
    ALL_KINDS,
    DISCOUNT,
    DOWNGRADE,
    PAUSE,
    Offers,
    downgrade_candidates,
    eligible_offer,
    redeemed,
    route,
)
from portal_app.services.cancellation_offers import build as build_offers
from portal_app.services.cancellation_stats import STARTED
from portal_app.services.catalog import price_info
from portal_app.services.errors import NotFound, SubscriptionError
from portal_app.services.gateway import PaymentGateway

COMMENT_MAX = 2000
TARGET = "cancellation_attempt"

ALREADY_REDEEMED = (
    "You have already used a retention offer, so another one can't be applied. "
    "You can still pause, switch plans or cancel."
)
FINISHED = "This cancellation has already finished. Start again if you still want to cancel."
FLOW_REQUIRED = "Please cancel from the subscription's cancellation page."
OFFER_UNAVAILABLE = "That offer is not available for this cancellation."


# --- lookups ------------------------------------------------------------------------------------


def get_attempt(session: Session, customer_id: int, attempt_id: int) -> CancellationAttempt:
    """The customer's own attempt; anyone else's is "not found"."""
    attempt = session.exec(
        select(CancellationAttempt).where(
            CancellationAttempt.id == attempt_id,
            CancellationAttempt.customer_id == customer_id,
        )
    ).first()
    if attempt is None:
        raise NotFound("Cancellation not found.")
    return attempt


def _open(
    session: Session, customer_id: int, attempt_id: int
) -> tuple[CancellationAttempt, Subscription]:
    attempt = get_attempt(session, customer_id, attempt_id)
    if attempt.outcome != STARTED:
        raise SubscriptionError(FINISHED, code="finished")
    subscription = subscriptions.get_for_customer(session, customer_id, attempt.subscription_id)
    return attempt, subscription


def _check_active(subscription: Subscription) -> None:
    if subscription.cancel_at_period_end:
        raise SubscriptionError(
            "This subscription is already set to cancel.", code="already_canceling"
        )
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise SubscriptionError(
            "Only an active subscription can go through cancellation here.", code="not_active"
        )


def _finish(
    session: Session,
    clock: Clock,
    attempt: CancellationAttempt,
    outcome: str,
    actor: audit.Actor,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> CancellationAttempt:
    with audit.changing(
        session,
        clock,
        attempt,
        actor=actor,
        action=f"cancellation.{outcome}",
        target_type=TARGET,
        before={"outcome": STARTED, **(before or {})},
    ) as change:
        attempt.outcome = outcome
        attempt.finished_at = clock.now()
        change.after = {
            "outcome": outcome,
            "subscription_id": attempt.subscription_id,
            "reason": attempt.reason,
            **(after or {}),
        }
    return attempt


# --- the steps ----------------------------------------------------------------------------------


def start(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    subscription_id: int,
    actor: audit.Actor,
) -> CancellationAttempt:
    """Open the flow for an active subscription that is not already set to cancel. An attempt
    still open for the same subscription is returned as it is (a second click, a reload)."""
    subscription = subscriptions.get_for_customer(session, customer_id, subscription_id)
    features.require_feature(session, subscription.merchant_id, "subscriptions.cancel")
    _check_active(subscription)
    return _open_attempt(session, clock, subscription, actor)


def _open_attempt(
    session: Session, clock: Clock, subscription: Subscription, actor: audit.Actor
) -> CancellationAttempt:
    """The subscription's open attempt, or a new one (audited as `cancellation.start`)."""
    existing = session.exec(
        select(CancellationAttempt)
        .where(
            CancellationAttempt.customer_id == subscription.customer_id,
            CancellationAttempt.subscription_id == subscription.id,
            CancellationAttempt.outcome == STARTED,
        )
        .order_by(CancellationAttempt.id.desc())
    ).first()
    if existing is not None:
        return existing
    attempt = CancellationAttempt(
        merchant_id=subscription.merchant_id,
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        created_at=clock.now(),
    )
    with audit.changing(
        session, clock, attempt, actor=actor, action="cancellation.start", target_type=TARGET
    ) as change:
        change.after = {"subscription_id": subscription.id, "outcome": STARTED}
    return attempt


def answer_survey(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    attempt_id: int,
    reason: str,
    comment: str | None = "",
    actor: audit.Actor,
) -> CancellationAttempt:
    """Record why the customer is leaving: one of the merchant's reasons and an optional comment
    (stripped, at most 2000 characters). May be answered again while the attempt is open."""
    attempt, _subscription = _open(session, customer_id, attempt_id)
    settings = features.require_feature(session, attempt.merchant_id, "subscriptions.cancel")
    features.require(settings, "cancel.survey")
    problems = []
    clean_reason = reason.strip() if isinstance(reason, str) else ""
    if clean_reason not in settings["cancel.reasons"]:
        problems.append("Choose one of the listed reasons.")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        problems.append("The comment must be text.")
        comment = ""
    clean_comment = comment.strip()
    if len(clean_comment) > COMMENT_MAX:
        problems.append(f"Keep the comment to {COMMENT_MAX} characters or fewer.")
    if problems:
        raise SubscriptionError(" ".join(problems), code="invalid_survey")
    with audit.changing(
        session,
        clock,
        attempt,
        actor=actor,
        action="cancellation.survey",
        target_type=TARGET,
        snapshot=_survey_snapshot,
    ):
        attempt.reason = clean_reason
        attempt.comment = clean_comment
    return attempt


def _survey_snapshot(attempt: CancellationAttempt) -> dict[str, Any]:
    return {"reason": attempt.reason, "has_comment": bool(attempt.comment)}


def offers(session: Session, clock: Clock, *, customer_id: int, attempt_id: int) -> Offers:
    """What to show before the final "Cancel": the save offers this reason calls for, among
    those the merchant enabled, each with its exact effect. Changes nothing."""
    attempt, subscription = _open(session, customer_id, attempt_id)
    settings = features.require_feature(session, attempt.merchant_id, "subscriptions.cancel")
    _check_active(subscription)
    return build_offers(
        session, clock, settings, subscription, attempt_id=attempt.id, reason=attempt.reason
    )


def record_offers_shown(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    attempt_id: int,
    offers: Offers,
    actor: audit.Actor,
) -> CancellationAttempt:
    """Note which offer kinds the customer was shown, in order, so the merchant's funnel has an
    "offer shown" stage. Only the first showing counts: a reload or a second survey answer keeps
    it. Nothing is noted when there was nothing to show or the attempt has finished."""
    attempt = get_attempt(session, customer_id, attempt_id)
    if offers.attempt_id != attempt.id:
        raise SubscriptionError(
            "These offers belong to another cancellation.", code="other_cancellation"
        )
    if attempt.offers_shown or attempt.outcome != STARTED or not offers.any:
        return attempt
    unknown = [kind for kind in offers.order if kind not in ALL_KINDS]
    if unknown or len(set(offers.order)) != len(offers.order):
        raise SubscriptionError("Unknown offer kinds.", code="unknown_offer_kinds")
    with audit.changing(
        session, clock, attempt, actor=actor, action="cancellation.offers_shown", target_type=TARGET
    ) as change:
        attempt.offers_shown = ",".join(offers.order)
        change.after = {"offers_shown": attempt.offers_shown, "reason": attempt.reason}
    return attempt


def accept_offer(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    attempt_id: int,
    offer_id: int,
    actor: audit.Actor,
) -> CancellationAttempt:
    """Take the retention discount `offers` showed: the next `duration_cycles` renewals are billed
    `percent_off` lower by the billing clock. Once per customer, even under a race."""
    attempt, subscription = _open(session, customer_id, attempt_id)
    settings = features.require_feature(session, attempt.merchant_id, "subscriptions.cancel")
    features.require(settings, "cancel.retention_offers")
    _check_active(subscription)
    offer = session.get(RetentionOffer, offer_id)
    if offer is None or offer.merchant_id != attempt.merchant_id:
        raise NotFound("Offer not found.")
    if redeemed(session, customer_id):
        raise SubscriptionError(ALREADY_REDEEMED, code="offer_already_redeemed")
    if DISCOUNT not in route(attempt.reason):
        raise SubscriptionError(OFFER_UNAVAILABLE, code="offer_unavailable")
    eligible = eligible_offer(session, attempt.merchant_id, attempt.reason)
    if eligible is None or eligible.id != offer.id:
        raise SubscriptionError(OFFER_UNAVAILABLE, code="offer_unavailable")
    _redeem(session, clock, customer_id, offer, subscription)
    before = {
        "discount_percent": subscription.discount_percent,
        "discount_cycles_remaining": subscription.discount_cycles_remaining,
    }
    subscriptions.claim(session, subscription, None)
    subscription.discount_percent = offer.percent_off
    subscription.discount_cycles_remaining = offer.duration_cycles
    session.add(subscription)
    attempt.offer_id = offer.id
    return _finish(
        session,
        clock,
        attempt,
        "saved_discount",
        actor,
        before=before,
        after={
            "offer_id": offer.id,
            "discount_percent": offer.percent_off,
            "discount_cycles_remaining": offer.duration_cycles,
        },
    )


def _redeem(
    session: Session,
    clock: Clock,
    customer_id: int,
    offer: RetentionOffer,
    subscription: Subscription,
) -> None:
    """Insert the redemption in a savepoint: if another transaction got there first, only the
    savepoint is undone and the customer is told why."""
    try:
        with session.begin_nested():
            session.add(
                RetentionRedemption(
                    customer_id=customer_id,
                    offer_id=offer.id,
                    subscription_id=subscription.id,
                    redeemed_at=clock.now(),
                )
            )
            session.flush()
    except IntegrityError as exc:
        if session.get(RetentionRedemption, customer_id) is None:
            raise
        raise SubscriptionError(ALREADY_REDEEMED, code="offer_already_redeemed") from exc


def accept_pause(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    attempt_id: int,
    resume_at: datetime | None,
    actor: audit.Actor,
) -> CancellationAttempt:
    """Pause instead of cancelling (the pause rules of `subscriptions.pause` apply)."""
    attempt, subscription = _open(session, customer_id, attempt_id)
    settings = features.require_feature(session, attempt.merchant_id, "subscriptions.cancel")
    features.require(settings, "cancel.pause_instead")
    if PAUSE not in route(attempt.reason):
        raise SubscriptionError(
            "Pausing is not offered for this cancellation.", code="pause_not_offered"
        )
    subscriptions.pause(
        session,
        clock,
        customer_id=customer_id,
        subscription_id=subscription.id,
        resume_at=resume_at,
        actor=actor,
    )
    return _finish(session, clock, attempt, "saved_pause", actor, after={"resume_at": resume_at})


def accept_downgrade(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    attempt_id: int,
    new_price_id: int,
    gateway: PaymentGateway,
    actor: audit.Actor,
    timing: str | None = None,
    expected_version: int | None = None,
) -> CancellationAttempt:
    """Switch to a cheaper plan of the same product instead of cancelling. The plan-change rules
    (timing policy, proration, credit) are those of `plan_changes.change_plan`; pass the
    suggestion's `preview.version` as `expected_version` to refuse a change made in between."""
    attempt, subscription = _open(session, customer_id, attempt_id)
    settings = features.require_feature(session, attempt.merchant_id, "subscriptions.cancel")
    features.require(settings, "cancel.downgrade_suggestion")
    features.require(settings, "subscriptions.downgrade")
    if DOWNGRADE not in route(attempt.reason):
        raise SubscriptionError(
            "A plan change is not offered for this cancellation.", code="downgrade_not_offered"
        )
    _check_active(subscription)
    price_info(session, attempt.merchant_id, new_price_id)  # another merchant's price: NotFound
    if new_price_id not in {c.price.id for c in downgrade_candidates(session, subscription)}:
        raise SubscriptionError(
            "Choose a cheaper plan of the same product and billing cycle.", code="not_cheaper"
        )
    before_price = subscription.price_id
    result = plan_changes.change_plan(
        session,
        clock,
        gateway,
        customer_id=customer_id,
        subscription_id=subscription.id,
        new_price_id=new_price_id,
        timing=timing,
        expected_version=expected_version,
        actor=actor,
    )
    return _finish(
        session,
        clock,
        attempt,
        "saved_downgrade",
        actor,
        before={"price_id": before_price},
        after={
            "new_price_id": new_price_id,
            "timing": result.preview.timing,
            "effective_at": result.preview.effective_at,
        },
    )


def confirm_cancel(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    attempt_id: int,
    at_period_end: bool | None,
    actor: audit.Actor,
) -> CancellationAttempt:
    """Cancel, now or at period end as the merchant's `cancel.mode` allows. No survey answer or
    offer has to come first."""
    attempt, subscription = _open(session, customer_id, attempt_id)
    features.require_feature(session, attempt.merchant_id, "subscriptions.cancel")
    return _cancel(session, clock, attempt, subscription, at_period_end, actor)


def _cancel(
    session: Session,
    clock: Clock,
    attempt: CancellationAttempt,
    subscription: Subscription,
    at_period_end: bool | None,
    actor: audit.Actor,
    *,
    direct: bool = False,
) -> CancellationAttempt:
    """Cancel the subscription (`subscriptions.cancel`'s rules) and finish the attempt
    "canceled"; `direct` when it came without the flow's steps."""
    was = subscription.status
    subscriptions.cancel(
        session,
        clock,
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        at_period_end=at_period_end,
        actor=actor,
    )
    after: dict[str, Any] = {
        "status": subscription.status,
        "cancel_at_period_end": subscription.cancel_at_period_end,
    }
    if direct:
        after["direct"] = True
    before = {"status": was} if direct else None
    return _finish(session, clock, attempt, "canceled", actor, before=before, after=after)


def flow_required(settings: features.FeatureSet) -> bool:
    """Whether the flow has a step for the customer (the survey or a save offer the merchant
    turned on): then an active subscription is cancelled through the flow only."""
    return (
        settings.enabled("cancel.survey")
        or settings.enabled("cancel.retention_offers")
        or (
            settings.enabled("cancel.downgrade_suggestion")
            and settings.enabled("subscriptions.downgrade")
        )
        or (settings.enabled("cancel.pause_instead") and settings.enabled("subscriptions.pause"))
    )


def takes_flow(subscription: Subscription) -> bool:
    """The flow is for running subscriptions not already set to cancel (see `_check_active`)."""
    return (
        subscription.status == SubscriptionStatus.ACTIVE and not subscription.cancel_at_period_end
    )


def cancel_directly(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    subscription_id: int,
    at_period_end: bool | None,
    actor: audit.Actor,
) -> CancellationAttempt:
    """Cancel without the flow's steps (a paused or past-due subscription, or an active one when
    the merchant has no survey or offer), still as an attempt finished "canceled", so the funnel
    and the save rate count every cancellation. An active subscription while the flow has a
    step is refused with code "flow_required": the survey and offers can't be skipped by
    calling this directly."""
    subscription = subscriptions.get_for_customer(session, customer_id, subscription_id)
    settings = features.require_feature(session, subscription.merchant_id, "subscriptions.cancel")
    if takes_flow(subscription) and flow_required(settings):
        raise SubscriptionError(FLOW_REQUIRED, code="flow_required")
    if subscription.status == SubscriptionStatus.CANCELED:
        raise SubscriptionError("This subscription has already ended.", code="already_ended")
    attempt = _open_attempt(session, clock, subscription, actor)
    return _cancel(session, clock, attempt, subscription, at_period_end, actor, direct=True)


def abandon(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    attempt_id: int,
    actor: audit.Actor,
) -> CancellationAttempt:
    """The customer left the flow keeping the subscription as it was."""
    attempt = get_attempt(session, customer_id, attempt_id)
    if attempt.outcome != STARTED:
        raise SubscriptionError(FINISHED, code="finished")
    return _finish(session, clock, attempt, "abandoned", actor)


__all__ = [
    "abandon",
    "accept_downgrade",
    "accept_offer",
    "accept_pause",
    "answer_survey",
    "cancel_directly",
    "confirm_cancel",
    "flow_required",
    "get_attempt",
    "offers",
    "record_offers_shown",
    "start",
    "takes_flow",
]
