"""The subscription lifecycle: create, preview and change plan or billing cycle (with the merchant's
timing policy), pause and resume, cancel and reactivate. Every change bumps `version` with a
conditional UPDATE, so of two concurrent changes one wins and the other gets a clear conflict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import (
    Customer,
    ScheduledChange,
    Subscription,
    SubscriptionStatus,
)
from portal_app.money import format_money, round_half_even
from portal_app.services import audit, features, invoices, payment_methods, proration
from portal_app.services.catalog import PriceInfo, direction, period_end, price_info
from portal_app.services.errors import (
    ConcurrentChange,
    NotFound,
    PaymentError,
    SubscriptionError,
)
from portal_app.services.gateway import PaymentGateway

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


def get_for_customer(session: Session, customer_id: int, subscription_id: int) -> Subscription:
    subscription = session.exec(
        select(Subscription).where(
            Subscription.id == subscription_id, Subscription.customer_id == customer_id
        )
    ).first()
    if subscription is None:
        raise NotFound("Subscription not found.")
    return subscription


# How a customer's subscriptions are listed: live ones first, newest first.
LISTING_ORDER = (Subscription.status == SubscriptionStatus.CANCELED, Subscription.id.desc())


def list_for_customer(session: Session, customer_id: int) -> list[Subscription]:
    return list(
        session.exec(
            select(Subscription)
            .where(Subscription.customer_id == customer_id)
            .order_by(*LISTING_ORDER)
        )
    )


def pending_change(session: Session, subscription_id: int) -> ScheduledChange | None:
    return session.exec(
        select(ScheduledChange).where(
            ScheduledChange.subscription_id == subscription_id,
            ScheduledChange.status == "pending",
        )
    ).first()


def claim(session: Session, subscription: Subscription, expected_version: int | None) -> None:
    """Optimistic lock: only the transaction that moves `version` on may change the row."""
    expected = subscription.version if expected_version is None else expected_version
    result = session.execute(
        sa.update(Subscription)
        .where(Subscription.id == subscription.id, Subscription.version == expected)
        .values(version=expected + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(
            "This subscription was just changed somewhere else. Reload and try again."
        )
    session.refresh(subscription)


def _changing(
    session: Session,
    clock: Clock,
    subscription: Subscription,
    actor: audit.Actor,
    action: str,
    expected_version: int | None = None,
):
    """A recorded change of a subscription: its version claimed, its snapshot before/after."""
    return audit.changing(
        session,
        clock,
        subscription,
        actor=actor,
        action=action,
        snapshot=_snapshot,
        claim=True if expected_version is None else expected_version,
        refuse=lambda: ConcurrentChange(
            "This subscription was just changed somewhere else. Reload and try again."
        ),
    )


def _snapshot(subscription: Subscription) -> dict:
    return {
        "status": subscription.status,
        "price_id": subscription.price_id,
        "period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "resume_at": subscription.resume_at,
    }


def _charge_now(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer: Customer,
    subscription: Subscription,
    lines: list[invoices.LineSpec],
    currency: str,
    billing_reason: str,
    actor: audit.Actor,
    period_start: datetime | None = None,
    period_end_at: datetime | None = None,
    obligation: str | None = None,
) -> int | None:
    """Invoice and collect at once; a failed payment raises so the caller's change rolls back.
    `obligation` keys the charge (invoices.charge_key) for a change of an existing subscription."""
    invoice = invoices.create_draft(
        session,
        clock,
        customer=customer,
        currency=currency,
        lines=lines,
        billing_reason=billing_reason,
        subscription_id=subscription.id,
        period_start=period_start,
        period_end=period_end_at,
        apply_credit=False,
    )
    invoices.finalize(session, clock, invoice, actor)
    if invoice.status == "paid":
        return invoice.id
    card = payment_methods.default_card(session, customer.id)
    if card is None:
        raise PaymentError("Add a card before making this change.")
    outcome = invoices.collect(session, clock, gateway, invoice, card, actor, obligation=obligation)
    if not outcome.succeeded:
        raise PaymentError(f"{outcome.message} Nothing was changed.")
    return invoice.id


def _credit_lines(customer: Customer, lines: list[invoices.LineSpec]) -> list[invoices.LineSpec]:
    subtotal = sum(line.amount for line in lines)
    if customer.credit_balance > 0 and subtotal > 0:
        used = min(customer.credit_balance, subtotal)
        return [*lines, invoices.LineSpec("credit", "Applied account credit", -used)]
    return lines


# --- create -------------------------------------------------------------------------------------


def create(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    price_id: int,
    actor: audit.Actor,
) -> Subscription:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found.")
    info = price_info(session, customer.merchant_id, price_id)
    if not (info.price.active and info.plan.active):
        raise SubscriptionError("That plan is no longer offered.")
    now = clock.now()
    end = period_end(now, info.price.interval)
    subscription = Subscription(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        plan_id=info.plan.id,
        price_id=info.price.id,
        current_period_start=now,
        current_period_end=end,
        created_at=now,
    )
    session.add(subscription)
    session.flush()
    # A new subscription has no identity that outlives a crash (its id is new at every try), so
    # its first charge is keyed by its invoice: signing up again is a new request.
    _bill_new_period(session, clock, gateway, customer, subscription, info, actor)
    audit.record(
        session,
        clock,
        merchant_id=customer.merchant_id,
        actor=actor,
        action="subscription.create",
        target_type="subscription",
        target_id=subscription.id,
        customer_id=customer.id,
        after=_snapshot(subscription),
    )
    return subscription


def _bill_new_period(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    customer: Customer,
    subscription: Subscription,
    info: PriceInfo,
    actor: audit.Actor,
    obligation: str | None = None,
) -> None:
    """Charge a whole new period (start or restart), spending account credit first."""
    start, end = subscription.current_period_start, subscription.current_period_end
    lines = _credit_lines(
        customer, [invoices.LineSpec("subscription", info.label, info.price.amount, start, end)]
    )
    _spend_credit(session, customer, lines)
    _charge_now(
        session,
        clock,
        gateway,
        customer=customer,
        subscription=subscription,
        lines=lines,
        currency=info.price.currency,
        billing_reason="subscription_create",
        actor=actor,
        period_start=start,
        period_end_at=end,
        obligation=obligation,
    )


def _spend_credit(session: Session, customer: Customer, lines: list[invoices.LineSpec]) -> None:
    used = -sum(line.amount for line in lines if line.kind == "credit")
    if used:
        customer.credit_balance -= used
        session.add(customer)


# --- plan and billing-cycle changes -------------------------------------------------------------


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
        when = self.next_renewal_at.strftime("%d %b %Y") if self.next_renewal_at else ""
        recurring = f"{format_money(self.next_renewal_amount, self.currency)}/{self.next_interval}"
        if self.timing == "period_end":
            return f"Nothing to pay today; from {when} {recurring}."
        today = f"You will be charged {format_money(self.amount_due_now, self.currency)} today"
        if self.credit_added:
            today = f"You will receive {format_money(self.credit_added, self.currency)} of credit"
        return f"{today}; from {when} {recurring}."


def _check_changeable(subscription: Subscription) -> None:
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
        raise SubscriptionError(f"This change can only take effect {words}.")
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
            next_renewal_amount=discounted_price(subscription, new.price.amount),
        )
    if interval_changes:
        new_end = period_end(now, new.price.interval)
        raw = proration.interval_reset_change(
            old_amount=old.price.amount,
            new_amount=new.price.amount,
            old_name=old.label,
            new_name=new.label,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            at=now,
            new_period_end=new_end,
        )
    else:
        new_end = subscription.current_period_end
        raw = proration.same_period_change(
            old_amount=old.price.amount,
            new_amount=new.price.amount,
            old_name=old.label,
            new_name=new.label,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            at=now,
        )
    lines = [
        invoices.LineSpec(
            line.kind, line.description, line.amount, line.period_start, line.period_end
        )
        for line in raw
    ]
    net = sum(line.amount for line in lines)
    if net > 0:
        lines = _credit_lines(customer, lines)
    total = sum(line.amount for line in lines)
    return ChangePreview(
        **common,
        lines=lines,
        amount_due_now=max(total, 0),
        credit_added=max(-total, 0),
        effective_at=now,
        next_renewal_at=new_end,
        next_renewal_amount=discounted_price(subscription, new.price.amount),
    )


def discounted_price(subscription: Subscription, amount: int) -> int:
    """What the next renewal costs with the subscription's retention discount, if any."""
    return discounted_amount(
        amount, subscription.discount_percent, subscription.discount_cycles_remaining
    )


