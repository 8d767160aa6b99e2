"""Free trials: the days a customer gets, starting one (once per customer and product), and the
billing clock's notice, conversion and end of a trial."""

import threading
import time
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal_app.clock import add_months
from portal_app.db import make_engine, session_scope
from portal_app.models import (
    Invoice,
    OutboxEmail,
    Payment,
    Plan,
    Product,
    SandboxCharge,
    Subscription,
    TrialUse,
)
from portal_app.services import (
    audit,
    billing_clock,
    features,
    notification_prefs,
    portal_home_view,
    subscriptions_view,
    trial_ends,
    trials,
)
from portal_app.services.errors import SubscriptionError, TrialError
from tests import factories
from tests.conftest import START

ADMIN = audit.SYSTEM
DAYS = 14


def _trial(session, clock, customer, price, days=DAYS) -> Subscription:
    """A subscription row put on a trial through the service, as checkout does."""
    sub = factories.make_subscription_row(session, clock, customer, price)
    trials.start(session, clock, subscription=sub, plan=session.get(Plan, price.plan_id), days=days)
    session.flush()
    return sub


def _advance(engine, clock, gateway, delta):
    clock.advance(delta)
    return billing_clock.advance(engine, clock, gateway)


def _mails(engine, kind):
    with Session(engine) as s:
        return list(s.exec(select(OutboxEmail).where(OutboxEmail.kind == kind)))


def _rows(engine, model):
    with Session(engine) as s:
        return list(s.exec(select(model)))


# --- trial_days_for and start ---------------------------------------------------------------


def test_trial_days_for_takes_override_then_plan_and_zero_once_used(
    session, clock, catalog, customer
):
    pro = catalog.plans["Pro"]
    pro.trial_days = DAYS
    days = trials.trial_days_for
    assert days(session, customer_id=customer.id, plan=pro, override=None) == DAYS
    assert days(session, customer_id=customer.id, plan=pro, override=7) == 7
    assert days(session, customer_id=customer.id, plan=pro, override=0) == 0
    assert days(session, customer_id=None, plan=catalog.plans["Basic"], override=None) == 0
    _trial(session, clock, customer, catalog.monthly["Basic"])
    # used on Basic: no trial on any plan of the same product, even with an override
    assert days(session, customer_id=customer.id, plan=pro, override=None) == 0
    assert days(session, customer_id=customer.id, plan=pro, override=30) == 0
    assert days(session, customer_id=None, plan=pro, override=None) == DAYS  # a new visitor
    other = Product(merchant_id=catalog.merchant.id, name="Desk")
    session.add(other)
    session.flush()
    desk = Plan(merchant_id=catalog.merchant.id, product_id=other.id, name="Desk", trial_days=5)
    assert days(session, customer_id=customer.id, plan=desk, override=None) == 5


def test_start_puts_the_subscription_on_trial_and_records_the_use(
    session, clock, catalog, customer
):
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    end = clock.now() + timedelta(days=DAYS)
    assert sub.status == "trialing"
    assert (sub.current_period_start, sub.current_period_end, sub.trial_end) == (
        clock.now(),
        end,
        end,
    )
    assert sub.trial_notice_sent is False
    use = session.get(TrialUse, (customer.id, catalog.product.id))
    assert (use.subscription_id, use.started_at) == (sub.id, clock.now())


def test_a_second_trial_of_the_product_is_refused(session, clock, catalog, customer):
    first = _trial(session, clock, customer, catalog.monthly["Pro"])
    factories.cancel_subscription(session, clock, customer, first, False)  # ended at once
    again = factories.make_subscription_row(session, clock, customer, catalog.monthly["Basic"])
    with factories.refused(TrialError, "trial_used"):
        trials.start(session, clock, subscription=again, plan=catalog.plans["Basic"], days=DAYS)
    assert again.status == "active"  # untouched: the caller's transaction rolls it back
    assert len(session.exec(select(TrialUse)).all()) == 1


