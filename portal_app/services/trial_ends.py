"""Free trials as the billing clock meets them: which trials are due a notice or their end, the
notice three days before (with what will be charged, to which card), what the conversion comes to,
and the mail when a trial ends without a card. The conversion itself is a
renewal (billing_clock)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock, FixedClock
from portal_app.models import Customer, Subscription, SubscriptionStatus
from portal_app.money import format_money
from portal_app.services import coupons, mailer, payment_methods, webhook_events
from portal_app.services.catalog import price_info
from portal_app.services.subscriptions import discount_amount

# The trial-ending notice goes this long before the trial's end.
NOTICE_BEFORE = timedelta(days=3)


def notices_due(now):
    """Trials ending within NOTICE_BEFORE whose notice is not sent (a range of
    ix_subscription_due; a trial already over at `now` converts without a late notice, and one
    set to cancel gets none: nothing will be charged)."""
    return (
        Subscription.id,
        Subscription.status == SubscriptionStatus.TRIALING,
        sa.and_(
            Subscription.current_period_end > now,
            Subscription.current_period_end <= now + NOTICE_BEFORE,
            Subscription.trial_notice_sent.is_(False),
            Subscription.cancel_at_period_end.is_(False),
        ),
    )


def ends_due(now):
    return (
        Subscription.id,
        Subscription.status == SubscriptionStatus.TRIALING,
        Subscription.current_period_end <= now,
    )


def notice(session: Session, subscription_id: int, now: datetime) -> bool:
    """The trial-ending notice (kind renewal_notice: the merchant's toggle and the customer's
    preference decide), claimed once by a conditional UPDATE of `trial_notice_sent` so two
    overlapping runs send one; dated NOTICE_BEFORE before the trial's end. True if mailed."""
    claimed = session.execute(
        sa.update(Subscription)
        .where(
            Subscription.id == subscription_id,
            Subscription.status == SubscriptionStatus.TRIALING,
            Subscription.trial_notice_sent.is_(False),
        )
        .values(trial_notice_sent=True)
    )
    if claimed.rowcount != 1:
        return False
    subscription = session.get(Subscription, subscription_id)
    end = subscription.current_period_end
    at = min(max(end - NOTICE_BEFORE, subscription.current_period_start), now)
    webhook_events.emit(
        session,
        at,
        merchant_id=subscription.merchant_id,
        type_="subscription.trial_will_end",
        kind="subscription",
        object_ids=[subscription.id],
        customer_of={subscription.id: subscription.customer_id},
    )
    info = price_info(session, subscription.merchant_id, subscription.price_id)
    customer = session.get(Customer, subscription.customer_id)
    card = payment_methods.default_card(session, customer.id)
    amount = conversion_amount(session, subscription, info)
    ends = formatting.date(end)
    if card is not None or amount == 0:
        paid_by = f" to {payment_methods.card_label(card.brand, card.last4)}" if card else ""
        then = (
            f"From then it continues at {formatting.price_of(info.price)}: we will charge "
            f"{format_money(amount, info.price.currency)}{paid_by} on {ends}. To stop before "
            "then, cancel in your billing portal and nothing will be charged."
        )
    else:
        then = (
            "You have no card on file, so your subscription will end with the trial. To keep "
            "it, add a card in your billing portal before then."
        )
    queued = mailer.queue(
        session,
        FixedClock(at),
        customer=customer,
        kind="renewal_notice",
        subject=f"Your free trial of {info.label} ends on {ends}",
        body=f"Your free trial of {info.label} ends on {ends}. {then}",
    )
    return queued is not None


def conversion_amount(session: Session, subscription: Subscription, info) -> int:
    """What the trial's conversion invoice comes to before account credit, as `_renew` bills
    it: the price less the checkout's coupon, then less a retention discount (never below 0)."""
    price, currency = info.price.amount, info.price.currency
    left = price - coupons.renewal_discount(
        session, subscription, plan_id=subscription.plan_id, amount=price, currency=currency
    )
    if subscription.discount_cycles_remaining > 0 and subscription.discount_percent:
        left -= min(discount_amount(price, subscription.discount_percent), left)
    return left


def ended_mail(session: Session, clock: Clock, subscription: Subscription, label: str) -> None:
    """A trial ended (at the clock's now) for want of a card: nothing was charged, and how to
    continue."""
    ended = formatting.date(clock.now())
    mailer.queue(
        session,
        clock,
        customer=session.get(Customer, subscription.customer_id),
        kind="trial_ended",
        subject=f"Your free trial of {label} has ended",
        body=(
            f"Your free trial of {label} ended on {ended}. There was no card on "
            "file, so your subscription ended with it and nothing was charged. To "
            "continue, add a card in your billing portal and subscribe again."
        ),
    )
