"""Subscription handlers at the state layer: cancelling a paused subscription directly, and
someone else's subscription refused."""

from reflex import constants
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


def _cancel_direct(app_db, email: str, sub) -> str:
    """SubscriptionsState.cancel_direct of `sub` as the customer `email`; its result as text."""

    async def scenario():
        root = root_with(app_db["sessions"][email])
        return await call(root, SubscriptionsState, "cancel_direct", sub.id)

    return str(run(scenario()))


def test_paused_subscription_can_be_cancelled_directly(app_db):
    sub = _paused_subscription(app_db["engine"], app_db["alice"])
    assert "cancelled" in _cancel_direct(app_db, "alice@example.com", sub)
    with Session(app_db["engine"]) as session:
        assert session.get(Subscription, sub.id).status == "canceled"


def test_someone_elses_subscription_is_refused_and_audited(app_db):
    sub = _paused_subscription(app_db["engine"], app_db["alice"])
    assert "not found" in _cancel_direct(app_db, "bob@example.com", sub)
    with Session(app_db["engine"]) as session:
        assert session.get(Subscription, sub.id).status == "paused"
        denied = session.exec(
            select(RefusalTally).where(RefusalTally.action == "authz.denied")
        ).all()
        assert denied[-1].rule == "not_found:cancel_direct"


def _trace_plan_change(app_db, page_path):
    """Confirm a plan change on `page_path`; if the handler redirects, the page it redirects to
    loads (the portal's nav and the subscriptions list, as `PAGES` wires /subscriptions): SQL
    statements, guard session checks, list reads, and the portal_app files whose code ran."""
    import asyncio
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    from portal_app import db
    from portal_app.services import subscriptions as subscription_service
    from portal_app.state import NavState
    from portal_app.state import guard as guard_module

    with Session(app_db["engine"], expire_on_commit=False) as session:
        price = session.exec(
            select(Price).where(Price.interval == "month").order_by(Price.amount)
        ).first()
        sub = factories.make_subscription_row(session, CLOCK, app_db["alice"], price)
        session.commit()
    counts = {"statements": 0, "session_checks": 0, "list_reads": 0}
    files: set[str] = set()

    def on_statement(*_args):
        counts["statements"] += 1

    def profile(frame, event_name, _arg):
        if event_name == "call" and "/portal_app/" in frame.f_code.co_filename:
            files.add(frame.f_code.co_filename.split("/portal_app/", 1)[1])

    check, listing = guard_module._check_session, subscription_service.list_for_customer

    def counted_check(*args, **kwargs):
        counts["session_checks"] += 1
        return check(*args, **kwargs)

    def counted_listing(*args, **kwargs):
        counts["list_reads"] += 1
        return listing(*args, **kwargs)

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        root.router_data = root._update_router_vars(
            {constants.RouteVar.PATH: page_path}, root.router_data
        )
        state = await root.get_state(SubscriptionsState)
        await call(root, SubscriptionsState, "open_change", sub.id)
        first = state.options[0]
        price_id = first["price_id"] if isinstance(first, dict) else first.price_id
        await call(root, SubscriptionsState, "choose_price", price_id)
        engine = db.get_engine()
        event.listen(engine, "before_cursor_execute", on_statement)
        guard_module._check_session = counted_check
        subscription_service.list_for_customer = counted_listing
        sys.setprofile(profile)
        threading.setprofile(profile)
        # fresh worker threads, so the profile also sees the handlers' `to_thread` work
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
        try:
            result = await call(root, SubscriptionsState, "confirm_change")
            if "redirect" in str(result):
                await call(root, NavState, "load")
                await call(root, SubscriptionsState, "load")
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
            guard_module._check_session = check
            subscription_service.list_for_customer = listing
            event.remove(engine, "before_cursor_execute", on_statement)
        return result, state

    result, state = run(scenario())
    return result, state, counts, files


def test_a_plan_change_on_the_list_page_checks_the_session_once(app_db):
    result, state, counts, files = _trace_plan_change(app_db, "/subscriptions")
    assert "redirect" not in str(result)
    assert len(state.items) == 1 and not state.changing_id
    print("plan change trace (list page):", counts, len(files), sorted(files))
    assert counts["list_reads"] == 1
    assert counts["session_checks"] == 1  # the confirm; no page load follows


def test_a_plan_change_from_a_change_link_reads_the_list_once(app_db):
    result, state, counts, files = _trace_plan_change(app_db, "/subscriptions/[id]/change")
    assert "redirect" in str(result)
    assert len(state.items) == 1
    print("plan change trace (change link):", counts, len(files), sorted(files))
    assert counts["list_reads"] == 1
    assert counts["session_checks"] == 3  # confirm, then the page's two loaders