def test_two_concurrent_trial_starts_give_one_trial(engine, session, clock, catalog, customer):
    session.commit()
    url = engine.url.render_as_string(hide_password=False)
    barrier = threading.Barrier(2)
    outcomes: list = [None, None]

    def run(index, _work):
        own = make_engine(url)
        try:
            barrier.wait(60)
            with session_scope(own) as s:
                who = s.get(type(customer), customer.id)
                sub = factories.make_subscription_row(s, clock, who, catalog.monthly["Pro"])
                plan = s.get(Plan, catalog.plans["Pro"].id)
                trials.start(s, clock, subscription=sub, plan=plan, days=DAYS)
                time.sleep(0.3)  # hold the transaction open while the other one tries
                outcomes[index] = sub.id
        except Exception as exc:  # asserted on below
            outcomes[index] = exc
        finally:
            own.dispose()

    factories.run_threads(run, [None, None])
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and getattr(errors[0], "code", None) == "trial_used", outcomes
    with Session(engine) as s:
        assert len(s.exec(select(TrialUse)).all()) == 1
        trialing = s.exec(select(Subscription).where(Subscription.status == "trialing")).all()
        assert [t.id for t in trialing] == [o for o in outcomes if isinstance(o, int)]


# --- the billing clock at a trial's end -----------------------------------------------------


def test_a_trial_with_a_card_converts_at_its_end(
    engine, session, clock, gateway, catalog, customer, card
):
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    trial_end = sub.trial_end
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=DAYS - 1))
    assert report.trials_converted == 0
    report = _advance(engine, clock, gateway, timedelta(days=2))
    assert (report.trials_converted, report.renewed, report.charged) == (1, 1, 1)
    with Session(engine) as s:
        fresh = s.get(Subscription, sub.id)
        assert fresh.status == "active"
        assert fresh.current_period_start == trial_end
        assert fresh.current_period_end == add_months(trial_end, 1)
        (invoice,) = s.exec(select(Invoice)).all()
        assert (invoice.status, invoice.total, invoice.billing_reason) == (
            "paid",
            2000,
            "subscription_cycle",
        )
        assert (invoice.period_start, invoice.created_at) == (trial_end, trial_end)
        (charge,) = s.exec(select(SandboxCharge)).all()
        assert charge.amount == 2000
        (event,) = factories.audit_events(s, "subscription.trial_converted")
        assert event.after["status"] == "active" and event.after["invoice_id"] == invoice.id


def test_a_declined_card_at_conversion_goes_past_due_with_a_retry(
    engine, session, clock, gateway, catalog, customer
):
    factories.add_gateway_card(session, clock, gateway, customer, "4000000000009995")
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=DAYS))  # the retry is a day on
    assert (report.trials_converted, report.payment_failed) == (1, 1)
    with Session(engine) as s:
        assert s.get(Subscription, sub.id).status == "past_due"
        invoice = s.exec(select(Invoice)).one()
        assert invoice.status == "open" and invoice.total == 2000
        assert invoice.next_retry_at == invoice.finalized_at + timedelta(days=1)
    assert len(_mails(engine, "invoice_reminder")) == 1
    report = _advance(engine, clock, gateway, timedelta(days=1))
    assert report.retried == 1
    with Session(engine) as s:
        assert s.exec(select(Invoice)).one().attempt_count == 2


def test_a_trial_without_a_card_ends_and_mails_the_customer(
    engine, session, clock, gateway, catalog, customer
):
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    trial_end = sub.trial_end
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=DAYS + 1))
    assert (report.trials_ended, report.ended, report.trials_converted) == (1, 1, 0)
    with Session(engine) as s:
        fresh = s.get(Subscription, sub.id)
        assert (fresh.status, fresh.ended_at) == ("canceled", trial_end)
        assert s.exec(select(Invoice)).all() == []
        (event,) = factories.audit_events(s, "subscription.trial_ended")
        assert event.after["reason"] == "no_card"
    (mail,) = _mails(engine, "trial_ended")
    assert mail.to_address == customer.email and "nothing was charged" in mail.body
    assert _rows(engine, SandboxCharge) == []


