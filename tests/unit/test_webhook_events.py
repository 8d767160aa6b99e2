"""Which webhook events each change writes: a subscription's life through the services, the
billing clock's renewals, failed payments, trials and expired checkouts."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, select

from portal_app.models import Plan, WebhookDelivery, WebhookEvent
from portal_app.services import (
    audit,
    billing_clock,
    checkout,
    features,
    subscriptions,
    trials,
    webhook_endpoints,
)
from tests import factories

STAFF = audit.Actor.merchant(1)


def _listen(session, clock, merchant_id, monkeypatch, **kwargs):
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE", "1")
    endpoint, _ = webhook_endpoints.create_endpoint(
        session,
        clock,
        merchant_id=merchant_id,
        url="http://127.0.0.1:9/hooks",
        actor=STAFF,
        **kwargs,
    )
    return endpoint


def _events(engine, after_id=0):
    with Session(engine) as s:
        rows = s.exec(
            select(WebhookEvent).where(WebhookEvent.id > after_id).order_by(WebhookEvent.id)
        )
        return [(e.type, json.loads(e.payload)["data"]) for e in rows]


def _types(engine, after_id=0):
    return [t for t, _ in _events(engine, after_id)]


def _last_id(engine):
    with Session(engine) as s:
        return max([e.id for e in s.exec(select(WebhookEvent))], default=0)


def test_a_subscriptions_life_writes_its_events(
    engine, session, clock, gateway, catalog, customer, card, monkeypatch
):
    _listen(session, clock, catalog.merchant.id, monkeypatch)
    session.commit()
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    session.commit()
    assert _types(engine) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "payment.succeeded",
        "subscription.created",
        "subscription.activated",
        "customer.state_changed",
    ]
    events = dict(_events(engine))
    assert events["subscription.created"]["status"] == "active"
    assert events["payment.succeeded"]["object"] == "payment"
    assert events["payment.succeeded"]["amount"] == catalog.monthly["Pro"].amount
    state = events["customer.state_changed"]
    assert state["object"] == "customer_state"
    assert [s["subscription"]["id"] for s in state["active_subscriptions"]] == [sub.id]

    def step(work):
        mark = _last_id(engine)
        with features.as_merchant():
            work()
        session.commit()
        return _types(engine, mark)

    assert step(
        lambda: factories.pause_subscription(
            session, clock, customer, sub, clock.now() + timedelta(days=7), actor=STAFF
        )
    ) == ["subscription.paused", "customer.state_changed"]
    assert step(
        lambda: subscriptions.resume(
            session, clock, customer_id=customer.id, subscription_id=sub.id, actor=STAFF
        )
    ) == ["subscription.resumed", "customer.state_changed"]
    assert step(
        lambda: factories.cancel_subscription(
            session, clock, customer, sub, at_period_end=True, actor=STAFF
        )
    ) == ["subscription.canceled"]
    assert step(
        lambda: factories.reactivate_subscription(
            session, clock, gateway, customer, sub, actor=STAFF
        )
    ) == ["subscription.uncanceled"]
    types = step(
        lambda: factories.change_plan(
            session, clock, gateway, customer, sub, catalog.monthly["Business"], actor=STAFF
        )
    )
    assert "subscription.updated" in types and "customer.state_changed" in types
    assert step(
        lambda: factories.cancel_subscription(
            session, clock, customer, sub, at_period_end=False, actor=STAFF
        )
    )[:3] == ["subscription.canceled", "subscription.ended", "customer.state_changed"]
    ended = _events(engine)[-1][1] if _types(engine)[-1] == "customer.state_changed" else None
    assert ended is not None and ended["active_subscriptions"] == []


def test_a_failed_renewal_reports_past_due_then_the_retry_recovers(
    engine, session, clock, gateway, catalog, customer, card, monkeypatch
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    factories.add_gateway_card(session, clock, gateway, customer, "4000000000000341")
    _listen(session, clock, catalog.merchant.id, monkeypatch)
    session.commit()
    clock.advance(timedelta(days=31, hours=1))
    report = billing_clock.advance(engine, clock, gateway, merchant_id=catalog.merchant.id)
    assert report.payment_failed == 1
    events = _events(engine)
    assert [t for t, _ in events] == [
        "subscription.renewed",
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "payment.failed",
        "subscription.past_due",
        "customer.state_changed",
    ]
    data = dict(events)
    assert data["subscription.past_due"]["status"] == "past_due"
    assert data["payment.failed"]["status"] == "failed"
    assert data["payment.failed"]["failure_code"] == "card_declined"
    assert data["invoice.payment_failed"]["status"] == "open"
    mark = _last_id(engine)
    factories.add_gateway_card(session, clock, gateway, customer)
    session.commit()
    clock.advance(timedelta(days=1))
    report = billing_clock.advance(engine, clock, gateway, merchant_id=catalog.merchant.id)
    assert report.recovered == 1
    events = _events(engine, mark)
    assert [t for t, _ in events] == [
        "invoice.paid",
        "payment.succeeded",
        "subscription.activated",
        "customer.state_changed",
    ]
    assert events[2][1]["id"] == sub.id and events[2][1]["status"] == "active"


def test_trials_and_checkouts_write_their_events(
    engine, session, clock, gateway, catalog, customer, card, monkeypatch
):
    _listen(
        session,
        clock,
        catalog.merchant.id,
        monkeypatch,
        event_types=["subscription.trial_will_end", "checkout.expired"],
    )
    sub = factories.make_subscription_row(session, clock, customer, catalog.monthly["Pro"])
    plan = session.get(Plan, catalog.monthly["Pro"].plan_id)
    trials.start(session, clock, subscription=sub, plan=plan, days=14)
    opened = checkout.open_link(session, clock, merchant_id=catalog.merchant.id, slug="pro")
    session.commit()
    clock.advance(timedelta(days=11))
    report = billing_clock.advance(engine, clock, gateway, merchant_id=catalog.merchant.id)
    assert report.trial_notices == 1 and report.checkouts_expired == 1
    events = _events(engine)
    assert [t for t, _ in events] == ["subscription.trial_will_end", "checkout.expired"]
    assert events[0][1]["id"] == sub.id and events[0][1]["status"] == "trialing"
    assert events[1][1]["object"] == "checkout_session" and events[1][1]["status"] == "expired"
    assert events[1][1]["id"] == opened
    with Session(engine) as s:
        assert len(s.exec(select(WebhookDelivery)).all()) == 2


def _confirm(session, clock, gateway, checkout_id, email):
    result = checkout.confirm(
        session,
        clock,
        gateway,
        checkout_id,
        card=checkout.CardInput("4242424242424242", 12, 2030, "123"),
        ip="203.0.113.9",
        email=email,
        name="Nora New",
    )
    session.commit()
    return result


def test_checkouts_trials_and_orders_write_their_events(
    engine, session, clock, gateway, catalog, monkeypatch
):
    from portal_app.models import Order
    from portal_app.services import ratelimit

    ratelimit.reset_singletons()
    catalog.plans["Pro"].trial_days = 14
    factories.make_product(session, catalog.merchant)
    _listen(session, clock, catalog.merchant.id, monkeypatch)
    session.commit()
    trial = checkout.open_link(session, clock, merchant_id=catalog.merchant.id, slug="pro")
    session.commit()
    result = _confirm(session, clock, gateway, trial, "nora@example.com")
    events = _events(engine)
    assert [t for t, _ in events] == [
        "customer.created",
        "subscription.created",
        "subscription.trialing",
        "customer.state_changed",
        "checkout.completed",
    ]
    data = dict(events)
    assert data["subscription.trialing"]["status"] == "trialing"
    assert data["checkout.completed"]["subscription_id"] == result.subscription_id
    assert data["checkout.completed"]["status"] == "completed"

    mark = _last_id(engine)
    bought = checkout.open_link(session, clock, merchant_id=catalog.merchant.id, slug="stickers")
    session.commit()
    result = _confirm(session, clock, gateway, bought, "otto@example.com")
    types = _types(engine, mark)
    assert {"order.created", "order.paid", "invoice.paid", "payment.succeeded"} <= set(types)
    assert types[-1] == "checkout.completed"
    mark = _last_id(engine)
    order = session.get(Order, result.order_id)
    factories.fulfil_order(session, clock, order, "TRACK-1")
    session.commit()
    assert _types(engine, mark) == ["order.fulfilled"]
    mark = _last_id(engine)
    factories.refund_order(session, clock, gateway, order)
    session.commit()
    events = _events(engine, mark)
    assert [t for t, _ in events] == ["order.refunded", "payment.refunded"]
    assert events[0][1]["status"] == "refunded" and events[1][1]["object"] == "payment"


def test_a_voided_invoice_and_a_deleted_customer_write_their_events(
    engine, session, clock, catalog, customer, monkeypatch
):
    from portal_app.services import customer_accounts, invoices

    _listen(session, clock, catalog.merchant.id, monkeypatch)
    invoice = factories.finalized_invoice(session, clock, customer)
    session.commit()
    mark = _last_id(engine)
    invoices.void(session, clock, invoice, STAFF)
    session.commit()
    events = _events(engine, mark)
    assert [t for t, _ in events] == ["invoice.voided"]
    assert events[0][1]["status"] == "void" and events[0][1]["id"] == invoice.id
    mark = _last_id(engine)
    customer_accounts.delete(session, clock, customer, actor=STAFF)
    session.commit()
    events = _events(engine, mark)
    assert [t for t, _ in events] == ["customer.deleted", "customer.state_changed"]
    data = events[0][1]
    assert data["deleted"] is True and data["name"] == ""
    assert data["email"] is None  # the API shows no address for a deleted customer
