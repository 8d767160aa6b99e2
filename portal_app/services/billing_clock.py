"""The billing clock: everything that happens because time passed. Renewals (invoice + charge),
scheduled changes and pending cancels at period end, pauses that end, payment retries, and free
trials (the notice three days before a trial ends, then its conversion to a paid period or its end),
and checkout sessions past their 24 hours (marked expired).

Work is found through indexes on (status, current_period_end), (status, resume_at) and
(status, next_retry_at), so a run costs what is due, not the size of the tables. Each item runs in
its own savepoint and each batch commits, so a run killed half-way can simply be run again: what
was committed is not due any more, and what was not left no trace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock, FixedClock, OffsetClock, SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.models import (
    Customer,
    Invoice,
    InvoiceStatus,
    Merchant,
    Subscription,
    SubscriptionStatus,
)
from portal_app.services import (
    audit,
    checkout,
    coupons,
    dunning,
    idempotency,
    invoices,
    payment_methods,
    renewals,
    subscriptions,
    trial_ends,
)
from portal_app.services.catalog import period_end, price_info
from portal_app.services.errors import PortalError
from portal_app.services.gateway import PaymentGateway
from portal_app.services.subscriptions import discount_amount, end_now, pending_change


@dataclass
class ClockReport:
    resumed: int = 0
    renewed: int = 0
    charged: int = 0
    payment_failed: int = 0
    changes_applied: int = 0
    ended: int = 0
    retried: int = 0
    recovered: int = 0
    gave_up: int = 0
    # Trials: a conversion is also a renewal (`renewed`, `charged` / `payment_failed`), a trial
    # that ends (cancelled, or no card) is also `ended`; `trial_notices` counts the mails queued.
    trials_converted: int = 0
    trials_ended: int = 0
    trial_notices: int = 0
    # Open checkout sessions marked expired (one UPDATE per run; not an item of the passes).
    checkouts_expired: int = 0
    # API idempotency records past 24 h, dropped by the cron run (by real time, not a test clock).
    idempotency_purged: int = 0
    errors: int = 0

    @property
    def items(self) -> int:
        return (
            self.resumed
            + self.renewed
            + self.ended
            + self.retried
            + self.trial_notices
            + self.errors
        )

    def add(self, other: ClockReport) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class DueWork:
    """The ids of every item due at one moment, by kind: one pass of the billing clock."""

    resumes: list[int] = field(default_factory=list)
    renewals: list[int] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)
    trial_notices: list[int] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def chunks(self, size: int) -> Iterator[DueWork]:
        longest = max(len(getattr(self, f.name)) for f in fields(self))
        for start in range(0, longest, size):
            yield DueWork(
                **{f.name: getattr(self, f.name)[start : start + size] for f in fields(self)}
            )


def due_work(session: Session, now: datetime, merchant_id: int | None = None) -> DueWork:
    """Everything due at `now`, read once per pass off the (status, time) indexes; batches then
    look their ids up by primary key, so a batch does not search the due range again for the
    next 500 rows past the ones earlier batches renewed."""
    return DueWork(
        resumes=_due(session, *_resumes_due(now), merchant_id),
        renewals=_due(session, *_renewals_due(now), merchant_id),
        retries=_due(session, *_retries_due(now), merchant_id, model=Invoice),
        trial_notices=_due(session, *trial_ends.notices_due(now), merchant_id),
        trials=_due(session, *trial_ends.ends_due(now), merchant_id),
    )


def _resumes_due(now):
    return (
        Subscription.id,
        Subscription.status == SubscriptionStatus.PAUSED,
        Subscription.resume_at <= now,
    )


def _renewals_due(now):
    return (
        Subscription.id,
        Subscription.status.in_(SubscriptionStatus.BILLABLE),
        Subscription.current_period_end <= now,
    )


def _retries_due(now):
    return (Invoice.id, Invoice.status == InvoiceStatus.OPEN, Invoice.next_retry_at <= now)


def run_batch(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    now: datetime,
    merchant_id: int | None = None,
    limit: int = 500,
    within: DueWork | None = None,
) -> ClockReport:
    """Process up to `limit` due items of each kind in the caller's transaction; with `within`,
    only those of its ids that are still due."""
    report = ClockReport()

    def due(kind: str, query, model=None) -> list[int]:
        ids = None if within is None else getattr(within, kind)
        return _due(session, *query(now), merchant_id, limit, model=model, within=ids)

    def each(ids: list[int], work: Callable[[int], None]) -> None:
        for item_id in ids:
            _isolated(session, report, lambda item_id=item_id: work(item_id))

    each(due("resumes", _resumes_due), lambda sid: _resume(session, sid, report))
    each(
        due("trial_notices", trial_ends.notices_due),
        lambda sid: _trial_notice(session, sid, now, report),
    )
    each(due("trials", trial_ends.ends_due), lambda sid: _trial_end(session, gateway, sid, report))
    renewals_due = due("renewals", _renewals_due)
    done = _renew_plain_batch(session, gateway, renewals_due, report)
    each(
        [sid for sid in renewals_due if sid not in done],
        lambda sid: _period_end(session, gateway, sid, now, report),
    )
    each(due("retries", _retries_due, Invoice), lambda iid: _retry(session, gateway, iid, report))
    return report


def _due(
    session,
    column,
    status_clause,
    time_clause,
    merchant_id,
    limit=None,
    *,
    model=None,
    within: list[int] | None = None,
):
    """Due rows straight off an index range; no ORDER BY, which would sort every due row.
    `within`: only these ids (looked up by primary key)."""
    if within is not None and not within:
        return []
    model = model or Subscription
    query = select(column).where(status_clause, time_clause)
    if merchant_id is not None:
        query = query.where(model.merchant_id == merchant_id)
    if within is not None:
        query = query.where(column.in_(within))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def _renew_plain_batch(
    session: Session, gateway: PaymentGateway, due: list[int], report: ClockReport
) -> set[int]:
    """Plain renewals in bulk; if the batch fails (a concurrent change), none of it is kept and
    every item goes the one-by-one way instead."""
    candidates = renewals.plain_candidates(session, due)
    if not candidates:
        return set()
    try:
        with session.begin_nested():
            result = renewals.renew(session, gateway, candidates)
    except PortalError:
        return set()
    report.renewed += result.renewed
    report.charged += result.charged
    report.payment_failed += result.payment_failed
    return {candidate.subscription_id for candidate in candidates}


def _isolated(session: Session, report: ClockReport, work: Callable[[], None]) -> None:
    """One item's failure (a conflict, a bad row) must not undo the rest of the batch. Its counts
    go back with its savepoint: an item that failed halfway counted as work would keep
    `advance` passing over it forever."""
    before = replace(report)
    try:
        with session.begin_nested():
            work()
    except PortalError:
        for f in fields(report):
            setattr(report, f.name, getattr(before, f.name))
        report.errors += 1


def _resume(session: Session, subscription_id: int, report: ClockReport) -> None:
    subscription = session.get(Subscription, subscription_id)
    at = subscription.resume_at
    subscriptions.resume_paused(session, FixedClock(at), subscription, at, audit.SYSTEM)
    report.resumed += 1


def _period_end(
    session: Session,
    gateway: PaymentGateway,
    subscription_id: int,
    now: datetime,
    report: ClockReport,
) -> None:
    subscription = session.get(Subscription, subscription_id)
    at = subscription.current_period_end
    event_clock = FixedClock(at)
    if subscription.cancel_at_period_end:
        with _recorded(session, event_clock, subscription, "subscription.ended") as change:
            end_now(session, subscription, at)
            change.after = {"status": subscription.status}
        report.ended += 1
        return
    # One claim per period end: by the first event recorded (the change applied, or the renewal).
    change = pending_change(session, subscription.id)
    applies = change is not None and change.effective_at <= at
    if applies:
        new = price_info(session, subscription.merchant_id, change.new_price_id)
        with _recorded(
            session,
            event_clock,
            subscription,
            "subscription.change_applied",
            before={"price_id": subscription.price_id},
        ) as applied:
            subscription.price_id = new.price.id
            subscription.plan_id = new.plan.id
            change.status = "applied"
            session.add(change)
            applied.after = {"price_id": new.price.id}
        report.changes_applied += 1
    with _recorded(
        session, event_clock, subscription, "subscription.renew", claim=not applies
    ) as renewal:
        invoice = _renew(session, gateway, subscription, at, event_clock, report)
        renewal.after = {
            "invoice_id": invoice.id,
            "period_end": subscription.current_period_end,
            "status": subscription.status,
        }


def _trial_notice(session: Session, subscription_id: int, now: datetime, report: ClockReport):
    if trial_ends.notice(session, subscription_id, now):
        report.trial_notices += 1


def _retry(session: Session, gateway: PaymentGateway, invoice_id: int, report: ClockReport):
    report.retried += 1
    outcome = dunning.retry(session, gateway, invoice_id)
    report.recovered += outcome == "recovered"
    report.gave_up += outcome == "gave_up"


def _trial_end(
    session: Session, gateway: PaymentGateway, subscription_id: int, report: ClockReport
) -> None:
    """A trial at its end, dated then: set to cancel, or no card for a charge → it ends (no
    invoice); otherwise it converts, a renewal from trialing (`_renew`: invoice the first paid
    period, charged under renewal_obligation(id, trial end), declined → past due and dunning)."""
    subscription = session.get(Subscription, subscription_id)
    at = subscription.current_period_end
    event_clock = FixedClock(at)
    before = {"status": subscription.status, "trial_end": at}
    info = price_info(session, subscription.merchant_id, subscription.price_id)
    no_card = payment_methods.default_card(session, subscription.customer_id) is None
    if subscription.cancel_at_period_end or (
        no_card and trial_ends.conversion_amount(session, subscription, info) > 0
    ):
        reason = "canceled" if subscription.cancel_at_period_end else "no_card"
        with _recorded(
            session, event_clock, subscription, "subscription.trial_ended", before=before
        ) as change:
            end_now(session, subscription, at)
            change.after = {"status": subscription.status, "reason": reason}
        if reason == "no_card":
            trial_ends.ended_mail(session, event_clock, subscription, info.label)
        report.trials_ended += 1
        report.ended += 1
        return
    with _recorded(
        session, event_clock, subscription, "subscription.trial_converted", before=before
    ) as conversion:
        subscription.status = SubscriptionStatus.ACTIVE  # _renew's decline makes it past due
        invoice = _renew(session, gateway, subscription, at, event_clock, report)
        conversion.after = {
            "invoice_id": invoice.id,
            "period_end": subscription.current_period_end,
            "status": subscription.status,
        }
    report.trials_converted += 1


def _recorded(
    session: Session,
    clock: Clock,
    subscription: Subscription,
    action: str,
    *,
    claim: bool = True,
    before: dict | None = None,
):
    """The billing clock's change of a subscription: its own facts before and after."""
    return subscriptions.changing(
        session,
        clock,
        subscription,
        audit.SYSTEM,
        action,
        claim=claim,
        snapshot=None,
        before=before,
    )