@pytest.mark.parametrize("mode", ["immediately", "period_end"])
def test_cancel_during_a_trial_ends_it_at_the_trial_end_without_charge(
    engine, session, clock, gateway, catalog, customer, card, mode
):
    features.save(session, clock, catalog.merchant.id, {"cancel.mode": mode}, ADMIN)
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    trial_end = sub.trial_end
    clock.advance(timedelta(days=2))
    factories.cancel_subscription(session, clock, customer, sub)
    assert (sub.status, sub.cancel_at_period_end) == ("trialing", True)
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=DAYS))
    assert (report.trials_ended, report.trials_converted, report.charged) == (1, 0, 0)
    with Session(engine) as s:
        fresh = s.get(Subscription, sub.id)
        assert (fresh.status, fresh.ended_at) == ("canceled", trial_end)
        assert s.exec(select(Invoice)).all() == [] and s.exec(select(Payment)).all() == []
    assert _rows(engine, SandboxCharge) == []
    assert _mails(engine, "renewal_notice") == []  # nothing to warn about


def test_cancel_now_during_a_trial_ends_it_now(session, clock, catalog, customer, card):
    features.save(session, clock, catalog.merchant.id, {"cancel.mode": "period_end"}, ADMIN)
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    clock.advance(timedelta(days=3))
    factories.cancel_subscription(session, clock, customer, sub, False)
    assert (sub.status, sub.ended_at) == ("canceled", clock.now())
    assert session.exec(select(Invoice)).all() == []


def test_undoing_a_cancel_during_a_trial_lets_it_convert(
    engine, session, clock, gateway, catalog, customer, card
):
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    factories.cancel_subscription(session, clock, customer, sub)
    factories.reactivate_subscription(session, clock, gateway, customer, sub)
    assert (sub.status, sub.cancel_at_period_end) == ("trialing", False)
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=DAYS + 1))
    assert (report.trials_converted, report.charged) == (1, 1)


def test_plan_changes_and_pauses_wait_for_the_trial_end(session, clock, catalog, customer, card):
    features.save(session, clock, catalog.merchant.id, {"subscriptions.pause": True}, ADMIN)
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    with factories.refused(SubscriptionError, "trialing"):
        factories.preview_change(session, clock, customer, sub, catalog.monthly["Business"])
    with factories.refused(SubscriptionError, "trialing"):
        factories.pause_subscription(session, clock, customer, sub, None)
    assert sub.status == "trialing"


# --- the trial-ending notice ----------------------------------------------------------------


def test_the_notice_goes_three_days_before_the_end_once(
    engine, session, clock, gateway, catalog, customer, card
):
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    trial_end = sub.trial_end
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=DAYS - 3, seconds=-1))
    assert report.trial_notices == 0 and _mails(engine, "renewal_notice") == []
    report = _advance(engine, clock, gateway, timedelta(seconds=1))
    assert report.trial_notices == 1
    (mail,) = _mails(engine, "renewal_notice")
    assert mail.created_at == trial_end - timedelta(days=3)
    assert "ends on 29 Jan 2026" in mail.body and "$20.00" in mail.body
    assert "Visa •••• 4242" in mail.body
    report = _advance(engine, clock, gateway, timedelta(days=2))
    assert report.trial_notices == 0
    _advance(engine, clock, gateway, timedelta(days=2))  # converts
    assert len(_mails(engine, "renewal_notice")) == 1
    with Session(engine) as s:
        assert s.get(Subscription, sub.id).trial_notice_sent is True


def test_the_notice_without_a_card_says_the_subscription_ends(
    engine, session, clock, gateway, catalog, customer
):
    _trial(session, clock, customer, catalog.monthly["Pro"])
    session.commit()
    _advance(engine, clock, gateway, timedelta(days=DAYS - 2))
    (mail,) = _mails(engine, "renewal_notice")
    assert "no card on file" in mail.body and "$" not in mail.body


