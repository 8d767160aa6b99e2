"""The save offers of the cancellation flow: which kinds suit which reason (`ROUTES`), and each
offer with its exact effect, as `cancellation.offers` shows them before the final "Cancel".

Pause instead (the merchant's pause rules), a cheaper plan of the same product and billing
cycle (with the preview of the switch), and a retention discount (the merchant's offer for the
reason, at most once per customer: see `redeemed`). Nothing here changes anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Plan, Price, RetentionOffer, RetentionRedemption, Subscription
from portal_app.money import format_money
from portal_app.services import features, plan_changes, subscriptions
from portal_app.services.catalog import PriceInfo, price_info
from portal_app.services.errors import PortalError

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
    preview: plan_changes.ChangePreview

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


def route(reason: str) -> tuple[str, ...]:
    return ROUTES.get(reason, ALL_KINDS)


def redeemed(session: Session, customer_id: int) -> bool:
    """Whether the customer already took a retention discount (at most one each)."""
    return session.get(RetentionRedemption, customer_id) is not None


def build(
    session: Session,
    clock: Clock,
    settings: features.FeatureSet,
    subscription: Subscription,
    *,
    attempt_id: int,
    reason: str,
) -> Offers:
    """The save offers this reason calls for, among those the merchant enabled, best first."""
    found: dict[str, Any] = {}
    for kind in route(reason):
        if kind == PAUSE:
            found[kind] = pause_suggestion(settings, clock)
        elif kind == DOWNGRADE:
            found[kind] = downgrade_suggestion(session, clock, settings, subscription)
        elif kind == DISCOUNT:
            found[kind] = discount_offer(session, settings, subscription, reason)
    return Offers(
        attempt_id=attempt_id,
        reason=reason,
        order=tuple(kind for kind, value in found.items() if value is not None),
        pause=found.get(PAUSE),
        downgrade=found.get(DOWNGRADE),
        discount=found.get(DISCOUNT),
    )


def pause_suggestion(settings: features.FeatureSet, clock: Clock) -> PauseSuggestion | None:
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


def downgrade_suggestion(
    session: Session, clock: Clock, settings: features.FeatureSet, subscription: Subscription
) -> DowngradeSuggestion | None:
    if not (
        settings.enabled("cancel.downgrade_suggestion")
        and settings.enabled("subscriptions.downgrade")
    ):
        return None
    for candidate in downgrade_candidates(session, subscription):
        try:
            preview = plan_changes.preview_change(
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


def renewal_price(session: Session, subscription: Subscription) -> PriceInfo:
    """The price the next renewal is billed at: a change scheduled for period end comes first."""
    change = subscriptions.pending_change(session, subscription.id)
    if change is not None and change.effective_at <= subscription.current_period_end:
        return price_info(session, subscription.merchant_id, change.new_price_id)
    return price_info(session, subscription.merchant_id, subscription.price_id)


def discount_offer(
    session: Session, settings: features.FeatureSet, subscription: Subscription, reason: str
) -> DiscountOffer | None:
    if not settings.enabled("cancel.retention_offers"):
        return None
    if redeemed(session, subscription.customer_id):
        return None
    offer = eligible_offer(session, subscription.merchant_id, reason)
    if offer is None:
        return None
    info = renewal_price(session, subscription)
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