def discounted_amount(amount: int, percent: int, cycles_remaining: int) -> int:
    """`amount` less a retention discount of `percent` while cycles of it remain."""
    if cycles_remaining > 0 and percent:
        return amount - discount_amount(amount, percent)
    return amount


def discount_amount(amount: int, percent: int) -> int:
    return round_half_even(Fraction(amount * percent, 100))


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
    before = _snapshot(subscription)
    old_price = price_info(session, subscription.merchant_id, subscription.price_id).price
    claim(session, subscription, expected_version)
    existing = pending_change(session, subscription.id)
    if existing is not None:
        existing.status = "canceled"
        session.add(existing)
    new = price_info(session, subscription.merchant_id, new_price_id)
    if preview.timing == "period_end":
        scheduled = ScheduledChange(
            subscription_id=subscription.id,
            new_price_id=new.price.id,
            effective_at=subscription.current_period_end,
            created_at=clock.now(),
        )
        session.add(scheduled)
        session.flush()
        audit.record(
            session,
            clock,
            merchant_id=subscription.merchant_id,
            actor=actor,
            action="subscription.change_scheduled",
            target_type="subscription",
            target_id=subscription.id,
            customer_id=customer_id,
            before=before,
            after={"price_id": new.price.id, "effective_at": scheduled.effective_at},
        )
        return ChangeResult(preview, scheduled_change_id=scheduled.id)

    customer = session.get(Customer, customer_id)
    invoice_id = None
    if preview.amount_due_now > 0:
        _spend_credit(session, customer, preview.lines)
        invoice_id = _charge_now(
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
    if new.price.interval != old_price.interval:
        subscription.current_period_start = preview.effective_at
        subscription.current_period_end = preview.next_renewal_at
    subscription.price_id = new.price.id
    subscription.plan_id = new.plan.id
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=subscription.merchant_id,
        actor=actor,
        action=f"subscription.{preview.direction}",
        target_type="subscription",
        target_id=subscription.id,
        customer_id=customer_id,
        before=before,
        after={
            **_snapshot(subscription),
            "charged": preview.amount_due_now,
            "credited": preview.credit_added,
        },
    )
    return ChangeResult(preview, invoice_id=invoice_id)


