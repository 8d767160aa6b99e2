"""Malformed form input at the state layer: a bad card expiry or pause date is the form's own
inline message, and nothing is written; the cancel flow's pause step says the same."""

from datetime import timedelta

from reflex import constants
from sqlmodel import Session, select

from portal_app.models import CancellationAttempt, PaymentMethod, Price, Subscription
from portal_app.services import audit, features
from portal_app.state import SubscriptionsState
from portal_app.state.guard import CLOCK
from portal_app.state.payment_methods import CardsState
from portal_app.state.subscription_cancel import CancelFlowState
from tests import factories
from tests.statekit import call, root_with, run


def _subscription(engine, customer):
    with Session(engine, expire_on_commit=False) as session:
        price = session.exec(select(Price).where(Price.interval == "month")).first()
        sub = factories.make_subscription_row(session, CLOCK, customer, price)
        session.commit()
        return sub


def test_a_bad_card_expiry_is_the_forms_message(app_db):
    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        state = await root.get_state(CardsState)
        added = await call(root, CardsState, "add_card", {"expiry": "13-30", "number": "4242"})
        add = (added, state.add_error)
        state.editing_id = "1"
        edited = await call(root, CardsState, "update_expiry", {"expiry": "ab/cd"})
        edit = (edited, state.edit_error, state.editing_id)
        await call(root, CardsState, "load")
        return add, edit, len(state.cards)

    add, edit, cards = run(scenario())
    assert add == (None, "Enter the expiry as MM/YY.")
    assert edit == (None, "Enter the expiry as MM/YY.", "1")  # the editor stays open
    with Session(app_db["engine"]) as session:
        stored = session.exec(
            select(PaymentMethod).where(PaymentMethod.customer_id == app_db["alice"].id)
        ).all()
    assert cards == len(stored)  # no card added


def test_a_bad_pause_date_is_the_forms_message(app_db):
    sub = _subscription(app_db["engine"], app_db["alice"])
    with Session(app_db["engine"]) as session:
        features.save(
            session,
            CLOCK,
            app_db["merchant"].id,
            {"subscriptions.pause": True},
            audit.Actor.merchant(1),
        )
        session.commit()
    later = (CLOCK.now().date() + timedelta(days=30)).isoformat()

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        state = await root.get_state(SubscriptionsState)
        bad = await call(
            root,
            SubscriptionsState,
            "pause",
            {"resume_on": "2030-13-40", "subscription_id": sub.id},
        )
        refused = (bad, state.pause_error)
        good = await call(
            root, SubscriptionsState, "pause", {"resume_on": later, "subscription_id": sub.id}
        )
        return refused, str(good), state.pause_error

    refused, paused, error_after = run(scenario())
    assert refused == (None, "Pick a valid date.")
    assert "paused" in paused and error_after == ""
    with Session(app_db["engine"]) as session:
        assert session.get(Subscription, sub.id).status == "paused"


def test_the_cancel_flows_pause_step_refuses_a_bad_date(app_db):
    sub = _subscription(app_db["engine"], app_db["alice"])

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        root.router_data = root._update_router_vars(
            {
                **root.router_data,
                constants.RouteVar.QUERY: {"id": str(sub.id)},
                constants.RouteVar.PATH: f"/subscriptions/{sub.id}/cancel",
            },
            root.router_data,
        )
        await call(root, CancelFlowState, "load")
        state = await root.get_state(CancelFlowState)
        reason = state.reasons[0].key
        await call(root, CancelFlowState, "submit_survey", {"reason": reason, "comment": "x"})
        bad = await call(root, CancelFlowState, "take_pause", {"resume_on": "nope"})
        refused = (bad, state.error, state.done_message)
        await call(root, CancelFlowState, "go_to_confirm")
        await call(root, CancelFlowState, "confirm", {"when": ""})
        return refused, state.step, state.done_message

    refused, step, done = run(scenario())
    assert refused == (None, "Pick a valid date.", "")
    assert step == "done" and done.startswith("Your subscription will end")
    with Session(app_db["engine"]) as session:
        assert session.get(Subscription, sub.id).cancel_at_period_end
        assert len(session.exec(select(CancellationAttempt)).all()) == 1
