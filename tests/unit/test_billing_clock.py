"""The billing clock: renewals, period-end changes and cancels, pauses ending, dunning."""

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import add_months
from portal_app.models import Invoice, Merchant, Payment, SandboxCharge, Subscription
from portal_app.services import audit, billing_clock, features, subscriptions
from tests import factories

ACTOR = audit.Actor.customer(1)


def _advance(engine, clock, gateway, delta):
    clock.advance(delta)
    return billing_clock.advance(engine, clock, gateway)


def test_renews_due_subscription_and_charges(
    engine, session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=20))
    assert report.renewed == 0
    report = _advance(engine, clock, gateway, timedelta(days=15))
    assert (report.renewed, report.charged) == (1, 1)
    with Session(engine) as s:
        fresh = s.get(Subscription, sub.id)
        assert fresh.current_period_start == sub.current_period_end
        assert fresh.current_period_end == add_months(sub.current_period_end, 1)
        renewal = s.exec(
            select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
        ).one()
        assert (renewal.status, renewal.total, renewal.number) == ("paid", 2000, 2)
        assert renewal.created_at == sub.current_period_end  # dated when it fell due


def test_catches_up_several_periods_in_one_run(
    engine, session, clock, gateway, catalog, customer, card
):
    factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=95))
    assert report.renewed == 3
    with Session(engine) as s:
        numbers = sorted(i.number for i in s.exec(select(Invoice)))
        assert numbers == [1, 2, 3, 4]


def test_applies_scheduled_downgrade_at_period_end(
    engine, session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Business"])
    factories.change_plan(
        session, clock, gateway, customer, sub, catalog.monthly["Basic"], actor=ACTOR
    )
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=32))
    assert report.changes_applied == 1
    with Session(engine) as s:
        fresh = s.get(Subscription, sub.id)
        assert fresh.plan_id == catalog.plans["Basic"].id
        renewal = s.exec(
            select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
        ).one()
        assert renewal.total == 1000
        assert subscriptions.pending_change(s, sub.id) is None


def test_pending_cancel_ends_without_charging(
    engine, session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    factories.cancel_subscription(session, clock, customer, sub, True, actor=ACTOR)
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=40))
    assert (report.ended, report.renewed) == (1, 0)
    with Session(engine) as s:
        fresh = s.get(Subscription, sub.id)
        assert fresh.status == "canceled" and fresh.ended_at == sub.current_period_end
        assert len(s.exec(select(SandboxCharge)).all()) == 1


def test_resumes_paused_subscription_on_its_date(
    engine, session, clock, gateway, catalog, customer, card
):
    features.save(session, clock, catalog.merchant.id, {"subscriptions.pause": True}, ACTOR)
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    original_end = sub.current_period_end
    clock.advance(timedelta(days=5))
    resume_at = clock.now() + timedelta(days=20)
    factories.pause_subscription(session, clock, customer, sub, resume_at, actor=ACTOR)
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=19))
    assert report.resumed == 0
    report = _advance(engine, clock, gateway, timedelta(days=2))
    assert report.resumed == 1 and report.renewed == 0
    with Session(engine) as s:
        fresh = s.get(Subscription, sub.id)
        assert fresh.status == "active"
        assert fresh.current_period_end == original_end + timedelta(days=20)


def test_failed_renewal_goes_past_due_then_recovers(
    engine, session, clock, gateway, catalog, customer
):
    good = factories.add_gateway_card(session, clock, gateway, customer)
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    factories.add_gateway_card(session, clock, gateway, customer, "4000000000009995")
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=31))
    assert report.payment_failed == 1
    with Session(engine) as s:
        assert s.get(Subscription, sub.id).status == "past_due"
        invoice = s.exec(select(Invoice).where(Invoice.status == "open")).one()
        assert invoice.next_retry_at == invoice.finalized_at + timedelta(days=1)
        # the customer makes the good card default again before the retry
        methods = s.exec(select(factories.PaymentMethod)).all()
        for method in methods:
            method.is_default = False
            s.add(method)
        s.flush()  # one default at a time: the database enforces it
        s.get(factories.PaymentMethod, good.id).is_default = True
        s.commit()
    report = _advance(engine, clock, gateway, timedelta(days=1))
    assert (report.retried, report.recovered) == (1, 1)
    with Session(engine) as s:
        assert s.get(Subscription, sub.id).status == "active"


def test_dunning_gives_up_after_the_schedule(engine, session, clock, gateway, catalog, customer):
    factories.add_gateway_card(session, clock, gateway, customer)
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    factories.add_gateway_card(session, clock, gateway, customer, "4000000000000341")
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=31))
    report = _advance(engine, clock, gateway, timedelta(days=6))
    assert (report.retried, report.gave_up) == (3, 1)
    with Session(engine) as s:
        assert s.get(Subscription, sub.id).status == "canceled"
        invoice = s.exec(
            select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
        ).one()
        assert invoice.status == "uncollectible" and invoice.attempt_count == 4
        failed = s.exec(select(Payment).where(Payment.status == "failed")).all()
        assert len(failed) == 4


