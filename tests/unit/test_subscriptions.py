"""Subscription lifecycle rules, through the service layer only."""

from datetime import timedelta

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, Customer, Invoice, InvoiceLine, Subscription
from portal_app.services import audit, features, plan_changes, subscriptions
from portal_app.services.errors import (
    ConcurrentChange,
    FeatureDisabled,
    NotFound,
    PaymentError,
    SubscriptionError,
)
from tests import factories

ACTOR = audit.Actor.customer(1)


def _set(session, clock, catalog, **values):
    features.save(
        session,
        clock,
        catalog.merchant.id,
        {key.replace("__", "."): value for key, value in values.items()},
        audit.Actor.merchant(1),
    )


def test_create_charges_first_period(session, clock, gateway, catalog, customer, card):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    assert sub.status == "active"
    assert sub.current_period_end == clock.now().replace(month=2)
    invoice = session.exec(select(Invoice).where(Invoice.subscription_id == sub.id)).one()
    assert (invoice.status, invoice.total, invoice.number) == ("paid", 2000, 1)
    payment = factories.payment_of(session, invoice)
    assert payment.amount == 2000 and payment.status == "succeeded"


def test_create_with_declining_card_raises(session, clock, gateway, catalog, customer):
    factories.add_gateway_card(session, clock, gateway, customer, "4000000000000341")
    with pytest.raises(PaymentError):
        factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])


def test_immediate_upgrade_halfway_charges_the_difference(
    session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    period = sub.current_period_end - sub.current_period_start
    clock.advance(period / 2)
    preview = factories.preview_change(session, clock, customer, sub, catalog.monthly["Pro"])
    assert preview.direction == "upgrade" and preview.timing == "immediate"
    assert [line.amount for line in preview.lines] == [-500, 1000]
    assert preview.amount_due_now == 500
    assert "You will be charged $5.00 today" in preview.summary()
    result = factories.change_plan(
        session,
        clock,
        gateway,
        customer,
        sub,
        catalog.monthly["Pro"],
        expected_version=preview.version,
    )
    invoice = session.get(Invoice, result.invoice_id)
    lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).all()
    assert invoice.total == 500 == sum(line.amount for line in lines)
    assert invoice.status == "paid"
    session.refresh(sub)
    assert sub.plan_id == catalog.plans["Pro"].id
    assert sub.current_period_end == preview.next_renewal_at  # same period


def test_upgrade_then_downgrade_same_second_nets_zero(
    session, clock, gateway, catalog, customer, card
):
    _set(session, clock, catalog, plan_change__downgrade_timing="immediate")
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    clock.advance(timedelta(days=9, seconds=77))
    for target in ("Pro", "Basic"):
        factories.change_plan(session, clock, gateway, customer, sub, catalog.monthly[target])
    session.refresh(customer)
    charged = session.exec(
        select(Invoice).where(Invoice.billing_reason == "subscription_update")
    ).one()
    assert customer.credit_balance == charged.total > 0