def test_no_notice_when_the_customer_or_the_merchant_turned_them_off(
    engine, session, clock, gateway, catalog, customer, card
):
    notification_prefs.update_preferences(
        session,
        clock,
        customer_id=customer.id,
        changes={"renewal_notices": False},
        actor=audit.Actor.customer(customer.id),
    )
    other = factories.make_customer(session, clock, catalog.merchant, "ana@example.com")
    factories.make_card(session, clock, other)
    sub = _trial(session, clock, customer, catalog.monthly["Pro"])
    _trial(session, clock, other, catalog.monthly["Pro"])
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=DAYS - 2))
    assert [m.customer_id for m in _mails(engine, "renewal_notice")] == [other.id]
    assert report.trial_notices == 1
    with Session(engine) as s:  # handled (not sent): not due again
        assert s.get(Subscription, sub.id).trial_notice_sent is True
        assert billing_clock.due_work(s, clock.now()).trial_notices == []
    features.save(
        session, clock, catalog.merchant.id, {"notifications.renewal_notices": False}, ADMIN
    )
    third = factories.make_customer(session, clock, catalog.merchant, "li@example.com")
    _trial(session, clock, third, catalog.monthly["Pro"])
    session.commit()
    _advance(engine, clock, gateway, timedelta(days=DAYS - 2))
    assert len(_mails(engine, "renewal_notice")) == 1


# --- re-runs --------------------------------------------------------------------------------


def test_a_rerun_after_conversion_charges_nothing_again(
    engine, session, clock, gateway, catalog, customer, card
):
    _trial(session, clock, customer, catalog.monthly["Pro"])
    session.commit()
    clock.advance(timedelta(days=DAYS + 1))
    with Session(engine) as s:  # a worker dies before committing its batch
        report = billing_clock.run_batch(s, clock, gateway, now=clock.now())
        assert report.trials_converted == 1
        s.rollback()
    first = billing_clock.advance(engine, clock, gateway)
    again = billing_clock.advance(engine, clock, gateway)
    assert (first.trials_converted, again.trials_converted, again.charged) == (1, 0, 0)
    with Session(engine) as s:
        assert len(s.exec(select(SandboxCharge)).all()) == 1  # the rolled-back run's charge
        assert len(s.exec(select(Invoice)).all()) == 1
        assert len(s.exec(select(Payment).where(Payment.status == "succeeded")).all()) == 1


def test_a_long_jump_converts_then_renews(engine, session, clock, gateway, catalog, customer, card):
    _trial(session, clock, customer, catalog.monthly["Pro"])
    session.commit()
    report = _advance(engine, clock, gateway, timedelta(days=DAYS + 40))
    assert (report.trials_converted, report.renewed, report.trial_notices) == (1, 2, 0)
    with Session(engine) as s:
        assert [i.total for i in factories.renewal_invoices(s)] == [2000, 2000]


def test_the_due_trials_are_read_off_the_due_index(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite")
    with Session(engine) as s:
        for query in (trial_ends.ends_due, trial_ends.notices_due):
            column, status, when = query(START)
            statement = select(column).where(status, when)
            compiled = statement.compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
            assert "ix_subscription_due" in str(plan)


# --- what the customer sees -----------------------------------------------------------------


def test_the_portal_shows_the_trial_and_its_end(session, clock, catalog, customer, card):
    _trial(session, clock, customer, catalog.monthly["Pro"])
    (row,) = subscriptions_view.subscription_rows(session, clock, customer_id=customer.id)
    assert (row.status, row.status_label) == ("trialing", "Trial — ends on 29 Jan 2026")
    signed_in = factories.customer_signed_in(session, clock, customer)
    overview = portal_home_view.overview(
        session, clock, customer_id=customer.id, session_row_id=signed_in.session_id
    )
    assert overview.subscriptions[0].status == "Trial — ends on 29 Jan 2026"
    assert overview.next_invoice == "$20.00 on 29 Jan 2026"


def test_a_trial_without_a_card_shows_no_next_invoice(session, clock, catalog, customer):
    _trial(session, clock, customer, catalog.monthly["Pro"])
    signed_in = factories.customer_signed_in(session, clock, customer)
    overview = portal_home_view.overview(
        session, clock, customer_id=customer.id, session_row_id=signed_in.session_id
    )
    assert overview.next_invoice == ""


def test_a_trial_counts_nothing_else(session, clock, catalog, customer):
    """A trialing subscription is not due as a renewal (BILLABLE is active and past due)."""
    _trial(session, clock, customer, catalog.monthly["Pro"])
    due = billing_clock.due_work(session, clock.now() + timedelta(days=DAYS + 1))
    assert (due.renewals, len(due.trials)) == ([], 1)