def _renew(
    session: Session,
    gateway: PaymentGateway,
    subscription: Subscription,
    at: datetime,
    event_clock: Clock,
    report: ClockReport,
) -> Invoice:
    """Start the next period at `at`: invoice it (less a retention discount) and charge it."""
    info = price_info(session, subscription.merchant_id, subscription.price_id)
    new_end = period_end(at, info.price.interval)
    lines = [invoices.LineSpec("subscription", info.label, info.price.amount, at, new_end)]
    coupon_line = coupons.renewal_line(
        session, subscription, info.price.amount, info.price.currency
    )
    if coupon_line is not None:
        lines.append(coupon_line)
    if subscription.discount_cycles_remaining > 0 and subscription.discount_percent:
        # Both discounts come off the price; together never more than the price.
        left = sum(line.amount for line in lines)
        off = min(discount_amount(info.price.amount, subscription.discount_percent), left)
        lines.append(invoices.LineSpec("discount", f"{subscription.discount_percent}% off", -off))
        subscription.discount_cycles_remaining -= 1
        if subscription.discount_cycles_remaining == 0:
            subscription.discount_percent = 0
    subscription.current_period_start = at
    subscription.current_period_end = new_end
    session.add(subscription)
    customer = session.get(Customer, subscription.customer_id)
    invoice = invoices.create_draft(
        session,
        event_clock,
        customer=customer,
        currency=info.price.currency,
        lines=lines,
        billing_reason="subscription_cycle",
        subscription_id=subscription.id,
        period_start=at,
        period_end=new_end,
    )
    invoices.finalize(session, event_clock, invoice, audit.SYSTEM)
    report.renewed += 1
    if invoice.status == InvoiceStatus.OPEN:
        outcome = dunning.collect(
            session,
            event_clock,
            gateway,
            invoice,
            obligation=invoices.renewal_obligation(subscription.id, at),
        )
        if outcome.succeeded:
            report.charged += 1
        else:
            report.payment_failed += 1
            dunning.schedule_retry(
                session,
                event_clock,
                subscription,
                invoice,
                customer,
                mail=outcome.status != "action_required",  # collect mailed the confirm link
            )
    return invoice


