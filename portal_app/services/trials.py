"""Free trials: how many days a customer gets on a plan, and starting one. One trial per customer
and plan family (product), held by TrialUse's primary key, so cancelling and subscribing again
(or two checkouts at once) never gives a second trial. The billing clock converts or ends a
trial at its end (services/billing_clock.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.db import insert_skipping_conflicts
from portal_app.models import Plan, Subscription, SubscriptionStatus, TrialUse
from portal_app.services.errors import TrialError

TRIAL_USED = "You have already had a free trial of this plan."


def trial_days_for(
    session: Session, *, customer_id: int | None, plan: Plan, override: int | None
) -> int:
    """`override` (a checkout's own trial, 0 = none) or else the plan's trial days; 0 when the
    customer already had a trial of this plan's product."""
    days = plan.trial_days if override is None else override
    if days <= 0:
        return 0
    if customer_id is not None and session.get(TrialUse, (customer_id, plan.product_id)):
        return 0
    return days


def start(
    session: Session, clock: Clock, *, subscription: Subscription, plan: Plan, days: int
) -> None:
    """Put a flushed subscription row on a trial of `days` from now, in the caller's transaction.
    The TrialUse row is inserted with ON CONFLICT DO NOTHING: a second trial of the same product
    (one already committed, or a concurrent checkout's, which this insert waits for) inserts
    nothing and is refused with TrialError(code="trial_used"); the caller's transaction then
    rolls back."""
    if days <= 0:
        raise TrialError("A trial lasts at least one day.", code="trial_days")
    if subscription.id is None:
        raise TrialError("The subscription must be saved before its trial starts.")
    now = clock.now()
    table = TrialUse.__table__
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT run by the ORM.
    inserted = session.execute(
        insert_skipping_conflicts(session, table)
        .values(
            customer_id=subscription.customer_id,
            product_id=plan.product_id,
            subscription_id=subscription.id,
            started_at=now,
        )
        .returning(table.c.customer_id)
    ).first()
    if inserted is None:
        raise TrialError(TRIAL_USED, code="trial_used")
    end = now + timedelta(days=days)
    subscription.status = SubscriptionStatus.TRIALING
    subscription.current_period_start = now
    subscription.current_period_end = end
    subscription.trial_end = end
    subscription.trial_notice_sent = False
    session.add(subscription)


def status_label(trial_end: datetime | None) -> str:
    """What the customer reads for a trialing subscription: "Trial — ends on 05 Mar 2026"."""
    return f"Trial — ends on {formatting.date(trial_end)}"


__all__ = ["TRIAL_USED", "start", "status_label", "trial_days_for"]
