"""Subscription handlers at the state layer: cancelling a paused subscription directly, and
someone else's subscription refused."""

from sqlmodel import Session, select

from portal_app.models import Price, RefusalTally, Subscription
from portal_app.state import SubscriptionsState
from portal_app.state.guard import CLOCK
from tests import factories
from tests.statekit import call, root_with, run


def _paused_subscription(engine, customer):
    with Session(engine, expire_on_commit=False) as session:
        price = session.exec(select(Price).where(Price.interval == "month")).first()
        sub = factories.make_subscription_row(session, CLOCK, customer, price, status="paused")
        sub.paused_at = CLOCK.now()
        session.add(sub)
        session.commit()
        return sub


def test_paused_subscription_can_be_cancelled_directly(app_db):
    sub = _paused_subscription(app_db["engine"], app_db["alice"])

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        return await call(root, SubscriptionsState, "cancel_direct", sub.id)

    assert "cancelled" in str(run(scenario()))
    with Session(app_db["engine"]) as session:
        assert session.get(Subscription, sub.id).status == "canceled"


def test_someone_elses_subscription_is_refused_and_audited(app_db):
    sub = _paused_subscription(app_db["engine"], app_db["alice"])

    async def scenario():
        root = root_with(app_db["sessions"]["bob@example.com"])
        return await call(root, SubscriptionsState, "cancel_direct", sub.id)

    assert "not found" in str(run(scenario()))
    with Session(app_db["engine"]) as session:
        assert session.get(Subscription, sub.id).status == "paused"
        denied = session.exec(
            select(RefusalTally).where(RefusalTally.action == "authz.denied")
        ).all()
        assert denied[-1].rule == "not_found:cancel_direct"
