"""The merchant's analytics: MRR over time, new and churned subscriptions, pauses and resumes per
calendar month (UTC), the cancellation flow's reasons, funnel and save rate, and the checkout
funnel (sessions → email → paid, trials → converted, coupon redemptions). The subscription
figures are aggregated in the database (one grouped query per month for MRR, one query for a
whole year of counts); the cancellation-flow figures are `cancellation_stats.save_rate`'s, reused.

Where the past comes from. A subscription row holds its present state only. Every change to it is
audited in the same transaction (services/subscriptions, services/billing_clock), and each event
that changes its status or price carries a `before` snapshot. So the state of a subscription at an
instant T is the `before` of its first such event after T, or the row itself when nothing happened
to it after T. Rows without audit events (inserted directly) fall back to their own timestamps:
`created_at`, `ended_at`, `paused_at`.

The staff's preview stand-in (services/portal_preview.py) is not a customer: its subscriptions,
their events and its cancellation flows are left out of every figure.

Known limits, all from what is recorded: a subscription ended by dunning (`invoice.uncollectible`,
no subscription event) and later restarted loses that first end. The funnel's "offer shown" stage
is `CancellationAttempt.offers_shown`, noted at the first showing by
`cancellation.record_offers_shown`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app import formatting
from portal_app.clock import Clock, add_months, ensure_utc
from portal_app.models import (
    AuditEvent,
    CheckoutSession,
    CheckoutStatus,
    Coupon,
    CouponRedemption,
    Invoice,
    InvoiceStatus,
    Price,
    Subscription,
    SubscriptionStatus,
    TrialUse,
)
from portal_app.money import round_half_even
from portal_app.services import cancellation_stats, features
from portal_app.services.catalog import INTERVAL_MONTHS
from portal_app.services.errors import PortalError
from portal_app.services.portal_preview import not_preview

DEFAULT_MONTHS = 12
MAX_MONTHS = 60
ONE_MICROSECOND = timedelta(microseconds=1)

# Subscription events whose `before` holds the state they changed. `subscription.renew` and
# `subscription.change_unscheduled` are left out: a renewal keeps the subscription billable, and
# an unscheduled change's `before` is the price that never took effect.
STATE_EVENTS = (
    "subscription.upgrade",
    "subscription.downgrade",
    "subscription.interval",
    "subscription.change_scheduled",
    "subscription.change_applied",  # `before` has the price only; it happens while billable
    "subscription.pause",
    "subscription.resume",
    "subscription.cancel",
    "subscription.cancel_scheduled",
    "subscription.uncancel",
    "subscription.restart",
    "subscription.ended",  # no `before`: the subscription was billable until it ended
)
PRICELESS_EVENTS = ("subscription.ended",)
# The events that end a subscription (`subscription.cancel` is always an immediate cancel; one at
# period end is `subscription.cancel_scheduled`, followed by `subscription.ended`).
END_EVENTS = ("subscription.cancel", "subscription.ended")
PAUSE_EVENTS = ("subscription.pause", "subscription.resume")


# --- months -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    """A calendar month in UTC. Counts take events in [start, end); "at month end" figures are
    the state at `as_of`: the month's last microsecond, or now for the month still running."""

    start: datetime
    end: datetime
    as_of: datetime

    @property
    def key(self) -> str:
        return formatting.month_key(self.start)

    @property
    def label(self) -> str:
        return formatting.month(self.start)


def months_until(now: datetime, count: int = DEFAULT_MONTHS) -> list[Month]:
    """The `count` calendar months up to and including the one `now` is in, oldest first."""
    if not 1 <= count <= MAX_MONTHS:
        raise PortalError(f"Choose between 1 and {MAX_MONTHS} months.")
    now = ensure_utc(now)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    months = []
    for back in range(count - 1, -1, -1):
        start = add_months(this_month, -back)
        end = add_months(start, 1)
        months.append(Month(start, end, min(end - ONE_MICROSECOND, now)))
    return months


def recent_months(clock: Clock, count: int = DEFAULT_MONTHS) -> list[Month]:
    return months_until(clock.now(), count)


def _not_preview_event(merchant_id: int):
    """Events of the preview stand-in left out; events that name no customer kept."""
    return sa.or_(
        AuditEvent.customer_id.is_(None), not_preview(AuditEvent.customer_id, merchant_id)
    )


