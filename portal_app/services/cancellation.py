"""The cancellation flow: survey, save offers routed by reason, then an outcome on the attempt.

A pass through the flow is one `CancellationAttempt`: `start` opens it, `answer_survey` records why,
`offers` says what to show next (pause instead, a cheaper plan of the same product, a retention
discount) with the exact effect of each, `record_offers_shown` notes the first such showing (for the
merchant's funnel), and exactly one of `accept_offer`, `accept_pause`,
`accept_downgrade`, `confirm_cancel` or `abandon` finishes it with its outcome. Each step is a
merchant toggle (`cancel.*`) checked here, not only in the UI, and each step writes one audit event
(the subscription services audit their own change as well). `save_rate` turns the outcomes into the
merchant's numbers.

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

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import (
    CancellationAttempt,
    Plan,
    Price,
    RetentionOffer,
    RetentionRedemption,
    Subscription,
    SubscriptionStatus,
)
from portal_app.money import format_money, round_half_even
from portal_app.services import audit, features, subscriptions
from portal_app.services.catalog import PriceInfo, price_info
from portal_app.services.errors import NotFound, PortalError, SubscriptionError
from portal_app.services.gateway import PaymentGateway
from portal_app.services.portal_preview import not_preview

STARTED = "started"
SAVED_OUTCOMES = ("saved_discount", "saved_pause", "saved_downgrade")
OUTCOMES = (*SAVED_OUTCOMES, "canceled", "abandoned")
COMMENT_MAX = 2000
SUGGESTED_PAUSE_DAYS = 30

PAUSE, DOWNGRADE, DISCOUNT = "pause", "downgrade", "discount"

# Which save offers suit which reason, best first. A reason not listed here (one the merchant
# added, or none because the survey is off or skipped) gets every offer the merchant enabled.
# A discount is further narrowed by the offer's own `reasons`.
ROUTES: dict[str, tuple[str, ...]] = {
    "too_expensive": (DOWNGRADE, DISCOUNT, PAUSE),
    "unused": (PAUSE, DOWNGRADE, DISCOUNT),
    "too_complex": (DOWNGRADE, DISCOUNT),
    "missing_features": (PAUSE, DISCOUNT),
    "switched_service": (DISCOUNT,),
    "low_quality": (DISCOUNT,),
    "customer_service": (DISCOUNT,),
    "other": (PAUSE, DOWNGRADE, DISCOUNT),
}
ALL_KINDS = (PAUSE, DOWNGRADE, DISCOUNT)

ALREADY_REDEEMED = (
    "You have already used a retention offer, so another one can't be applied. "
    "You can still pause, switch plans or cancel."
)
FINISHED = "This cancellation has already finished. Start again if you still want to cancel."
FLOW_REQUIRED = "Please cancel from the subscription's cancellation page."


# --- what the customer is shown -----------------------------------------------------------------


@dataclass(frozen=True)
class PauseSuggestion:
    """Pause instead of cancelling: billing stops now, unused paid time comes back on resume."""

    max_days: int
    allow_open_ended: bool
    suggested_resume_at: datetime
    latest_resume_at: datetime

    def summary(self) -> str:
        return (
            f"Pause for up to {self.max_days} days instead: no charges while paused, and the "
            "time you already paid for is kept for when you come back."
        )


@dataclass(frozen=True)
class DowngradeSuggestion:
    """A cheaper plan of the same product and billing cycle, with the exact preview of a switch."""

    price_id: int
    label: str
    amount: int
    currency: str
    interval: str
    preview: subscriptions.ChangePreview

    def summary(self) -> str:
        return f"Switch to {self.label} instead. {self.preview.summary()}"


@dataclass(frozen=True)
class DiscountOffer:
    """A retention discount and its exact effect on the coming renewals (integer minor units)."""

    offer_id: int
    name: str
    percent_off: int
    renewals: int  # how many renewals are discounted
    currency: str
    interval: str
    regular_amount: int  # per renewal without the discount
    discount_per_renewal: int
    amount_per_renewal: int  # what each discounted renewal costs
    total_saving: int
    first_renewal_at: datetime

    def summary(self) -> str:
        each = format_money(self.amount_per_renewal, self.currency)
        regular = format_money(self.regular_amount, self.currency)
        saving = format_money(self.total_saving, self.currency)
        count = "renewal" if self.renewals == 1 else f"{self.renewals} renewals"
        return (
            f"{self.percent_off}% off your next {count}: {each} instead of {regular} per "
            f"{self.interval}, {saving} saved in total. Then {regular} per {self.interval}."
        )


@dataclass(frozen=True)
class Offers:
    attempt_id: int
    reason: str
    order: tuple[str, ...]  # the kinds present, best first for this reason
    pause: PauseSuggestion | None = None
    downgrade: DowngradeSuggestion | None = None
    discount: DiscountOffer | None = None

    @property
    def any(self) -> bool:
        return bool(self.order)


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
        raise SubscriptionError(FINISHED)
    subscription = subscriptions.get_for_customer(session, customer_id, attempt.subscription_id)
    return attempt, subscription


def _check_active(subscription: Subscription) -> None:
    if subscription.cancel_at_period_end:
        raise SubscriptionError("This subscription is already set to cancel.")
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise SubscriptionError("Only an active subscription can go through cancellation here.")


def _redeemed(session: Session, customer_id: int) -> bool:
    return session.get(RetentionRedemption, customer_id) is not None


def _route(reason: str) -> tuple[str, ...]:
    return ROUTES.get(reason, ALL_KINDS)


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
    attempt.outcome = outcome
    attempt.finished_at = clock.now()
    session.add(attempt)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=attempt.merchant_id,
        actor=actor,
        action=f"cancellation.{outcome}",
        target_type="cancellation_attempt",
        target_id=attempt.id,
        customer_id=attempt.customer_id,
        before={"outcome": STARTED, **(before or {})},
        after={
            "outcome": outcome,
            "subscription_id": attempt.subscription_id,
            "reason": attempt.reason,
            **(after or {}),
        },
    )
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
    session.add(attempt)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=attempt.merchant_id,
        actor=actor,
        action="cancellation.start",
        target_type="cancellation_attempt",
        target_id=attempt.id,
        customer_id=attempt.customer_id,
        after={"subscription_id": subscription.id, "outcome": STARTED},
    )
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
    before = {"reason": attempt.reason, "has_comment": bool(attempt.comment)}
    attempt.reason = clean_reason
    attempt.comment = clean_comment
    session.add(attempt)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=attempt.merchant_id,
        actor=actor,
        action="cancellation.survey",
        target_type="cancellation_attempt",
        target_id=attempt.id,
        customer_id=customer_id,
        before=before,
        after={"reason": clean_reason, "has_comment": bool(clean_comment)},
    )
    return attempt


def offers(session: Session, clock: Clock, *, customer_id: int, attempt_id: int) -> Offers:
    """What to show before the final "Cancel": the save offers this reason calls for, among
    those the merchant enabled, each with its exact effect. Changes nothing."""
    attempt, subscription = _open(session, customer_id, attempt_id)
    settings = features.require_feature(session, attempt.merchant_id, "subscriptions.cancel")
    _check_active(subscription)
    found: dict[str, Any] = {}
    for kind in _route(attempt.reason):
        if kind == PAUSE:
            found[kind] = _pause_suggestion(settings, clock)
        elif kind == DOWNGRADE:
            found[kind] = _downgrade_suggestion(session, clock, settings, subscription)
        elif kind == DISCOUNT:
            found[kind] = _discount_offer(session, settings, subscription, attempt.reason)
    return Offers(
        attempt_id=attempt.id,
        reason=attempt.reason,
        order=tuple(kind for kind, value in found.items() if value is not None),
        pause=found.get(PAUSE),
        downgrade=found.get(DOWNGRADE),
        discount=found.get(DISCOUNT),
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
        raise SubscriptionError("These offers belong to another cancellation.")
    if attempt.offers_shown or attempt.outcome != STARTED or not offers.any:
        return attempt
    unknown = [kind for kind in offers.order if kind not in ALL_KINDS]
    if unknown or len(set(offers.order)) != len(offers.order):
        raise SubscriptionError("Unknown offer kinds.")
    attempt.offers_shown = ",".join(offers.order)
    session.add(attempt)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=attempt.merchant_id,
        actor=actor,
        action="cancellation.offers_shown",
        target_type="cancellation_attempt",
        target_id=attempt.id,
        customer_id=customer_id,
        after={"offers_shown": attempt.offers_shown, "reason": attempt.reason},
    )
    return attempt


def _pause_suggestion(settings: features.FeatureSet, clock: Clock) -> PauseSuggestion | None:
    if not (settings.enabled("cancel.pause_instead") and settings.enabled("subscriptions.pause")):
        return None
    now = clock.now()
    max_days = settings["pause.max_days"]
    return PauseSuggestion(
        max_days=max_days,
        allow_open_ended=settings.enabled("pause.allow_open_ended"),
        suggested_resume_at=now + timedelta(days=min(SUGGESTED_PAUSE_DAYS, max_days)),
        latest_resume_at=now + timedelta(days=max_days),
    )


def downgrade_candidates(session: Session, subscription: Subscription) -> list[PriceInfo]:
    """Cheaper plans of the same product: a lower tier, the same billing cycle and currency,
    a lower price, on sale. The nearest tier first."""
    current = price_info(session, subscription.merchant_id, subscription.price_id)
    rows = session.exec(
        select(Price, Plan)
        .join(Plan, Plan.id == Price.plan_id)
        .where(
            Plan.product_id == current.plan.product_id,
            Plan.tier < current.plan.tier,
            Plan.active.is_(True),
            Price.active.is_(True),
            Price.interval == current.price.interval,
            Price.currency == current.price.currency,
            Price.amount < current.price.amount,
        )
        .order_by(Plan.tier.desc(), Price.id)
    ).all()
    return [PriceInfo(price, plan) for price, plan in rows]


def _downgrade_suggestion(
    session: Session, clock: Clock, settings: features.FeatureSet, subscription: Subscription
) -> DowngradeSuggestion | None:
    if not (
        settings.enabled("cancel.downgrade_suggestion")
        and settings.enabled("subscriptions.downgrade")
    ):
        return None
    for candidate in downgrade_candidates(session, subscription):
        try:
            preview = subscriptions.preview_change(
                session,
                clock,
                customer_id=subscription.customer_id,
                subscription_id=subscription.id,
                new_price_id=candidate.price.id,
            )
        except PortalError:
            continue
        return DowngradeSuggestion(
            price_id=candidate.price.id,
            label=candidate.label,
            amount=candidate.price.amount,
            currency=candidate.price.currency,
            interval=candidate.price.interval,
            preview=preview,
        )
    return None


def eligible_offer(session: Session, merchant_id: int, reason: str) -> RetentionOffer | None:
    """The merchant's active offer for this reason: one aimed at the reason before one for any
    reason, then the first created."""
    candidates = session.exec(
        select(RetentionOffer)
        .where(RetentionOffer.merchant_id == merchant_id, RetentionOffer.active.is_(True))
        .order_by(RetentionOffer.id)
    ).all()
    usable = [
        offer
        for offer in candidates
        if 0 < offer.percent_off <= 100
        and offer.duration_cycles > 0
        and (not offer.reasons or (reason and reason in offer.reasons))
    ]
    usable.sort(key=lambda offer: (not offer.reasons, offer.id))
    return usable[0] if usable else None


def _renewal_price(session: Session, subscription: Subscription) -> PriceInfo:
    """The price the next renewal is billed at: a change scheduled for period end comes first."""
    change = subscriptions.pending_change(session, subscription.id)
    if change is not None and change.effective_at <= subscription.current_period_end:
        return price_info(session, subscription.merchant_id, change.new_price_id)
    return price_info(session, subscription.merchant_id, subscription.price_id)


def _discount_offer(
    session: Session, settings: features.FeatureSet, subscription: Subscription, reason: str
) -> DiscountOffer | None:
    if not settings.enabled("cancel.retention_offers"):
        return None
    if _redeemed(session, subscription.customer_id):
        return None
    offer = eligible_offer(session, subscription.merchant_id, reason)
    if offer is None:
        return None
    info = _renewal_price(session, subscription)
    regular = info.price.amount
    off = subscriptions.discount_amount(regular, offer.percent_off)
    return DiscountOffer(
        offer_id=offer.id,
        name=offer.name,
        percent_off=offer.percent_off,
        renewals=offer.duration_cycles,
        currency=info.price.currency,
        interval=info.price.interval,
        regular_amount=regular,
        discount_per_renewal=off,
        amount_per_renewal=regular - off,
        total_saving=off * offer.duration_cycles,
        first_renewal_at=subscription.current_period_end,
    )


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
    if _redeemed(session, customer_id):
        raise SubscriptionError(ALREADY_REDEEMED, code="offer_already_redeemed")
    if DISCOUNT not in _route(attempt.reason):
        raise SubscriptionError("That offer is not available for this cancellation.")
    eligible = eligible_offer(session, attempt.merchant_id, attempt.reason)
    if eligible is None or eligible.id != offer.id:
        raise SubscriptionError("That offer is not available for this cancellation.")
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
    if PAUSE not in _route(attempt.reason):
        raise SubscriptionError("Pausing is not offered for this cancellation.")
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
    (timing policy, proration, credit) are those of `subscriptions.change_plan`; pass the
    suggestion's `preview.version` as `expected_version` to refuse a change made in between."""
    attempt, subscription = _open(session, customer_id, attempt_id)
    settings = features.require_feature(session, attempt.merchant_id, "subscriptions.cancel")
    features.require(settings, "cancel.downgrade_suggestion")
    features.require(settings, "subscriptions.downgrade")
    if DOWNGRADE not in _route(attempt.reason):
        raise SubscriptionError("A plan change is not offered for this cancellation.")
    _check_active(subscription)
    price_info(session, attempt.merchant_id, new_price_id)  # another merchant's price: NotFound
    if new_price_id not in {c.price.id for c in downgrade_candidates(session, subscription)}:
        raise SubscriptionError("Choose a cheaper plan of the same product and billing cycle.")
    before_price = subscription.price_id
    result = subscriptions.change_plan(
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
    subscriptions.cancel(
        session,
        clock,
        customer_id=customer_id,
        subscription_id=subscription.id,
        at_period_end=at_period_end,
        actor=actor,
    )
    return _finish(
        session,
        clock,
        attempt,
        "canceled",
        actor,
        after={
            "status": subscription.status,
            "cancel_at_period_end": subscription.cancel_at_period_end,
        },
    )


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
        raise SubscriptionError("This subscription has already ended.")
    attempt = _open_attempt(session, clock, subscription, actor)
    was = subscription.status
    subscriptions.cancel(
        session,
        clock,
        customer_id=customer_id,
        subscription_id=subscription.id,
        at_period_end=at_period_end,
        actor=actor,
    )
    return _finish(
        session,
        clock,
        attempt,
        "canceled",
        actor,
        before={"status": was},
        after={
            "status": subscription.status,
            "cancel_at_period_end": subscription.cancel_at_period_end,
            "direct": True,
        },
    )


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
        raise SubscriptionError(FINISHED)
    return _finish(session, clock, attempt, "abandoned", actor)


# --- the merchant's numbers ---------------------------------------------------------------------


def _percent(part: int, whole: int) -> str:
    if whole == 0:
        return "n/a"
    tenths = round_half_even(Fraction(part * 1000, whole))
    return f"{tenths // 10}.{tenths % 10}%"


def _rate(saved: int, canceled: int) -> dict[str, Any]:
    decided = saved + canceled
    return {
        "decided": decided,
        "save_rate": Fraction(saved, decided) if decided else None,
        "save_rate_percent": _percent(saved, decided),
    }


def save_rate(session: Session, merchant_id: int, since: datetime | None = None) -> dict[str, Any]:
    """Outcome counts of the merchant's cancellation attempts (started at or after `since`) and
    the save rate: saved / (saved + canceled). Attempts still open or abandoned are counted but
    are not in the rate, since the customer never decided. `save_rate` is an exact Fraction (None
    when nothing was decided); `save_rate_percent` is for display, e.g. "40.0%". `by_reason` gives
    the same per survey reason ("" when none was given) so the merchant sees which offers work.
    `offers_shown` counts the attempts that were shown at least one save offer. The staff's
    preview stand-in's attempts are left out (services/portal_preview.py)."""
    query = select(
        CancellationAttempt.outcome,
        CancellationAttempt.reason,
        CancellationAttempt.offers_shown,
    ).where(
        CancellationAttempt.merchant_id == merchant_id,
        not_preview(CancellationAttempt.customer_id, merchant_id),
    )
    if since is not None:
        query = query.where(CancellationAttempt.created_at >= since)
    rows = session.exec(query).all()
    counts = Counter(outcome for outcome, _, _ in rows)
    shown = Counter(reason for _, reason, offers_shown in rows if offers_shown)
    per_reason: dict[str, Counter] = {}
    for outcome, reason, _ in rows:
        per_reason.setdefault(reason, Counter())[outcome] += 1

    def summarize(counter: Counter, offers_shown: int) -> dict[str, Any]:
        saved = sum(counter[name] for name in SAVED_OUTCOMES)
        return {
            "attempts": sum(counter.values()),
            "offers_shown": offers_shown,
            "open": counter[STARTED],
            "outcomes": {name: counter[name] for name in OUTCOMES},
            "saved": saved,
            **_rate(saved, counter["canceled"]),
        }

    return {
        **summarize(counts, shown.total()),
        "by_reason": {
            reason: summarize(counter, shown[reason])
            for reason, counter in sorted(per_reason.items())
        },
    }


__all__ = [
    "OUTCOMES",
    "ROUTES",
    "DiscountOffer",
    "DowngradeSuggestion",
    "Offers",
    "PauseSuggestion",
    "abandon",
    "accept_downgrade",
    "accept_offer",
    "accept_pause",
    "answer_survey",
    "cancel_directly",
    "confirm_cancel",
    "downgrade_candidates",
    "eligible_offer",
    "flow_required",
    "get_attempt",
    "offers",
    "record_offers_shown",
    "save_rate",
    "start",
    "takes_flow",
]
