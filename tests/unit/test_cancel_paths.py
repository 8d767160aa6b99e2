"""Rules the subscriptions page used to enforce alone: a customer paused before the merchant
turned pausing off can still resume, and every cancellation from the page is a cancellation
attempt the merchant's funnel counts, through the flow whenever it has a survey or an offer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal_app.models import AuditEvent, CancellationAttempt, Price, Subscription
from portal_app.services import audit, cancellation, cancellation_stats, features, subscriptions
from portal_app.services.errors import FeatureDisabled, NotFound, SubscriptionError
from portal_app.state import SubscriptionsState
from portal_app.state.guard import CLOCK
from tests import factories
from tests.factories import refused
from tests.statekit import call, root_with, run

STAFF = audit.Actor.merchant(1)
# The defaults have the survey, retention offers and downgrade suggestion on.
NO_FLOW = {
    "cancel.survey": False,
    "cancel.retention_offers": False,
    "cancel.downgrade_suggestion": False,
    "cancel.pause_instead": False,
}


def _actor(customer):
    return audit.Actor.customer(customer.id)


def _set(session, clock, merchant_id, values):
    features.save(session, clock, merchant_id, values, STAFF)


def _attempts(session, customer_id):
    return session.exec(
        select(CancellationAttempt)
        .where(CancellationAttempt.customer_id == customer_id)
        .order_by(CancellationAttempt.id)
    ).all()


def _actions(session):
    return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]


@pytest.fixture
def sub(session, clock, gateway, catalog, customer, card):
    """An active Pro monthly subscription, the first period paid."""
    return factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])


def _on_subscription(service, session, clock, customer, sub_id, **kw):
    """A subscription service called by the customer on their subscription."""
    return service(
        session,
        clock,
        customer_id=customer.id,
        subscription_id=sub_id,
        actor=_actor(customer),
        **kw,
    )


def _cancel_directly(session, clock, customer, sub_id):
    return _on_subscription(
        cancellation.cancel_directly, session, clock, customer, sub_id, at_period_end=None
    )


def _pause(session, clock, customer, sub):
    resume_at = clock.now() + timedelta(days=30)
    return _on_subscription(
        subscriptions.pause, session, clock, customer, sub.id, resume_at=resume_at
    )


# --- resume after pausing is turned off ---------------------------------------------------------


def test_paused_customer_resumes_after_pausing_is_turned_off(
    session, clock, catalog, customer, sub
):
    _set(session, clock, catalog.merchant.id, {"subscriptions.pause": True})
    _pause(session, clock, customer, sub)
    end_before = sub.current_period_end
    _set(session, clock, catalog.merchant.id, {"subscriptions.pause": False})
    clock.advance(timedelta(days=5))

    _on_subscription(subscriptions.resume, session, clock, customer, sub.id)

    assert sub.status == "active" and sub.paused_at is None
    assert sub.current_period_end == end_before + timedelta(days=5)  # paid time kept
    assert _actions(session)[-1] == "subscription.resume"
    with pytest.raises(FeatureDisabled):  # a new pause is still refused
        _pause(session, clock, customer, sub)
    assert sub.status == "active"


def test_resume_of_someone_elses_subscription_is_not_found(session, clock, catalog, sub):
    _set(session, clock, catalog.merchant.id, {"subscriptions.pause": True})
    owner = session.get(Subscription, sub.id).customer_id
    stranger = factories.make_customer(session, clock, catalog.merchant, "eve@example.com")
    subscriptions.pause(
        session,
        clock,
        customer_id=owner,
        subscription_id=sub.id,
        resume_at=clock.now() + timedelta(days=30),
        actor=audit.Actor.customer(owner),
    )
    with pytest.raises(NotFound):
        subscriptions.resume(
            session, clock, customer_id=stranger.id, subscription_id=sub.id, actor=STAFF
        )
    assert sub.status == "paused"


# --- a direct cancel never skips the flow, and always leaves an attempt -------------------------


@pytest.mark.parametrize(
    "step",
    [
        {"cancel.survey": True},
        {"cancel.retention_offers": True},
        {"cancel.downgrade_suggestion": True},
        {"cancel.pause_instead": True, "subscriptions.pause": True},
    ],
    ids=["survey", "retention_offers", "downgrade_suggestion", "pause_instead"],
)
def test_active_subscription_must_go_through_the_flow_when_it_has_a_step(
    session, clock, catalog, customer, sub, step
):
    _set(session, clock, catalog.merchant.id, {**NO_FLOW, **step})
    events_before = len(_actions(session))
    with pytest.raises(SubscriptionError) as refused:
        _cancel_directly(session, clock, customer, sub.id)
    assert refused.value.code == "flow_required"
    assert (sub.status, sub.cancel_at_period_end) == ("active", False)
    assert _attempts(session, customer.id) == []
    assert len(_actions(session)) == events_before


def test_pause_instead_alone_needs_pausing_on_to_be_a_step(session, clock, catalog):
    settings = features.from_document({**NO_FLOW, "cancel.pause_instead": True})
    assert not cancellation.flow_required(settings)  # pausing is off by default
    assert cancellation.flow_required(features.from_document(None))  # defaults: survey on


def test_direct_cancel_without_survey_or_offers_records_a_cancelled_attempt(
    session, clock, catalog, customer, sub
):
    _set(session, clock, catalog.merchant.id, NO_FLOW)
    attempt = _cancel_directly(session, clock, customer, sub.id)

    assert (sub.status, sub.cancel_at_period_end) == ("active", True)  # period_end mode
    [row] = _attempts(session, customer.id)
    assert row.id == attempt.id and row.subscription_id == sub.id
    assert row.outcome == "canceled" and row.finished_at == clock.now()
    assert _actions(session)[-3:] == [
        "cancellation.start",
        "subscription.cancel_scheduled",
        "cancellation.canceled",
    ]
    numbers = cancellation_stats.save_rate(session, catalog.merchant.id)
    assert (numbers["attempts"], numbers["outcomes"]["canceled"]) == (1, 1)
    assert numbers["save_rate_percent"] == "0.0%"


def test_direct_cancel_finishes_an_attempt_left_open_in_the_flow(
    session, clock, catalog, customer, sub
):
    opened = _on_subscription(cancellation.start, session, clock, customer, sub.id)
    _set(session, clock, catalog.merchant.id, NO_FLOW)
    finished = _cancel_directly(session, clock, customer, sub.id)
    assert finished.id == opened.id
    assert [a.outcome for a in _attempts(session, customer.id)] == ["canceled"]


def test_paused_subscription_is_cancelled_directly_with_the_survey_on(
    session, clock, catalog, customer, sub
):
    """The flow does not take a paused subscription, so the direct path is the way, and it is
    still counted."""
    _set(session, clock, catalog.merchant.id, {"subscriptions.pause": True})
    _pause(session, clock, customer, sub)
    _cancel_directly(session, clock, customer, sub.id)
    assert sub.status == "canceled" and sub.ended_at == clock.now()  # a pause ends now
    assert [a.outcome for a in _attempts(session, customer.id)] == ["canceled"]


def test_direct_cancel_of_someone_elses_or_an_ended_subscription_changes_nothing(
    session, clock, catalog, customer, sub
):
    _set(session, clock, catalog.merchant.id, NO_FLOW)
    stranger = factories.make_customer(session, clock, catalog.merchant, "eve@example.com")
    with pytest.raises(NotFound):
        _cancel_directly(session, clock, stranger, sub.id)
    _set(session, clock, catalog.merchant.id, {"cancel.mode": "immediately"})
    _cancel_directly(session, clock, customer, sub.id)
    with refused(SubscriptionError, "already_ended"):
        _cancel_directly(session, clock, customer, sub.id)
    assert [a.outcome for a in _attempts(session, customer.id)] == ["canceled"]
    assert _attempts(session, stranger.id) == []


def test_direct_cancel_refused_when_cancelling_is_off(session, clock, catalog, customer, sub):
    _set(session, clock, catalog.merchant.id, {**NO_FLOW, "subscriptions.cancel": False})
    with pytest.raises(FeatureDisabled):
        _cancel_directly(session, clock, customer, sub.id)
    assert _attempts(session, customer.id) == [] and sub.status == "active"


# --- the state: forged direct calls -------------------------------------------------------------


def _subscription(engine, customer, status="active"):
    with Session(engine, expire_on_commit=False) as session:
        price = session.exec(select(Price).where(Price.interval == "month")).first()
        row = factories.make_subscription_row(session, CLOCK, customer, price, status=status)
        if status == "paused":
            row.paused_at = CLOCK.now()
            session.add(row)
        session.commit()
        return row


def _turn(engine, merchant_id, values):
    with Session(engine) as session:
        features.save(session, CLOCK, merchant_id, values, STAFF)
        session.commit()


def _alice_calls(app_db, name, *args):
    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        return await call(root, SubscriptionsState, name, *args)

    return run(scenario())


def test_forged_direct_cancel_with_the_survey_on_is_sent_to_the_flow(app_db):
    sub = _subscription(app_db["engine"], app_db["alice"])
    answer = _alice_calls(app_db, "cancel_direct", sub.id)  # defaults: the survey is on
    assert f"/subscriptions/{sub.id}/cancel" in str(answer)
    assert "cancelled" not in str(answer)
    with Session(app_db["engine"]) as session:
        row = session.get(Subscription, sub.id)
        assert (row.status, row.cancel_at_period_end, row.canceled_at) == ("active", False, None)
        assert _attempts(session, app_db["alice"].id) == []


def test_direct_cancel_from_the_state_without_a_flow_is_counted(app_db):
    _turn(app_db["engine"], app_db["merchant"].id, NO_FLOW)
    sub = _subscription(app_db["engine"], app_db["alice"])
    answer = _alice_calls(app_db, "cancel_direct", sub.id)
    assert "end at the end of the billing period" in str(answer)
    with Session(app_db["engine"]) as session:
        assert session.get(Subscription, sub.id).cancel_at_period_end is True
        assert [a.outcome for a in _attempts(session, app_db["alice"].id)] == ["canceled"]


def test_state_resume_works_with_pausing_off_and_pause_stays_refused(app_db):
    """Pausing is off by default; Alice's subscription was paused before that."""
    sub = _subscription(app_db["engine"], app_db["alice"], status="paused")
    resumed = _alice_calls(app_db, "resume", sub.id)
    assert "active again" in str(resumed)
    refused = _alice_calls(app_db, "pause", {"subscription_id": sub.id, "resume_on": "2099-01-01"})
    assert "not available" in str(refused)
    with Session(app_db["engine"]) as session:
        row = session.get(Subscription, sub.id)
        assert (row.status, row.paused_at) == ("active", None)