def _window(column, months: Sequence[Month]):
    return sa.and_(column >= months[0].start, column < months[-1].end)


def _per_month(column, months: Sequence[Month]) -> list:
    """One SUM(CASE ...) per month: a whole year of counts in a single pass over the rows."""
    return [
        sa.func.coalesce(
            sa.func.sum(sa.case((sa.and_(column >= m.start, column < m.end), 1), else_=0)), 0
        )
        for m in months
    ]


# --- MRR ----------------------------------------------------------------------------------------


def monthly_amount(amount: int, interval: str) -> int:
    """A price per month in minor units: an annual price is divided by 12 and rounded half-even
    (9000/year -> 750; 1230/year -> 102.5 -> 102; 1242/year -> 103.5 -> 104)."""
    return round_half_even(Fraction(amount, INTERVAL_MONTHS[interval]))


@dataclass(frozen=True)
class MrrPoint:
    month: Month
    amount: int  # minor units of the series' currency
    subscriptions: int  # how many subscriptions it is made of


@dataclass(frozen=True)
class MrrSeries:
    currency: str
    points: list[MrrPoint] = field(default_factory=list)

    @property
    def latest(self) -> MrrPoint:
        return self.points[-1]


def mrr(session: Session, merchant_id: int, months: Sequence[Month]) -> list[MrrSeries]:
    """Monthly recurring revenue at the end of each month, one series per currency.

    MRR at instant T = the sum, over the merchant's subscriptions created at or before T that
    were billable at T, of the monthly amount of the price they were on at T. Billable: status
    `active` (one set to cancel at period end counts until it ends) or `past_due` (still owed);
    `paused` and `canceled` do not count. Monthly amount: a monthly price's list amount, an annual
    price's amount / 12 rounded half-even (`monthly_amount`; the same for every subscription on
    it). Retention discounts, credits and prorations are not in MRR.

    One grouped query per month; currencies with no MRR in any of the months have no series."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0] * len(months))
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(months))
    for index, month in enumerate(months):
        for currency, amount, interval, subscriptions in _billable_by_price(
            session, merchant_id, month.as_of
        ):
            totals[currency][index] += monthly_amount(amount, interval) * subscriptions
            counts[currency][index] += subscriptions
    return [
        MrrSeries(
            currency,
            [
                MrrPoint(month, totals[currency][i], counts[currency][i])
                for i, month in enumerate(months)
            ],
        )
        for currency in sorted(totals)
        if any(totals[currency]) or any(counts[currency])
    ]


def _billable_by_price(session: Session, merchant_id: int, at: datetime) -> list[tuple]:
    """(currency, amount, interval, subscriptions) of the subscriptions billable at `at`, grouped
    by the price they were on then."""
    billable = SubscriptionStatus.BILLABLE
    priceless = AuditEvent.action.in_(PRICELESS_EVENTS)
    # Each subscription's events after `at`, numbered in order: the first gives the status before
    # it (none given: billable, see STATE_EVENTS), the first that carries a price gives the price.
    ranked = (
        select(
            AuditEvent.target_id.label("sid"),
            AuditEvent.action.label("action"),
            sa.func.coalesce(AuditEvent.before["status"].as_string(), billable[0]).label("status"),
            AuditEvent.before["price_id"].as_integer().label("price_id"),
            sa.func.row_number()
            .over(partition_by=AuditEvent.target_id, order_by=AuditEvent.seq)
            .label("state_rank"),
            sa.func.row_number()
            .over(
                partition_by=AuditEvent.target_id,
                order_by=(sa.case((priceless, 1), else_=0), AuditEvent.seq),
            )
            .label("price_rank"),
        )
        .where(
            # `+ 0`: SQLite (no statistics) would otherwise walk every event of the merchant
            # through the merchant_id index; the action index finds the few that change state.
            AuditEvent.merchant_id + 0 == merchant_id,
            AuditEvent.target_type == "subscription",
            AuditEvent.action.in_(STATE_EVENTS),
            AuditEvent.created_at > at,
        )
        .subquery()
    )
    first_after = (
        select(
            ranked.c.sid,
            sa.func.max(sa.case((ranked.c.state_rank == 1, ranked.c.status))).label("status"),
            sa.func.max(
                sa.case(
                    (
                        sa.and_(ranked.c.price_rank == 1, ranked.c.action.not_in(PRICELESS_EVENTS)),
                        ranked.c.price_id,
                    )
                )
            ).label("price_id"),
        )
        .group_by(ranked.c.sid)
        .subquery()
    )
    # Without an event after `at`, the row, read back to `at` through its own timestamps.
    billable_at = sa.case(
        (first_after.c.sid.is_not(None), first_after.c.status.in_(billable)),
        else_=sa.or_(
            Subscription.status.in_(billable),
            sa.and_(Subscription.status == SubscriptionStatus.CANCELED, Subscription.ended_at > at),
            sa.and_(Subscription.status == SubscriptionStatus.PAUSED, Subscription.paused_at > at),
        ),
    )
    price_at = sa.func.coalesce(first_after.c.price_id, Subscription.price_id)
    rows = session.execute(
        sa.select(Price.currency, Price.amount, Price.interval, sa.func.count())
        .select_from(Subscription)
        .outerjoin(first_after, first_after.c.sid == sa.cast(Subscription.id, sa.String))
        .join(Price, Price.id == price_at)
        .where(
            Subscription.merchant_id == merchant_id,
            not_preview(Subscription.customer_id, merchant_id),
            Subscription.created_at <= at,
            billable_at,
        )
        .group_by(Price.id, Price.currency, Price.amount, Price.interval)
    ).all()
    return [tuple(row) for row in rows]


# --- new, churned, paused, resumed --------------------------------------------------------------


@dataclass(frozen=True)
class MonthMovement:
    month: Month
    new: int  # subscriptions created in the month
    churned: int  # subscriptions that ended in the month


def movements(session: Session, merchant_id: int, months: Sequence[Month]) -> list[MonthMovement]:
    """New = subscriptions created in the month (a restart of an ended one is not new). Churned =
    ends in the month: immediate cancellations and cancellations that took effect at period end
    (their audit events, so an end later undone by a restart still counts), plus subscriptions
    ended without such an event (dunning gave up) by their `ended_at`."""
    new = session.execute(
        sa.select(*_per_month(Subscription.created_at, months)).where(
            Subscription.merchant_id == merchant_id,
            not_preview(Subscription.customer_id, merchant_id),
            _window(Subscription.created_at, months),
        )
    ).one()
    ended_by_event = session.execute(
        sa.select(*_per_month(AuditEvent.created_at, months)).where(
            AuditEvent.merchant_id == merchant_id,
            AuditEvent.target_type == "subscription",
            AuditEvent.action.in_(END_EVENTS),
            _not_preview_event(merchant_id),
            _window(AuditEvent.created_at, months),
        )
    ).one()
    last_end_event = (
        select(
            AuditEvent.target_id.label("sid"),
            sa.func.max(AuditEvent.created_at).label("at"),
        )
        .where(
            AuditEvent.merchant_id == merchant_id,
            AuditEvent.target_type == "subscription",
            AuditEvent.action.in_(END_EVENTS),
        )
        .group_by(AuditEvent.target_id)
        .subquery()
    )
    ended_silently = session.execute(
        sa.select(*_per_month(Subscription.ended_at, months))
        .select_from(Subscription)
        .outerjoin(last_end_event, last_end_event.c.sid == sa.cast(Subscription.id, sa.String))
        .where(
            Subscription.merchant_id == merchant_id,
            Subscription.status == SubscriptionStatus.CANCELED,
            not_preview(Subscription.customer_id, merchant_id),
            _window(Subscription.ended_at, months),
            sa.or_(last_end_event.c.at.is_(None), last_end_event.c.at < Subscription.ended_at),
        )
    ).one()
    return [
        MonthMovement(month, int(new[i]), int(ended_by_event[i]) + int(ended_silently[i]))
        for i, month in enumerate(months)
    ]


@dataclass(frozen=True)
class MonthPauses:
    month: Month
    pauses: int
    resumes: int  # by the customer or when the pause's resume date came


def pauses(session: Session, merchant_id: int, months: Sequence[Month]) -> list[MonthPauses]:
    """Pauses and resumes per month, from their audit events (one each, whoever acted)."""
    rows = session.execute(
        sa.select(AuditEvent.action, *_per_month(AuditEvent.created_at, months))
        .where(
            AuditEvent.merchant_id == merchant_id,
            AuditEvent.target_type == "subscription",
            AuditEvent.action.in_(PAUSE_EVENTS),
            _not_preview_event(merchant_id),
            _window(AuditEvent.created_at, months),
        )
        .group_by(AuditEvent.action)
    ).all()
    by_action = {row[0]: [int(value) for value in row[1:]] for row in rows}
    zeros = [0] * len(months)
    paused = by_action.get("subscription.pause", zeros)
    resumed = by_action.get("subscription.resume", zeros)
    return [MonthPauses(month, paused[i], resumed[i]) for i, month in enumerate(months)]


# --- the cancellation flow ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonCount:
    reason: str  # the survey answer; "" when none was given
    attempts: int
    saved: int
    canceled: int
    save_rate_percent: str


@dataclass(frozen=True)
class RetentionFunnel:
    """Cancellation flows started in the period and how far they got. `saved` counts the flows
    that ended with an accepted offer (discount, pause or cheaper plan), `by_offer` splits it."""

    started: int
    answered: int  # gave a survey reason
    offers_shown: int  # were shown at least one save offer
    saved: int
    canceled: int
    abandoned: int  # left the flow keeping the subscription, without an offer
    open: int  # not finished yet
    by_offer: dict[str, int]
    decided: int  # saved + canceled: what the save rate is taken over
    save_rate: Fraction | None
    save_rate_percent: str


@dataclass(frozen=True)
class Retention:
    funnel: RetentionFunnel
    reasons: list[ReasonCount]  # most given first; "" (no reason) last


def retention(session: Session, merchant_id: int, months: Sequence[Month]) -> Retention:
    """The funnel, reasons and save rate of the flows started since the first month's start, as
    `cancellation_stats.save_rate` counts them (save rate = saved / (saved + canceled))."""
    numbers = cancellation_stats.save_rate(session, merchant_id, since=months[0].start)
    by_reason = numbers["by_reason"]
    unanswered = by_reason.get("", {}).get("attempts", 0)
    outcomes = numbers["outcomes"]
    funnel = RetentionFunnel(
        started=numbers["attempts"],
        answered=numbers["attempts"] - unanswered,
        offers_shown=numbers["offers_shown"],
        saved=numbers["saved"],
        canceled=outcomes["canceled"],
        abandoned=outcomes["abandoned"],
        open=numbers["open"],
        by_offer={name: outcomes[name] for name in cancellation_stats.SAVED_OUTCOMES},
        decided=numbers["decided"],
        save_rate=numbers["save_rate"],
        save_rate_percent=numbers["save_rate_percent"],
    )
    reasons = [
        ReasonCount(
            reason=reason,
            attempts=summary["attempts"],
            saved=summary["saved"],
            canceled=summary["outcomes"]["canceled"],
            save_rate_percent=summary["save_rate_percent"],
        )
        for reason, summary in by_reason.items()
    ]
    reasons.sort(key=lambda r: (r.reason == "", -r.attempts, r.reason))
    return Retention(funnel, reasons)


# --- checkout: sessions → email → paid, trials → converted, coupon redemptions -------------------


@dataclass(frozen=True)
class CouponCount:
    coupon: str  # the coupon's name
    redemptions: int


@dataclass(frozen=True)
class CheckoutFunnel:
    """Checkout sessions opened in the period and how far they got; trials started in the period
    and how many turned into a paid subscription (so far); coupon redemptions in the period.

    Converted = the trial's subscription has a paid invoice for a period starting at or after
    its trial end (the billing clock's first charge, or a dunning retry that paid it later). The
    `subscription.trial_converted` event is not used: it is written when the conversion is
    attempted, a declined card included. A trial still running is neither converted nor not."""

    opened: int
    email_given: int  # the visitor gave an email (or a staff link carried one)
    paid: int  # completed
    paid_percent: str  # paid ÷ opened
    trials_started: int
    trials_converted: int
    trials_running: int  # still trialing now
    trial_conversion_percent: str  # converted ÷ (started - running): over trials that ended
    redemptions: int
    by_coupon: list[CouponCount]  # most redeemed first


def checkout_funnel(session: Session, merchant_id: int, months: Sequence[Month]) -> CheckoutFunnel:
    """The checkout funnel of sessions, trials and redemptions since the first month's start
    (three queries and one grouped count). The preview stand-in's trials and redemptions are
    left out; checkout sessions are visitors', never the stand-in's."""
    since, until = months[0].start, months[-1].end
    opened, email_given, paid = session.execute(
        sa.select(
            sa.func.count(CheckoutSession.id),
            sa.func.count(CheckoutSession.email_given_at),
            sa.func.coalesce(
                sa.func.sum(
                    sa.case((CheckoutSession.status == CheckoutStatus.COMPLETED, 1), else_=0)
                ),
                0,
            ),
        ).where(
            CheckoutSession.merchant_id == merchant_id,
            CheckoutSession.created_at >= since,
            CheckoutSession.created_at < until,
        )
    ).one()
    converted_invoice = (
        sa.select(Invoice.id)
        .where(
            Invoice.subscription_id == Subscription.id,
            Invoice.status == InvoiceStatus.PAID,
            Invoice.period_start >= Subscription.trial_end,
        )
        .exists()
    )
    started, converted, running = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((converted_invoice, 1), else_=0)), 0),
            sa.func.coalesce(
                sa.func.sum(
                    sa.case((Subscription.status == SubscriptionStatus.TRIALING, 1), else_=0)
                ),
                0,
            ),
        )
        .select_from(TrialUse)
        .join(Subscription, Subscription.id == TrialUse.subscription_id)
        .where(
            Subscription.merchant_id == merchant_id,
            not_preview(TrialUse.customer_id, merchant_id),
            TrialUse.started_at >= since,
            TrialUse.started_at < until,
        )
    ).one()
    by_coupon = [
        CouponCount(name, int(count))
        for name, count in session.execute(
            sa.select(Coupon.name, sa.func.count(CouponRedemption.id))
            .join(Coupon, Coupon.id == CouponRedemption.coupon_id)
            .where(
                CouponRedemption.merchant_id == merchant_id,
                not_preview(CouponRedemption.customer_id, merchant_id),
                CouponRedemption.created_at >= since,
                CouponRedemption.created_at < until,
            )
            .group_by(Coupon.id, Coupon.name)
            .order_by(sa.func.count(CouponRedemption.id).desc(), Coupon.name)
        ).all()
    ]
    started, converted, running = int(started), int(converted), int(running)
    return CheckoutFunnel(
        opened=int(opened),
        email_given=int(email_given),
        paid=int(paid),
        paid_percent=cancellation_stats._percent(int(paid), int(opened)),
        trials_started=started,
        trials_converted=converted,
        trials_running=running,
        trial_conversion_percent=cancellation_stats._percent(converted, started - running),
        redemptions=sum(c.redemptions for c in by_coupon),
        by_coupon=by_coupon,
    )


# --- everything for the dashboard ---------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    months: list[Month]
    mrr: list[MrrSeries]
    movements: list[MonthMovement]
    pauses: list[MonthPauses]
    retention: Retention
    checkout: CheckoutFunnel
    reason_labels: dict[str, str] = field(default_factory=dict)  # survey reason → its wording


def overview(
    session: Session, merchant_id: int, clock: Clock, count: int = DEFAULT_MONTHS
) -> Overview:
    """All the analytics of the last `count` months up to the clock's now."""
    months = recent_months(clock, count)
    found = retention(session, merchant_id, months)
    settings = features.load(session, merchant_id)
    return Overview(
        months=months,
        mrr=mrr(session, merchant_id, months),
        movements=movements(session, merchant_id, months),
        pauses=pauses(session, merchant_id, months),
        retention=found,
        checkout=checkout_funnel(session, merchant_id, months),
        reason_labels={r.reason: features.reason_label(settings, r.reason) for r in found.reasons},
    )


__all__ = [
    "CheckoutFunnel",
    "CouponCount",
    "Month",
    "MonthMovement",
    "MonthPauses",
    "MrrPoint",
    "MrrSeries",
    "Overview",
    "ReasonCount",
    "Retention",
    "RetentionFunnel",
    "checkout_funnel",
    "monthly_amount",
    "months_until",
    "movements",
    "mrr",
    "overview",
    "pauses",
    "recent_months",
    "retention",
]