def advance(
    engine: sa.Engine,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    now: datetime | None = None,
    merchant_id: int | None = None,
    batch_size: int = 500,
    on_batch: Callable[[ClockReport], None] | None = None,
) -> ClockReport:
    """Run every due item up to `now`, one committed batch at a time, pass after pass until
    nothing is due (a renewal that is still behind `now` is picked up again by the next pass)."""
    now = now or clock.now()
    total = ClockReport()
    _passes(engine, clock, gateway, now, merchant_id, batch_size, on_batch, total)
    # Last, in a unit of its own: stale checkout sessions (they hold nothing the passes need).
    with session_scope(engine) as session:
        total.checkouts_expired = checkout.expire_due(session, FixedClock(now), merchant_id)
    return total


def _passes(engine, clock, gateway, now, merchant_id, batch_size, on_batch, total) -> None:
    """advance's passes over the due work, adding to `total`."""
    while True:
        with read_scope(engine) as session:
            work = due_work(session, now, merchant_id)
        if not work:
            return
        this_pass = ClockReport()
        for chunk in work.chunks(batch_size):
            with session_scope(engine) as session:
                batch = run_batch(
                    session,
                    clock,
                    gateway,
                    now=now,
                    merchant_id=merchant_id,
                    limit=batch_size,
                    within=chunk,
                )
            this_pass.add(batch)
            total.add(batch)
            if on_batch is not None:
                on_batch(total)
        if this_pass.items == this_pass.errors:  # nothing but failures: the next pass would repeat
            return


