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

from portal_app import formatting
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
from portal_app.money import format_money
from portal_app.services import (
    audit,
    checkout,
    coupons,
    features,
    idempotency,
    invoices,
    mailer,
    payment_methods,
    renewals,
    subscriptions,
    webhook_events,
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
        trial_notices=_due(session, *_trial_notices_due(now), merchant_id),
        trials=_due(session, *_trials_due(now), merchant_id),
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


# The trial-ending notice goes this long before the trial's end.
TRIAL_NOTICE_BEFORE = timedelta(days=3)


def _trial_notices_due(now):
    """Trials ending within TRIAL_NOTICE_BEFORE whose notice is not sent (a range of
    ix_subscription_due; a trial already over at `now` converts without a late notice, and one
    set to cancel gets none: nothing will be charged)."""
    return (
        Subscription.id,
        Subscription.status == SubscriptionStatus.TRIALING,
        sa.and_(
            Subscription.current_period_end > now,
            Subscription.current_period_end <= now + TRIAL_NOTICE_BEFORE,
            Subscription.trial_notice_sent.is_(False),
            Subscription.cancel_at_period_end.is_(False),
        ),
    )


def _trials_due(now):
    return (
        Subscription.id,
        Subscription.status == SubscriptionStatus.TRIALING,
        Subscription.current_period_end <= now,
    )


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
    for subscription_id in _due(
        session,
        *_resumes_due(now),
        merchant_id,
        limit,
        within=None if within is None else within.resumes,
    ):
        _isolated(session, report, lambda sid=subscription_id: _resume(session, sid, report))
    for subscription_id in _due(
        session,
        *_trial_notices_due(now),
        merchant_id,
        limit,
        within=None if within is None else within.trial_notices,
    ):
        _isolated(
            session, report, lambda sid=subscription_id: _trial_notice(session, sid, now, report)
        )
    for subscription_id in _due(
        session,
        *_trials_due(now),
        merchant_id,
        limit,
        within=None if within is None else within.trials,
    ):
        _isolated(
            session, report, lambda sid=subscription_id: _trial_end(session, gateway, sid, report)
        )
    due = _due(
        session,
        *_renewals_due(now),
        merchant_id,
        limit,
        within=None if within is None else within.renewals,
    )
    done = _renew_plain_batch(session, gateway, due, report)
    for subscription_id in due:
        if subscription_id in done:
            continue
        _isolated(
            session,
            report,
            lambda sid=subscription_id: _period_end(session, gateway, sid, now, report),
        )
    for invoice_id in _due(
        session,
        *_retries_due(now),
        merchant_id,
        limit,
        model=Invoice,
        within=None if within is None else within.retries,
    ):
        _isolated(session, report, lambda iid=invoice_id: _retry(session, gateway, iid, report))
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
    """The trial-ending notice (kind renewal_notice: the merchant's toggle and the customer's
    preference decide), claimed once by a conditional UPDATE of `trial_notice_sent` so two
    overlapping runs send one; dated TRIAL_NOTICE_BEFORE before the trial's end."""
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
        return
    subscription = session.get(Subscription, subscription_id)
    end = subscription.current_period_end
    at = min(max(end - TRIAL_NOTICE_BEFORE, subscription.current_period_start), now)
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
    amount = _conversion_amount(session, subscription, info)
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
    if queued is not None:
        report.trial_notices += 1


def _conversion_amount(session: Session, subscription: Subscription, info) -> int:
    """What the trial's conversion invoice comes to before account credit, as `_renew` bills
    it: the price less the checkout's coupon, then less a retention discount (never below 0)."""
    price, currency = info.price.amount, info.price.currency
    left = price - coupons.renewal_discount(
        session, subscription, plan_id=subscription.plan_id, amount=price, currency=currency
    )
    if subscription.discount_cycles_remaining > 0 and subscription.discount_percent:
        left -= min(discount_amount(price, subscription.discount_percent), left)
    return left


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
        no_card and _conversion_amount(session, subscription, info) > 0
    ):
        reason = "canceled" if subscription.cancel_at_period_end else "no_card"
        with _recorded(
            session, event_clock, subscription, "subscription.trial_ended", before=before
        ) as change:
            end_now(session, subscription, at)
            change.after = {"status": subscription.status, "reason": reason}
        if reason == "no_card":
            ended = formatting.date(at)
            mailer.queue(
                session,
                event_clock,
                customer=session.get(Customer, subscription.customer_id),
                kind="trial_ended",
                subject=f"Your free trial of {info.label} has ended",
                body=(
                    f"Your free trial of {info.label} ended on {ended}. There was no card on "
                    "file, so your subscription ended with it and nothing was charged. To "
                    "continue, add a card in your billing portal and subscribe again."
                ),
            )
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
        outcome = _collect(
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
            _schedule_retry(
                session,
                event_clock,
                subscription,
                invoice,
                customer,
                mail=outcome.status != "action_required",  # collect mailed the confirm link
            )
    return invoice


def _collect(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    invoice: Invoice,
    *,
    obligation: str | None = None,
):
    """Charge the invoice to its customer's default card, as the billing clock."""
    card = payment_methods.default_card(session, invoice.customer_id)
    return invoices.collect(
        session, clock, gateway, invoice, card, audit.SYSTEM, obligation=obligation
    )


def _schedule_retry(
    session: Session,
    clock: Clock,
    subscription: Subscription,
    invoice: Invoice,
    customer: Customer,
    *,
    mail: bool = True,
) -> None:
    subscription.status = SubscriptionStatus.PAST_DUE
    session.add(subscription)
    retry_days = features.load(session, invoice.merchant_id)["billing.retry_days"]
    invoice.next_retry_at = invoice.finalized_at + timedelta(days=retry_days[0])
    session.add(invoice)
    if mail:
        subject, body = invoices.failure_mail(invoice, None)
        mailer.queue(
            session, clock, customer=customer, kind="invoice_reminder", subject=subject, body=body
        )


def _retry(session: Session, gateway: PaymentGateway, invoice_id: int, report: ClockReport):
    invoice = session.get(Invoice, invoice_id)
    event_clock = FixedClock(invoice.next_retry_at)
    report.retried += 1
    outcome = _collect(session, event_clock, gateway, invoice)
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    if outcome.succeeded:
        report.recovered += 1
        if subscription is not None:
            _clear_past_due(session, subscription, event_clock.now())
        return
    settings = features.load(session, invoice.merchant_id)
    retry_days = settings["billing.retry_days"]
    if invoice.attempt_count <= len(retry_days):
        invoice.next_retry_at = invoice.finalized_at + timedelta(
            days=retry_days[invoice.attempt_count - 1]
        )
        session.add(invoice)
        return
    report.gave_up += 1
    invoice.next_retry_at = None
    if settings["billing.after_final_failure"] != "cancel":
        session.add(invoice)
        return
    with audit.changing(
        session, event_clock, invoice, actor=audit.SYSTEM, action="invoice.uncollectible"
    ) as change:
        invoice.status = InvoiceStatus.UNCOLLECTIBLE
        if subscription is not None and subscription.status != SubscriptionStatus.CANCELED:
            # The event is the invoice's; the subscription ends with it, its version moved on.
            subscriptions.claim(session, subscription, None)
            end_now(session, subscription, event_clock.now())
            session.add(subscription)
        change.after = {"subscription_ended": subscription is not None}


def _clear_past_due(session: Session, subscription: Subscription, at: datetime) -> None:
    """Active again once nothing is left open (the merchant's app hears it)."""
    if subscription.status != SubscriptionStatus.PAST_DUE:
        return
    still_open = session.exec(
        select(sa.func.count(Invoice.id)).where(
            Invoice.subscription_id == subscription.id, Invoice.status == InvoiceStatus.OPEN
        )
    ).one()
    if still_open == 0:
        subscription.status = SubscriptionStatus.ACTIVE
        session.add(subscription)
        session.flush()
        for type_, kind, object_id in (
            ("subscription.activated", "subscription", subscription.id),
            ("customer.state_changed", "customer", subscription.customer_id),
        ):
            webhook_events.emit(
                session,
                at,
                merchant_id=subscription.merchant_id,
                type_=type_,
                kind=kind,
                object_ids=[object_id],
                customer_of={object_id: subscription.customer_id},
            )


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
