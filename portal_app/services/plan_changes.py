"""Plan and billing-cycle changes: the preview (what a change costs today and from the next
renewal, under the merchant's timing policy), applying it, and dropping a scheduled one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.models import Customer, ScheduledChange, Subscription, SubscriptionStatus
from portal_app.money import format_money
from portal_app.services import audit, coupons, features, invoices, proration, subscriptions
from portal_app.services.catalog import direction, period_end, price_info
from portal_app.services.errors import SubscriptionError
from portal_app.services.gateway import PaymentGateway
from portal_app.services.subscriptions import discounted_price, get_for_customer, pending_change

DIRECTION_FEATURE = {
    "upgrade": "subscriptions.upgrade",
    "downgrade": "subscriptions.downgrade",
    "interval": "subscriptions.change_interval",
}
DIRECTION_TIMING = {
    "upgrade": "plan_change.upgrade_timing",
    "downgrade": "plan_change.downgrade_timing",
    "interval": "plan_change.interval_timing",
}
DEFAULT_CHOICE = {"upgrade": "immediate", "downgrade": "period_end", "interval": "immediate"}


@dataclass(frozen=True)
class ChangePreview:
    subscription_id: int
    version: int
    direction: str
    from_label: str
    to_label: str
    new_price_id: int
    timing: str  # immediate | period_end
    allowed_timings: tuple[str, ...]
    currency: str
    lines: list[invoices.LineSpec] = field(default_factory=list)
    amount_due_now: int = 0
    credit_added: int = 0  # goes to the customer's balance when the change nets negative
    effective_at: datetime | None = None
    next_renewal_at: datetime | None = None
    next_renewal_amount: int = 0
    next_interval: str = "month"

    def summary(self) -> str:
        when = formatting.date(self.next_renewal_at)
        recurring = f"{format_money(self.next_renewal_amount, self.currency)}/{self.next_interval}"
        if self.timing == "period_end":
            return f"Nothing to pay today; from {when} {recurring}."
        today = f"You will be charged {format_money(self.amount_due_now, self.currency)} today"
        if self.credit_added:
            today = f"You will receive {format_money(self.credit_added, self.currency)} of credit"
        return f"{today}; from {when} {recurring}."


def _check_changeable(subscription: Subscription) -> None:
    if subscription.status == SubscriptionStatus.TRIALING:
        raise SubscriptionError("You can change plans once your trial has ended.", code="trialing")
    if subscription.status == SubscriptionStatus.PAUSED:
        raise SubscriptionError("Resume this subscription before changing its plan.")
    if subscription.status == SubscriptionStatus.PAST_DUE:
        raise SubscriptionError("Pay the open invoice before changing this plan.")
    if subscription.status == SubscriptionStatus.CANCELED:
        raise SubscriptionError("This subscription has ended.")
    if subscription.cancel_at_period_end:
        raise SubscriptionError("This subscription is set to cancel. Reactivate it first.")


def _resolve_timing(
    settings: features.FeatureSet, change_direction: str, requested: str | None
) -> tuple[str, tuple[str, ...]]:
    policy = settings[DIRECTION_TIMING[change_direction]]
    if policy == "customer_choice":
        allowed = ("immediate", "period_end")
        timing = requested or DEFAULT_CHOICE[change_direction]
    else:
        allowed = (policy,)
        timing = requested or policy
    if timing not in allowed:
        words = "immediately" if allowed == ("immediate",) else "at the end of the period"
        raise SubscriptionError(
            f"This change can only take effect {words}.", code="timing_not_allowed"
        )
    return timing, allowed


def preview_change(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    subscription_id: int,
    new_price_id: int,
    timing: str | None = None,
) -> ChangePreview:
    """Exactly what `change_plan` will do, computed without changing anything."""
    subscription = get_for_customer(session, customer_id, subscription_id)
    _check_changeable(subscription)
    customer = session.get(Customer, customer_id)
    old = price_info(session, subscription.merchant_id, subscription.price_id)
    new = price_info(session, subscription.merchant_id, new_price_id)
    if not (new.price.active and new.plan.active):
        raise SubscriptionError("That plan is no longer offered.")
    if new.price.currency != old.price.currency:
        raise SubscriptionError("That plan is billed in another currency.")
    change_direction = direction(old, new)
    if change_direction == "same":
        raise SubscriptionError("You are already on this plan.")
    if change_direction == "other_product":
        raise SubscriptionError("You can only switch between plans of the same product.")
    settings = features.load(session, subscription.merchant_id)
    features.require(settings, DIRECTION_FEATURE[change_direction])
    interval_changes = new.price.interval != old.price.interval
    if interval_changes and change_direction != "interval":
        features.require(settings, "subscriptions.change_interval")
    timing, allowed = _resolve_timing(settings, change_direction, timing)
    now = clock.now()
    common = dict(
        subscription_id=subscription.id,
        version=subscription.version,
        direction=change_direction,
        from_label=old.label,
        to_label=new.label,
        new_price_id=new.price.id,
        timing=timing,
        allowed_timings=allowed,
        currency=new.price.currency,
        next_interval=new.price.interval,
    )
    if timing == "period_end":
        return ChangePreview(
            **common,
            effective_at=subscription.current_period_end,
            next_renewal_at=subscription.current_period_end,
            next_renewal_amount=_renewal_amount(session, subscription, new),
        )
    # Prorated on what the customer pays: both rates less the subscription's coupon, the new
    # one only if the coupon covers the new plan (an interval change's new period uses one of
    # the coupon's invoices).
    coupon = coupons.active_coupon(session, subscription)
    old_off, old_name = _with_coupon(session, subscription, coupon, old)
    new_off, new_name = _with_coupon(session, subscription, coupon, new)
    used_now = 1 if interval_changes and _covers(coupon, new) else 0
    period = dict(
        old_amount=old.price.amount - old_off,
        new_amount=new.price.amount - new_off,
        old_name=old_name,
        new_name=new_name,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        at=now,
    )
    if interval_changes:
        new_end = period_end(now, new.price.interval)
        raw = proration.interval_reset_change(**period, new_period_end=new_end)
    else:
        new_end = subscription.current_period_end
        raw = proration.same_period_change(**period)
    lines = [
        invoices.LineSpec(
            line.kind, line.description, line.amount, line.period_start, line.period_end
        )
        for line in raw
    ]
    net = sum(line.amount for line in lines)
    if net > 0:
        lines = subscriptions.credit_lines(customer, lines)
    total = sum(line.amount for line in lines)
    return ChangePreview(
        **common,
        lines=lines,
        amount_due_now=max(total, 0),
        credit_added=max(-total, 0),
        effective_at=now,
        next_renewal_at=new_end,
        next_renewal_amount=_renewal_amount(session, subscription, new, used_now),
    )


def _covers(coupon, info) -> bool:
    return coupon is not None and coupons.applies_to(coupon, plan_id=info.plan.id, product_id=None)


def _with_coupon(session: Session, subscription: Subscription, coupon, info) -> tuple[int, str]:
    """What the subscription's coupon takes off this price, and the price's name as the
    proration line shows it ("Pro (monthly) with SPRING20")."""
    if not _covers(coupon, info):
        return 0, info.label
    off = coupons.discount_off(coupon, info.price.amount, info.price.currency)
    if off == 0:
        return 0, info.label
    return off, f"{info.label} with {coupons.code_of(session, subscription, coupon)}"


def _renewal_amount(session: Session, subscription: Subscription, new, used_now: int = 0) -> int:
    """The next renewal on `new`: the price less the coupon (if it still covers it then) and the
    retention discount, as billing_clock._renew bills it."""
    off = coupons.renewal_discount(
        session,
        subscription,
        plan_id=new.plan.id,
        amount=new.price.amount,
        currency=new.price.currency,
        used_now=used_now,
    )
    return max(discounted_price(subscription, new.price.amount) - off, 0)


def _carry_coupon(session: Session, subscription: Subscription, new, interval_changes: bool):
    """After an immediate change: a coupon that does not cover the new plan ends; one that does
    counts the new period an interval change started."""
    coupon = coupons.active_coupon(session, subscription)
    if coupon is None:
        return
    if not _covers(coupon, new):
        subscription.coupon_id = None
        subscription.coupon_cycles_remaining = 0
    elif interval_changes:
        coupons.use_one(subscription, coupon)


@dataclass(frozen=True)
class ChangeResult:
    preview: ChangePreview
    invoice_id: int | None = None
    scheduled_change_id: int | None = None


def change_plan(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    subscription_id: int,
    new_price_id: int,
    timing: str | None = None,
    expected_version: int | None = None,
    actor: audit.Actor,
) -> ChangeResult:
    """Apply a previewed change. With `expected_version` from the preview, a change made elsewhere
    in between is refused instead of silently applying different amounts."""
    preview = preview_change(
        session,
        clock,
        customer_id=customer_id,
        subscription_id=subscription_id,
        new_price_id=new_price_id,
        timing=timing,
    )
    subscription = get_for_customer(session, customer_id, subscription_id)
    old_price = price_info(session, subscription.merchant_id, subscription.price_id).price
    new = price_info(session, subscription.merchant_id, new_price_id)
    if preview.timing == "period_end":
        with subscriptions.changing(
            session, clock, subscription, actor, "subscription.change_scheduled", expected_version
        ) as change:
            subscriptions.drop_pending_change(session, subscription.id)
            scheduled = ScheduledChange(
                subscription_id=subscription.id,
                new_price_id=new.price.id,
                effective_at=subscription.current_period_end,
                created_at=clock.now(),
            )
            session.add(scheduled)
            session.flush()
            change.after = {"price_id": new.price.id, "effective_at": scheduled.effective_at}
        return ChangeResult(preview, scheduled_change_id=scheduled.id)

    action = f"subscription.{preview.direction}"
    with subscriptions.changing(
        session, clock, subscription, actor, action, expected_version
    ) as change:
        subscriptions.drop_pending_change(session, subscription.id)
        customer = session.get(Customer, customer_id)
        invoice_id = None
        if preview.amount_due_now > 0:
            subscriptions.spend_credit(session, customer, preview.lines)
            invoice_id = subscriptions.charge_now(
                session,
                clock,
                gateway,
                customer=customer,
                subscription=subscription,
                lines=preview.lines,
                currency=preview.currency,
                billing_reason="subscription_update",
                actor=actor,
                period_start=preview.effective_at,
                period_end_at=preview.next_renewal_at,
                obligation=invoices.version_obligation(subscription.id, subscription.version),
            )
        elif preview.credit_added > 0:
            customer.credit_balance += preview.credit_added
            session.add(customer)
        _carry_coupon(session, subscription, new, new.price.interval != old_price.interval)
        if new.price.interval != old_price.interval:
            subscription.current_period_start = preview.effective_at
            subscription.current_period_end = preview.next_renewal_at
        subscription.price_id = new.price.id
        subscription.plan_id = new.plan.id
        change.extra.update(charged=preview.amount_due_now, credited=preview.credit_added)
    return ChangeResult(preview, invoice_id=invoice_id)


def cancel_scheduled_change(
    session: Session, clock: Clock, *, customer_id: int, subscription_id: int, actor: audit.Actor
) -> None:
    subscription = get_for_customer(session, customer_id, subscription_id)
    scheduled = pending_change(session, subscription.id)
    if scheduled is None:
        raise SubscriptionError("There is no scheduled change to cancel.")
    with subscriptions.changing(
        session,
        clock,
        subscription,
        actor,
        "subscription.change_unscheduled",
        snapshot=None,
        before={"price_id": scheduled.new_price_id},
    ):
        scheduled.status = "canceled"
        session.add(scheduled)