def test_retention_discount_applies_for_its_cycles(
    engine, session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    sub.discount_percent = 25
    sub.discount_cycles_remaining = 2
    session.add(sub)
    session.commit()
    _advance(engine, clock, gateway, timedelta(days=95))
    with Session(engine) as s:
        totals = [i.total for i in factories.renewal_invoices(s)]
    assert totals == [1500, 1500, 2000]


def test_a_run_rolled_back_midway_charges_nothing_twice(
    engine, session, clock, gateway, catalog, customer, card
):
    factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    session.commit()
    clock.advance(timedelta(days=31))
    with Session(engine) as s:  # a worker dies before committing its batch
        billing_clock.run_batch(s, clock, gateway, now=clock.now())
        s.rollback()
    billing_clock.advance(engine, clock, gateway)
    billing_clock.advance(engine, clock, gateway)
    with Session(engine) as s:
        assert len(s.exec(select(SandboxCharge)).all()) == 2  # creation + one renewal


def test_cost_follows_due_rows_not_table_size(engine, session, clock, gateway, catalog):
    """With 1 due subscription, the run issues the same number of statements whether 5 or
    150 other subscriptions exist, and the due queries use an index."""
    statements = []

    def count(*_args, **_kwargs):
        statements.append(1)

    due_customer = factories.make_customer(session, clock, catalog.merchant, "due@example.com")
    factories.add_gateway_card(session, clock, gateway, due_customer)
    due = factories.make_subscription_row(session, clock, due_customer, catalog.monthly["Pro"])
    due.current_period_end = clock.now() + timedelta(days=1)
    session.add(due)

    def add_idle(n, offset):
        for i in range(n):
            c = factories.make_customer(session, clock, catalog.merchant, f"idle{offset + i}@x.y")
            sub = factories.make_subscription_row(session, clock, c, catalog.annual["Basic"])
            sub.current_period_end = clock.now() + timedelta(days=300)
            session.add(sub)

    counts = []
    for n, offset in ((5, 0), (5, 5), (140, 10)):  # the first run also creates counters
        add_idle(n, offset)
        session.refresh(due)
        # a new period each time: one period is renewed (and charged, under one key) once
        due.current_period_end = clock.now() + timedelta(days=1, minutes=len(counts))
        session.add(due)
        session.commit()
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        report = billing_clock.advance(engine, clock, gateway, now=clock.now() + timedelta(days=2))
        sa.event.remove(engine, "before_cursor_execute", count)
        assert report.renewed == 1
        counts.append(len(statements))
    assert counts[1] == counts[2]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM subscription "
                "WHERE status IN ('active','past_due') AND current_period_end <= '2030-01-01'"
            ).fetchall()
        assert "ix_subscription_due" in str(plan)


def test_test_clock_moves_only_demo_merchants(engine, session, clock, gateway, catalog, card):
    import pytest

    from portal_app.services.errors import PortalError

    def advance_test_clock(days):
        return billing_clock.advance_test_clock(
            engine,
            gateway,
            merchant_id=catalog.merchant.id,
            delta=timedelta(days=days),
            actor=audit.Actor.merchant(1),
            base=clock,
        )

    session.commit()
    with pytest.raises(PortalError):
        advance_test_clock(1)
    with Session(engine) as s:
        merchant = s.get(Merchant, catalog.merchant.id)
        merchant.is_demo = True
        s.add(merchant)
        s.commit()
    customer = factories.make_customer(session, clock, catalog.merchant, "demo@example.com")
    factories.add_gateway_card(session, clock, gateway, customer)
    factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    session.commit()
    report = advance_test_clock(65)
    assert report.renewed == 2
    with Session(engine) as s:
        assert s.get(Merchant, catalog.merchant.id).clock_offset_seconds == 65 * 86400
        assert audit.verify_chain(s, catalog.merchant.id).ok


def test_each_run_expires_the_checkouts_past_their_24_hours(
    engine, session, clock, gateway, catalog
):
    from portal_app.models import CheckoutSession
    from portal_app.services import checkout

    other = factories.make_catalog(session, clock, slug="globex")
    stale = checkout.open_link(session, clock, merchant_id=catalog.merchant.id, slug="pro")
    elsewhere = checkout.open_link(session, clock, merchant_id=other.merchant.id, slug="pro")
    session.commit()
    clock.advance(timedelta(hours=23))
    fresh = checkout.open_link(session, clock, merchant_id=catalog.merchant.id, slug="pro")
    session.commit()
    clock.advance(timedelta(hours=2))

    def statuses():
        with Session(engine) as s:
            return {row.id: row.status for row in s.exec(select(CheckoutSession))}

    report = billing_clock.advance(engine, clock, gateway, merchant_id=catalog.merchant.id)
    assert report.checkouts_expired == 1
    assert statuses() == {stale: "expired", elsewhere: "open", fresh: "open"}
    report = billing_clock.advance_all_merchants(engine, gateway, base=clock)
    assert report.checkouts_expired == 1
    assert statuses() == {stale: "expired", elsewhere: "expired", fresh: "open"}