def test_downgrade_is_scheduled_for_period_end_by_default(
    session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    preview = factories.preview_change(session, clock, customer, sub, catalog.monthly["Basic"])
    assert preview.timing == "period_end" and preview.amount_due_now == 0
    assert preview.summary().startswith("Nothing to pay today; from 15 Feb 2026 $10.00/month")
    with factories.refused(SubscriptionError, "timing_not_allowed"):
        factories.change_plan(
            session, clock, gateway, customer, sub, catalog.monthly["Basic"], timing="immediate"
        )
    result = factories.change_plan(session, clock, gateway, customer, sub, catalog.monthly["Basic"])
    assert result.scheduled_change_id is not None
    session.refresh(sub)
    assert sub.price_id == catalog.monthly["Pro"].id
    plan_changes.cancel_scheduled_change(
        session, clock, customer_id=customer.id, subscription_id=sub.id, actor=ACTOR
    )
    assert subscriptions.pending_change(session, sub.id) is None


def test_customer_choice_offers_both_timings(session, clock, gateway, catalog, customer, card):
    _set(session, clock, catalog, plan_change__upgrade_timing="customer_choice")
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    preview = factories.preview_change(
        session, clock, customer, sub, catalog.monthly["Pro"], timing="period_end"
    )
    assert preview.allowed_timings == ("immediate", "period_end")
    assert preview.timing == "period_end" and preview.amount_due_now == 0


def test_monthly_to_annual_resets_the_anchor(session, clock, gateway, catalog, customer, card):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    clock.advance(sub.current_period_end - sub.current_period_start)  # whole month used...
    clock.advance(timedelta(seconds=-1))  # ...but for one second
    result = factories.change_plan(
        session, clock, gateway, customer, sub, catalog.annual["Pro"], timing="immediate"
    )
    assert result.preview.direction == "interval"
    assert [line.amount for line in result.preview.lines] == [-0, 20000]
    session.refresh(sub)
    assert sub.current_period_start == clock.now()
    assert sub.current_period_end == clock.now().replace(year=clock.now().year + 1)


def test_annual_to_monthly_immediately_leaves_credit(
    session, clock, gateway, catalog, customer, card
):
    _set(session, clock, catalog, plan_change__interval_timing="immediate")
    sub = factories.subscribe(session, clock, gateway, customer, catalog.annual["Pro"])
    clock.advance(timedelta(days=1))
    result = factories.change_plan(session, clock, gateway, customer, sub, catalog.monthly["Pro"])
    assert result.invoice_id is None
    credit = -sum(line.amount for line in result.preview.lines)
    assert credit == result.preview.credit_added > 0
    session.refresh(customer)
    assert customer.credit_balance == credit


def test_feature_off_is_refused_by_the_service(session, clock, gateway, catalog, customer, card):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    _set(session, clock, catalog, subscriptions__upgrade=False, subscriptions__pause=False)
    with pytest.raises(FeatureDisabled):
        factories.preview_change(session, clock, customer, sub, catalog.monthly["Pro"])
    with pytest.raises(FeatureDisabled):
        factories.pause_subscription(session, clock, customer, sub, None)


def test_another_customers_subscription_is_not_found(
    session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    other = factories.make_customer(session, clock, catalog.merchant, "eve@example.com")
    with pytest.raises(NotFound):
        factories.cancel_subscription(session, clock, other, sub, None, actor=ACTOR)
    session.refresh(sub)
    assert sub.status == "active" and not sub.cancel_at_period_end


def test_stale_version_is_a_conflict(session, clock, gateway, catalog, customer, card):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    stale = sub.version
    factories.cancel_subscription(session, clock, customer, sub, True)
    factories.reactivate_subscription(session, clock, gateway, customer, sub, actor=ACTOR)
    with pytest.raises(ConcurrentChange):
        factories.change_plan(
            session, clock, gateway, customer, sub, catalog.monthly["Pro"], expected_version=stale
        )


def test_pause_rules_and_resume_keeps_paid_time(session, clock, gateway, catalog, customer, card):
    _set(session, clock, catalog, subscriptions__pause=True)
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    end_before = sub.current_period_end
    with factories.refused(SubscriptionError, "resume_date_required"):
        factories.pause_subscription(session, clock, customer, sub, None)
    with factories.refused(SubscriptionError, "pause_too_long"):
        factories.pause_subscription(
            session, clock, customer, sub, clock.now() + timedelta(days=91)
        )
    factories.pause_subscription(session, clock, customer, sub, clock.now() + timedelta(days=30))
    assert sub.status == "paused"
    clock.advance(timedelta(days=10))
    subscriptions.resume(
        session, clock, customer_id=customer.id, subscription_id=sub.id, actor=ACTOR
    )
    assert sub.status == "active"
    assert sub.current_period_end == end_before + timedelta(days=10)


def test_cancel_modes_and_reactivate(session, clock, gateway, catalog, customer, card):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    with factories.refused(SubscriptionError, "cancel_mode"):
        factories.cancel_subscription(session, clock, customer, sub, False)
    factories.cancel_subscription(session, clock, customer, sub, None)
    assert sub.cancel_at_period_end and sub.status == "active"
    factories.reactivate_subscription(session, clock, gateway, customer, sub, actor=ACTOR)
    assert not sub.cancel_at_period_end

    _set(session, clock, catalog, cancel__mode="immediately")
    factories.cancel_subscription(session, clock, customer, sub, None)
    assert sub.status == "canceled" and sub.ended_at == clock.now()

    clock.advance(timedelta(days=40))
    invoices_before = len(session.exec(select(Invoice)).all())
    factories.reactivate_subscription(session, clock, gateway, customer, sub, actor=ACTOR)
    assert sub.status == "active" and sub.current_period_start == clock.now()
    assert len(session.exec(select(Invoice)).all()) == invoices_before + 1

    _set(session, clock, catalog, reactivate__after_cancel=False)
    factories.cancel_subscription(session, clock, customer, sub, None)
    with factories.refused(SubscriptionError, "restart_disabled"):
        factories.reactivate_subscription(session, clock, gateway, customer, sub, actor=ACTOR)


def test_credit_is_spent_on_the_next_charge(session, clock, gateway, catalog, customer, card):
    customer.credit_balance = 700
    session.add(customer)
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    invoice = session.exec(select(Invoice).where(Invoice.subscription_id == sub.id)).one()
    assert invoice.total == 300
    assert session.get(Customer, customer.id).credit_balance == 0


def test_every_change_is_audited_in_the_same_transaction(
    session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    factories.cancel_subscription(session, clock, customer, sub, True)
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]
    assert "subscription.create" in actions
    assert actions[-1] == "subscription.cancel_scheduled"
    assert audit.verify_chain(session, catalog.merchant.id).ok
    session.rollback()
    assert session.exec(select(Subscription)).all() == []
    assert session.exec(select(AuditEvent)).all() == []