def cancel_scheduled_change(
    session: Session, clock: Clock, *, customer_id: int, subscription_id: int, actor: audit.Actor
) -> None:
    subscription = get_for_customer(session, customer_id, subscription_id)
    change = pending_change(session, subscription.id)
    if change is None:
        raise SubscriptionError("There is no scheduled change to cancel.")
    claim(session, subscription, None)
    change.status = "canceled"
    session.add(change)
    audit.record(
        session,
        clock,
        merchant_id=subscription.merchant_id,
        actor=actor,
        action="subscription.change_unscheduled",
        target_type="subscription",
        target_id=subscription.id,
        customer_id=customer_id,
        before={"price_id": change.new_price_id},
    )


# --- pause and resume ---------------------------------------------------------------------------


def pause(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    subscription_id: int,
    resume_at: datetime | None,
    actor: audit.Actor,
) -> Subscription:
    """Billing stops now. The paid time left in the period is kept and given back on resume."""
    subscription = get_for_customer(session, customer_id, subscription_id)
    settings = features.require_feature(session, subscription.merchant_id, "subscriptions.pause")
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise SubscriptionError("Only an active subscription can be paused.")
    if subscription.cancel_at_period_end:
        raise SubscriptionError("This subscription is set to cancel. Reactivate it first.")
    now = clock.now()
    max_days = settings["pause.max_days"]
    if resume_at is None:
        if not settings.enabled("pause.allow_open_ended"):
            raise SubscriptionError("Choose the date your subscription should resume.")
    else:
        if resume_at <= now:
            raise SubscriptionError("The resume date must be in the future.")
        if resume_at > now + timedelta(days=max_days):
            raise SubscriptionError(f"A pause can last at most {max_days} days.")
    with _changing(session, clock, subscription, actor, "subscription.pause"):
        subscription.status = SubscriptionStatus.PAUSED
        subscription.paused_at = now
        subscription.resume_at = resume_at
    return subscription


def resume(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    subscription_id: int,
    actor: audit.Actor,
) -> Subscription:
    """Resume now. Not gated by `subscriptions.pause`: that toggle stops new pauses, and a
    customer paused before the merchant turned it off must not be stuck paused."""
    subscription = get_for_customer(session, customer_id, subscription_id)
    return resume_paused(session, clock, subscription, clock.now(), actor)


def resume_paused(
    session: Session, clock: Clock, subscription: Subscription, at: datetime, actor: audit.Actor
) -> Subscription:
    """End a pause at `at`: the period moves later by the paused time, keeping its length."""
    if subscription.status != SubscriptionStatus.PAUSED:
        raise SubscriptionError("This subscription is not paused.")
    before = _snapshot(subscription)
    claim(session, subscription, None)
    paused_for = max(at - subscription.paused_at, timedelta(0))
    subscription.current_period_start += paused_for
    subscription.current_period_end += paused_for
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.paused_at = None
    subscription.resume_at = None
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=subscription.merchant_id,
        actor=actor,
        action="subscription.resume",
        target_type="subscription",
        target_id=subscription.id,
        customer_id=subscription.customer_id,
        before=before,
        after=_snapshot(subscription),
    )
    return subscription


