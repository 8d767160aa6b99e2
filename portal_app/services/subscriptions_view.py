"""What the subscriptions page shows: the customer's subscriptions as display rows, and the
prices one of them could move to (read-only; `state/subscriptions.py` calls these with
`read(...)`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.services import (
    cancellation,
    catalog,
    features,
    plan_changes,
    subscriptions,
    trials,
)

# What the customer reads for each stored status (one spelling: "cancelled", as in every message).
STATUS_LABELS = {
    "active": "Active",
    "trialing": "Trial",
    "paused": "Paused",
    "past_due": "Past due",
    "canceled": "Cancelled",
}


@dataclass
class SubscriptionRow:
    id: str = ""
    plan: str = ""
    price: str = ""
    status: str = ""
    status_label: str = ""
    period_end: str = ""
    canceling: str = ""  # "yes" when it ends at the period's end
    resume_at: str = ""
    pending: str = ""  # the scheduled change, in words
    discount: str = ""


@dataclass
class PlanOption:
    price_id: str = ""
    label: str = ""
    amount: str = ""
    direction: str = ""


def subscription_rows(session: Session, clock: Clock, *, customer_id: int) -> list[SubscriptionRow]:
    rows = []
    for sub in subscriptions.list_for_customer(session, customer_id):
        info = catalog.price_info(session, sub.merchant_id, sub.price_id)
        change = subscriptions.pending_change(session, sub.id)
        pending = ""
        if change is not None:
            new = catalog.price_info(session, sub.merchant_id, change.new_price_id)
            pending = f"Changes to {new.label} on {formatting.date(change.effective_at)}"
        rows.append(
            SubscriptionRow(
                id=str(sub.id),
                plan=info.label,
                price=formatting.price_of(info.price),
                status=sub.status,
                status_label=_status_label(sub),
                period_end=formatting.date(sub.current_period_end),
                canceling="yes" if sub.cancel_at_period_end else "",
                resume_at=formatting.date(sub.resume_at),
                pending=pending,
                discount=f"{sub.discount_percent}% off for {sub.discount_cycles_remaining}"
                " more renewals"
                if sub.discount_cycles_remaining
                else "",
            )
        )
    return rows


def _status_label(sub) -> str:
    if sub.status == "trialing":
        return trials.status_label(sub.trial_end or sub.current_period_end)
    return STATUS_LABELS.get(sub.status, sub.status)


def change_options(
    session: Session, clock: Clock, *, customer_id: int, subscription_id: int
) -> list[PlanOption]:
    """Prices the subscription could move to (same product, active, same currency, a kind of
    change the merchant offers)."""
    sub = subscriptions.get_for_customer(session, customer_id, subscription_id)
    current_info = catalog.price_info(session, sub.merchant_id, sub.price_id)
    settings = features.load(session, sub.merchant_id)
    options = []
    for info in catalog.active_prices(session, sub.merchant_id):
        if info.price.id == sub.price_id:
            continue
        if info.plan.product_id != current_info.plan.product_id:
            continue
        if info.price.currency != current_info.price.currency:
            continue
        direction = catalog.direction(current_info, info)
        needed = [plan_changes.DIRECTION_FEATURE[direction]]
        if direction != "interval" and info.price.interval != current_info.price.interval:
            needed.append("subscriptions.change_interval")
        if not all(settings.enabled(key) for key in needed):
            continue  # the merchant does not offer this kind of change
        options.append(
            PlanOption(
                price_id=str(info.price.id),
                label=info.label,
                amount=formatting.price_of(info.price),
                direction=direction,
            )
        )
    return options


def cancel_directly(
    session: Session, clock: Clock, *, customer_id: int, subscription_id: int, actor
) -> bool:
    """`cancellation.cancel_directly` (at the merchant's default time) and whether the
    subscription ended now (rather than at the period's end), in one unit of work."""
    cancellation.cancel_directly(
        session,
        clock,
        customer_id=customer_id,
        subscription_id=subscription_id,
        at_period_end=None,
        actor=actor,
    )
    sub = subscriptions.get_for_customer(session, customer_id, subscription_id)
    return sub.status == "canceled"
