"""The subscription lifecycle: create, pause and resume, cancel and reactivate (plan and
billing-cycle changes are in `plan_changes`). Every change is a recorded change (`changing`) that
bumps `version` with a conditional UPDATE, so of two concurrent changes one wins and the other
gets a clear conflict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from fractions import Fraction

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import (
    Customer,
    ScheduledChange,
    Subscription,
    SubscriptionStatus,
)
from portal_app.money import round_half_even
from portal_app.services import audit, features, invoices, payment_methods, queries
from portal_app.services.catalog import PriceInfo, period_end, price_info
from portal_app.services.errors import (
    ConcurrentChange,
    NotFound,
    PaymentError,
    SubscriptionError,
)
from portal_app.services.gateway import PaymentGateway


def get_for_customer(session: Session, customer_id: int, subscription_id: int) -> Subscription:
    return queries.get_for_customer(
        session, Subscription, customer_id, subscription_id, "Subscription"
    )


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


def drop_pending_change(session: Session, subscription_id: int) -> None:
    """A new change or a cancellation replaces the change scheduled for period end, if any."""
    change = pending_change(session, subscription_id)
    if change is not None:
        change.status = "canceled"
        session.add(change)


def conflict() -> ConcurrentChange:
    return ConcurrentChange(
        "This subscription was just changed somewhere else. Reload and try again."
    )


def claim(session: Session, subscription: Subscription, expected_version: int | None) -> None:
    """Move `version` on without recording an event (the event is another row's change)."""
    audit.claim_version(session, subscription, expected_version, conflict)


def _snapshot(subscription: Subscription) -> dict:
    return {
        "status": subscription.status,
        "price_id": subscription.price_id,
        "period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "resume_at": subscription.resume_at,
    }


def changing(
    session: Session,
    clock: Clock,
    subscription: Subscription,
    actor: audit.Actor,
    action: str,
    expected_version: int | None = None,
    *,
    claim: bool = True,
    snapshot: Callable[[Subscription], dict] | None = _snapshot,
    before: dict | None = None,
):
    """A recorded change of a subscription: its version claimed (from `expected_version`, the
    version a preview was computed on, when given; not at all with `claim=False`, when an
    earlier change in the same transaction claimed it) and its snapshot before and after. The
    billing clock's events pass `snapshot=None` and set `before` / `change.after` themselves."""
    return audit.changing(
        session,
        clock,
        subscription,
        actor=actor,
        action=action,
        snapshot=snapshot,
        before=before,
        claim=(True if expected_version is None else expected_version) if claim else None,
        refuse=conflict,
        target_type="subscription",
    )


def charge_now(
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


def credit_lines(customer: Customer, lines: list[invoices.LineSpec]) -> list[invoices.LineSpec]:
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
    discount_lines: Sequence[invoices.LineSpec] = (),
    obligation: str | None = None,
) -> Subscription:
    """A new subscription billed for its first period now. `discount_lines` (a checkout's
    coupon) reduce that first invoice; `obligation` keys its charge when the caller has a
    stable identity for it (a checkout session's id), see invoices.charge_key."""
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
    # A new row: nothing to claim, and no "before" (so the snapshot is taken by hand, after).
    with changing(
        session, clock, subscription, actor, "subscription.create", claim=False, snapshot=None
    ) as change:
        session.add(subscription)
        session.flush()
        # A new subscription has no identity that outlives a crash (its id is new at every
        # try), so without an `obligation` its first charge is keyed by its invoice: signing up
        # again is a new request.
        _bill_new_period(
            session,
            clock,
            gateway,
            customer,
            subscription,
            info,
            actor,
            obligation=obligation,
            discount_lines=discount_lines,
        )
        change.after = _snapshot(subscription)
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
    discount_lines: Sequence[invoices.LineSpec] = (),
) -> None:
    """Charge a whole new period (start or restart), spending account credit first."""
    start, end = subscription.current_period_start, subscription.current_period_end
    lines = credit_lines(
        customer,
        [
            invoices.LineSpec("subscription", info.label, info.price.amount, start, end),
            *discount_lines,
        ],
    )
    spend_credit(session, customer, lines)
    charge_now(
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


def spend_credit(session: Session, customer: Customer, lines: list[invoices.LineSpec]) -> None:
    used = -sum(line.amount for line in lines if line.kind == "credit")
    if used:
        customer.credit_balance -= used
        session.add(customer)


# --- prices with a retention discount ------------------------------------------------------


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
    if subscription.status == SubscriptionStatus.TRIALING:
        raise SubscriptionError("You can pause once your trial has ended.", code="trialing")
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise SubscriptionError("Only an active subscription can be paused.")
    if subscription.cancel_at_period_end:
        raise SubscriptionError("This subscription is set to cancel. Reactivate it first.")
    now = clock.now()
    max_days = settings["pause.max_days"]
    if resume_at is None:
        if not settings.enabled("pause.allow_open_ended"):
            raise SubscriptionError(
                "Choose the date your subscription should resume.", code="resume_date_required"
            )
    else:
        if resume_at <= now:
            raise SubscriptionError(
                "The resume date must be in the future.", code="resume_date_past"
            )
        if resume_at > now + timedelta(days=max_days):
            raise SubscriptionError(
                f"A pause can last at most {max_days} days.", code="pause_too_long"
            )
    with changing(session, clock, subscription, actor, "subscription.pause"):
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
    with changing(session, clock, subscription, actor, "subscription.resume"):
        paused_for = max(at - subscription.paused_at, timedelta(0))
        subscription.current_period_start += paused_for
        subscription.current_period_end += paused_for
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.paused_at = None
        subscription.resume_at = None
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
    subscription has no running period, so it ends now. A trial ends at its end (no charge)
    unless the customer asks for now (`at_period_end=False`), whatever the mode."""
    subscription = get_for_customer(session, customer_id, subscription_id)
    settings = features.require_feature(session, subscription.merchant_id, "subscriptions.cancel")
    if subscription.status == SubscriptionStatus.CANCELED:
        raise SubscriptionError("This subscription has already ended.")
    mode = settings["cancel.mode"]
    if subscription.status == SubscriptionStatus.TRIALING:
        # Nothing is charged either way, whatever `cancel.mode` says: by default the trial runs
        # to its end; "cancel now" ends it now.
        at_end = True if at_period_end is None else at_period_end
    elif mode == "customer_choice":
        at_end = True if at_period_end is None else at_period_end
    else:
        at_end = mode == "period_end"
        if at_period_end is not None and at_period_end != at_end:
            words = "at the end of the billing period" if at_end else "immediately"
            raise SubscriptionError(f"Cancellations take effect {words}.", code="cancel_mode")
    if subscription.status == SubscriptionStatus.PAUSED:
        at_end = False
    if at_end and subscription.cancel_at_period_end:
        raise SubscriptionError("This subscription is already set to cancel.")
    action = "subscription.cancel" if not at_end else "subscription.cancel_scheduled"
    with changing(session, clock, subscription, actor, action):
        now = clock.now()
        subscription.canceled_at = now
        if at_end:
            subscription.cancel_at_period_end = True
        else:
            end_now(session, subscription, now)
        drop_pending_change(session, subscription.id)
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
    if subscription.cancel_at_period_end and subscription.status != SubscriptionStatus.CANCELED:
        with changing(session, clock, subscription, actor, "subscription.uncancel"):
            subscription.cancel_at_period_end = False
            subscription.canceled_at = None
        return subscription
    if subscription.status != SubscriptionStatus.CANCELED:
        raise SubscriptionError("This subscription is not canceled.")
    if not settings.enabled("reactivate.after_cancel"):
        raise SubscriptionError(
            "An ended subscription cannot be restarted here.", code="restart_disabled"
        )
    info = price_info(session, subscription.merchant_id, subscription.price_id)
    if not (info.price.active and info.plan.active):
        raise SubscriptionError("This plan is no longer offered. Choose another plan.")
    with changing(session, clock, subscription, actor, "subscription.restart"):
        now = clock.now()
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.current_period_start = now
        subscription.current_period_end = period_end(now, info.price.interval)
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
    return subscription


__all__ = [
    "PriceInfo",
    "cancel",
    "create",
    "get_for_customer",
    "pause",
    "reactivate",
    "resume",
]