# --- cancel and reactivate ----------------------------------------------------------------------


def cancel(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    subscription_id: int,
    at_period_end: bool | None,
    actor: audit.Actor,
) -> Subscription:
    """Cancel now or at period end, as the merchant's `cancel.mode` allows. A paused
    subscription has no running period, so it ends now."""
    subscription = get_for_customer(session, customer_id, subscription_id)
    settings = features.require_feature(session, subscription.merchant_id, "subscriptions.cancel")
    if subscription.status == SubscriptionStatus.CANCELED:
        raise SubscriptionError("This subscription has already ended.")
    mode = settings["cancel.mode"]
    if mode == "customer_choice":
        at_end = True if at_period_end is None else at_period_end
    else:
        at_end = mode == "period_end"
        if at_period_end is not None and at_period_end != at_end:
            words = "at the end of the billing period" if at_end else "immediately"
            raise SubscriptionError(f"Cancellations take effect {words}.")
    if subscription.status == SubscriptionStatus.PAUSED:
        at_end = False
    if at_end and subscription.cancel_at_period_end:
        raise SubscriptionError("This subscription is already set to cancel.")
    before = _snapshot(subscription)
    claim(session, subscription, None)
    now = clock.now()
    subscription.canceled_at = now
    if at_end:
        subscription.cancel_at_period_end = True
    else:
        end_now(session, subscription, now)
    change = pending_change(session, subscription.id)
    if change is not None:
        change.status = "canceled"
        session.add(change)
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=subscription.merchant_id,
        actor=actor,
        action="subscription.cancel" if not at_end else "subscription.cancel_scheduled",
        target_type="subscription",
        target_id=subscription.id,
        customer_id=customer_id,
        before=before,
        after=_snapshot(subscription),
    )
    return subscription


def end_now(session: Session, subscription: Subscription, at: datetime) -> None:
    subscription.status = SubscriptionStatus.CANCELED
    subscription.cancel_at_period_end = False
    subscription.ended_at = at
    subscription.paused_at = None
    subscription.resume_at = None
    subscription.discount_percent = 0
    subscription.discount_cycles_remaining = 0


def reactivate(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    subscription_id: int,
    actor: audit.Actor,
) -> Subscription:
    """Undo a pending cancellation, or (if the merchant allows) restart an ended subscription
    with a new period that is paid now."""
    subscription = get_for_customer(session, customer_id, subscription_id)
    settings = features.require_feature(
        session, subscription.merchant_id, "subscriptions.reactivate"
    )
    before = _snapshot(subscription)
    if subscription.cancel_at_period_end and subscription.status != SubscriptionStatus.CANCELED:
        claim(session, subscription, None)
        subscription.cancel_at_period_end = False
        subscription.canceled_at = None
        action = "subscription.uncancel"
    elif subscription.status == SubscriptionStatus.CANCELED:
        if not settings.enabled("reactivate.after_cancel"):
            raise SubscriptionError("An ended subscription cannot be restarted here.")
        info = price_info(session, subscription.merchant_id, subscription.price_id)
        if not (info.price.active and info.plan.active):
            raise SubscriptionError("This plan is no longer offered. Choose another plan.")
        claim(session, subscription, None)
        now = clock.now()
        end = period_end(now, info.price.interval)
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.current_period_start = now
        subscription.current_period_end = end
        subscription.canceled_at = None
        subscription.ended_at = None
        customer = session.get(Customer, customer_id)
        _bill_new_period(
            session,
            clock,
            gateway,
            customer,
            subscription,
            info,
            actor,
            obligation=invoices.version_obligation(subscription.id, subscription.version),
        )
        action = "subscription.restart"
    else:
        raise SubscriptionError("This subscription is not canceled.")
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=subscription.merchant_id,
        actor=actor,
        action=action,
        target_type="subscription",
        target_id=subscription.id,
        customer_id=customer_id,
        before=before,
        after=_snapshot(subscription),
    )
    return subscription


__all__ = [
    "ChangePreview",
    "ChangeResult",
    "PriceInfo",
    "cancel",
    "cancel_scheduled_change",
    "change_plan",
    "create",
    "get_for_customer",
    "pause",
    "preview_change",
    "reactivate",
    "resume",
]