def merchant_clock(merchant: Merchant, base: Clock | None = None) -> Clock:
    return OffsetClock(timedelta(seconds=merchant.clock_offset_seconds), base or SystemClock())


def advance_test_clock(
    engine: sa.Engine,
    gateway: PaymentGateway,
    *,
    merchant_id: int,
    delta: timedelta,
    actor: audit.Actor,
    base: Clock | None = None,
    on_batch: Callable[[ClockReport], None] | None = None,
) -> ClockReport:
    """Move a demo merchant's time forward and let the billing clock catch up."""
    if delta <= timedelta(0) or delta > timedelta(days=3 * 366):
        raise PortalError("Move the test clock forward by up to three years.")
    base = base or SystemClock()
    with session_scope(engine) as session:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None or not merchant.is_demo:
            raise PortalError("Only a demo merchant has a test clock.")
        offset = merchant.clock_offset_seconds + int(delta.total_seconds())
        clock = OffsetClock(timedelta(seconds=offset), base)  # the event happens at the new time
        with audit.changing(
            session,
            clock,
            merchant,
            actor=actor,
            action="test_clock.advance",
            before={"offset_seconds": merchant.clock_offset_seconds},
            merchant_id=merchant_id,
        ) as change:
            merchant.clock_offset_seconds = offset
            change.after = {"offset_seconds": offset}
    return advance(engine, clock, gateway, merchant_id=merchant_id, on_batch=on_batch)


def advance_all_merchants(
    engine: sa.Engine,
    gateway: PaymentGateway,
    base: Clock | None = None,
    batch_size: int = 500,
    should_stop: Callable[[], bool] = lambda: False,
) -> ClockReport:
    """The worker's (or cron's) entry point: each merchant runs at its own time (demo merchants
    may be ahead); `should_stop` is asked between merchants."""
    base = base or SystemClock()
    with session_scope(engine) as session:
        merchants = [(m.id, m.clock_offset_seconds) for m in session.exec(select(Merchant))]
    total = ClockReport()
    for merchant_id, offset in merchants:
        if should_stop():
            return total
        clock = OffsetClock(timedelta(seconds=offset), base)
        total.add(advance(engine, clock, gateway, merchant_id=merchant_id, batch_size=batch_size))
    with session_scope(engine) as session:
        total.idempotency_purged = idempotency.purge(session, base)
    return total
