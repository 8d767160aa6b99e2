"""The cancellation flow: survey, offers routed by reason, the once-per-customer discount, outcomes
and the save rate, through the service layer only."""

import threading
from datetime import timedelta
from fractions import Fraction

import pytest
from sqlmodel import Session, func, select

from portal_app.models import (
    AuditEvent,
    CancellationAttempt,
    Invoice,
    Plan,
    RetentionOffer,
    RetentionRedemption,
    ScheduledChange,
    Subscription,
)
from portal_app.services import (
    audit,
    billing_clock,
    cancellation,
    cancellation_offers,
    cancellation_stats,
    features,
    subscriptions,
)
from portal_app.services.errors import (
    ConcurrentChange,
    FeatureDisabled,
    NotFound,
    PortalError,
    SubscriptionError,
)
from tests import factories
from tests.factories import refused

STAFF = audit.Actor.merchant(1)


def _actor(customer):
    return audit.Actor.customer(customer.id)


def _step(step, session, clock, customer, attempt, **kw):
    """A step of the flow taken by the customer on their attempt."""
    return step(
        session, clock, customer_id=customer.id, attempt_id=attempt.id, actor=_actor(customer), **kw
    )


def _set(session, clock, merchant_id, **values):
    features.save(
        session,
        clock,
        merchant_id,
        {key.replace("__", "."): value for key, value in values.items()},
        STAFF,
    )


def _offer(session, clock, merchant, percent=25, cycles=3, reasons=(), active=True, name=None):
    offer = RetentionOffer(
        merchant_id=merchant.id,
        name=name or f"{percent}% off for {cycles}",
        percent_off=percent,
        duration_cycles=cycles,
        reasons=list(reasons),
        active=active,
        created_at=clock.now(),
    )
    session.add(offer)
    session.flush()
    return offer


def _start(session, clock, customer, sub):
    return cancellation.start(
        session, clock, customer_id=customer.id, subscription_id=sub.id, actor=_actor(customer)
    )


def _survey(session, clock, customer, attempt, reason, comment=""):
    return _step(
        cancellation.answer_survey,
        session,
        clock,
        customer,
        attempt,
        reason=reason,
        comment=comment,
    )


def _offers(session, clock, customer, attempt):
    return cancellation.offers(session, clock, customer_id=customer.id, attempt_id=attempt.id)


def _accept(session, clock, customer, attempt, offer_id):
    return _step(cancellation.accept_offer, session, clock, customer, attempt, offer_id=offer_id)


def _renew(session, engine, clock, gateway):
    """Commit, let the billing clock renew a month later, and return the one renewal invoice."""
    session.commit()
    clock.advance(timedelta(days=32))
    billing_clock.advance(engine, clock, gateway)
    with Session(engine) as check:
        return check.exec(
            select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
        ).one()


def _events(session, action=None):
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return session.exec(query).all()


def _event_count(session):
    return session.exec(select(func.count()).select_from(AuditEvent)).one()


@pytest.fixture
def sub(session, clock, gateway, catalog, customer, card):
    """An active Pro monthly subscription (2000/month), the first period paid."""
    return factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])


@pytest.fixture
def everything_on(session, clock, catalog):
    _set(session, clock, catalog.merchant.id, subscriptions__pause=True, cancel__pause_instead=True)


@pytest.fixture
def other(session, clock, gateway, catalog):
    """A second customer of the same merchant with their own subscription."""
    customer = factories.make_customer(session, clock, catalog.merchant, "other@example.com")
    factories.add_gateway_card(session, clock, gateway, customer)
    return customer, factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])


# --- start and survey ---------------------------------------------------------------------------


def test_start_opens_an_attempt_once_and_audits_it(session, clock, customer, sub):
    attempt = _start(session, clock, customer, sub)
    assert (attempt.outcome, attempt.finished_at) == ("started", None)
    assert (attempt.customer_id, attempt.subscription_id) == (customer.id, sub.id)
    [event] = _events(session, "cancellation.start")
    assert event.target_id == str(attempt.id) and event.customer_id == customer.id
    again = _start(session, clock, customer, sub)
    assert again.id == attempt.id
    assert len(_events(session, "cancellation.start")) == 1
    assert session.exec(select(func.count()).select_from(CancellationAttempt)).one() == 1


def test_start_refused_when_cancelling_is_off(session, clock, catalog, customer, sub):
    _set(session, clock, catalog.merchant.id, subscriptions__cancel=False)
    with pytest.raises(FeatureDisabled):
        _start(session, clock, customer, sub)
    assert session.exec(select(CancellationAttempt)).all() == []


def test_start_refused_for_subscription_already_set_to_cancel_or_paused(
    session, clock, catalog, customer, sub
):
    factories.cancel_subscription(session, clock, customer, sub, at_period_end=True)
    with refused(SubscriptionError, "already_canceling"):
        _start(session, clock, customer, sub)
    paused = factories.make_subscription_row(
        session, clock, customer, catalog.monthly["Basic"], status="paused"
    )
    with refused(SubscriptionError, "not_active"):
        _start(session, clock, customer, paused)
    assert session.exec(select(CancellationAttempt)).all() == []


def test_start_on_someone_elses_subscription_is_not_found(session, clock, customer, other):
    _, their_sub = other
    with pytest.raises(NotFound):
        _start(session, clock, customer, their_sub)


def test_survey_records_reason_and_stripped_comment(session, clock, customer, sub):
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "too_expensive", "  Budget cuts this year.  \n")
    assert attempt.reason == "too_expensive"
    assert attempt.comment == "Budget cuts this year."
    [event] = _events(session, "cancellation.survey")
    assert event.after == {"reason": "too_expensive", "has_comment": True}
    # a comment of exactly 2000 characters after stripping is fine
    _survey(session, clock, customer, attempt, "unused", "  " + "x" * 2000 + "  ")
    assert (attempt.reason, len(attempt.comment)) == ("unused", 2000)


def test_survey_refuses_bad_input_listing_every_problem_and_changes_nothing(
    session, clock, customer, sub
):
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "unused", "first")
    before = _event_count(session)
    with pytest.raises(SubscriptionError) as caught:
        _survey(session, clock, customer, attempt, "not_a_reason", "y" * 2001)
    assert "Choose one of the listed reasons." in str(caught.value)
    assert "2000 characters" in str(caught.value)
    assert caught.value.code == "invalid_survey"
    assert (attempt.reason, attempt.comment) == ("unused", "first")
    assert _event_count(session) == before
    with pytest.raises(SubscriptionError, match="listed reasons"):
        _survey(session, clock, customer, attempt, "", "")


def test_survey_uses_the_merchants_own_reasons(session, clock, catalog, customer, sub):
    _set(session, clock, catalog.merchant.id, cancel__reasons=["price", "bugs"])
    attempt = _start(session, clock, customer, sub)
    with pytest.raises(SubscriptionError):
        _survey(session, clock, customer, attempt, "too_expensive")
    _survey(session, clock, customer, attempt, "bugs")
    assert attempt.reason == "bugs"


def test_survey_refused_when_the_survey_is_off(session, clock, catalog, customer, sub):
    attempt = _start(session, clock, customer, sub)
    _set(session, clock, catalog.merchant.id, cancel__survey=False)
    with pytest.raises(FeatureDisabled):
        _survey(session, clock, customer, attempt, "too_expensive")
    assert attempt.reason == ""


# --- offers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("too_expensive", ("downgrade", "discount", "pause")),
        ("unused", ("pause", "downgrade", "discount")),
        ("too_complex", ("downgrade", "discount")),
        ("missing_features", ("pause", "discount")),
        ("switched_service", ("discount",)),
        ("low_quality", ("discount",)),
        ("other", ("pause", "downgrade", "discount")),
    ],
)
def test_offers_are_routed_by_reason(
    session, clock, catalog, customer, sub, everything_on, reason, expected
):
    _offer(session, clock, catalog.merchant)
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, reason)
    shown = _offers(session, clock, customer, attempt)
    assert shown.order == expected
    assert (shown.pause is not None) == ("pause" in expected)
    assert (shown.downgrade is not None) == ("downgrade" in expected)
    assert shown.discount is not None


def test_offers_without_a_survey_answer_show_every_enabled_kind(
    session, clock, catalog, customer, sub, everything_on
):
    _offer(session, clock, catalog.merchant, reasons=["too_expensive"])
    attempt = _start(session, clock, customer, sub)
    shown = _offers(session, clock, customer, attempt)
    # an offer aimed at a reason is not shown when no reason was given
    assert shown.order == ("pause", "downgrade")
    assert shown.discount is None


def test_offer_aimed_at_the_reason_wins_over_a_generic_one(session, clock, catalog, customer, sub):
    generic = _offer(session, clock, catalog.merchant, percent=10, cycles=1)
    aimed = _offer(session, clock, catalog.merchant, percent=25, cycles=3, reasons=["unused"])
    _offer(session, clock, catalog.merchant, percent=90, cycles=9, reasons=["unused"], active=False)
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "unused")
    assert _offers(session, clock, customer, attempt).discount.offer_id == aimed.id
    _survey(session, clock, customer, attempt, "low_quality")
    assert _offers(session, clock, customer, attempt).discount.offer_id == generic.id


def test_no_discount_when_no_offer_fits_the_reason(session, clock, catalog, customer, sub):
    _offer(session, clock, catalog.merchant, reasons=["unused"])
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "switched_service")
    shown = _offers(session, clock, customer, attempt)
    assert shown.discount is None and shown.order == () and not shown.any


def _record_shown(session, clock, customer, attempt, found):
    return _step(cancellation.record_offers_shown, session, clock, customer, attempt, offers=found)


def test_offers_shown_are_recorded_once_in_order_and_audited(
    session, clock, catalog, customer, sub, everything_on
):
    _offer(session, clock, catalog.merchant)
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "unused")
    first = _offers(session, clock, customer, attempt)
    assert attempt.offers_shown == ""  # looking at the offers writes nothing by itself
    _record_shown(session, clock, customer, attempt, first)
    assert attempt.offers_shown == "pause,downgrade,discount"
    [event] = _events(session, "cancellation.offers_shown")
    assert (event.target_id, event.customer_id) == (str(attempt.id), customer.id)
    assert event.after == {"offers_shown": "pause,downgrade,discount", "reason": "unused"}
    # Answering again shows other offers; the first showing is what the funnel counts.
    _survey(session, clock, customer, attempt, "switched_service")
    second = _offers(session, clock, customer, attempt)
    assert second.order == ("discount",)
    _record_shown(session, clock, customer, attempt, second)
    _record_shown(session, clock, customer, attempt, first)
    assert attempt.offers_shown == "pause,downgrade,discount"
    assert len(_events(session, "cancellation.offers_shown")) == 1
    assert cancellation_stats.save_rate(session, catalog.merchant.id)["offers_shown"] == 1


def test_nothing_to_show_records_nothing(session, clock, catalog, customer, sub):
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "switched_service")  # no offer fits the reason
    found = _offers(session, clock, customer, attempt)
    assert not found.any
    before = _event_count(session)
    _record_shown(session, clock, customer, attempt, found)
    assert attempt.offers_shown == "" and _event_count(session) == before
    assert cancellation_stats.save_rate(session, catalog.merchant.id)["offers_shown"] == 0


def test_offers_shown_are_scoped_to_the_customer_and_their_attempt(
    session, clock, catalog, customer, sub, other, everything_on
):
    their_customer, their_sub = other
    theirs = _start(session, clock, their_customer, their_sub)
    their_offers = _offers(session, clock, their_customer, theirs)
    mine = _start(session, clock, customer, sub)
    before = _event_count(session)
    with pytest.raises(NotFound, match="Cancellation not found"):
        _record_shown(session, clock, customer, theirs, their_offers)
    with refused(SubscriptionError, "other_cancellation"):
        _record_shown(session, clock, customer, mine, their_offers)
    assert (theirs.offers_shown, mine.offers_shown) == ("", "")
    assert _event_count(session) == before


def test_offers_shown_after_the_attempt_finished_are_not_recorded(
    session, clock, catalog, customer, sub, everything_on
):
    attempt = _start(session, clock, customer, sub)
    found = _offers(session, clock, customer, attempt)
    _step(cancellation.abandon, session, clock, customer, attempt)
    _record_shown(session, clock, customer, attempt, found)
    assert attempt.offers_shown == ""
    assert _events(session, "cancellation.offers_shown") == []


def test_discount_offer_states_the_exact_effect(session, clock, catalog, customer, sub):
    offer = _offer(session, clock, catalog.merchant, percent=25, cycles=3, name="Stay with us")
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "too_expensive")
    discount = _offers(session, clock, customer, attempt).discount
    assert discount.offer_id == offer.id
    assert (discount.regular_amount, discount.discount_per_renewal) == (2000, 500)
    assert (discount.amount_per_renewal, discount.renewals, discount.total_saving) == (
        1500,
        3,
        1500,
    )
    assert discount.first_renewal_at == sub.current_period_end
    assert discount.summary() == (
        "25% off your next 3 renewals: $15.00 instead of $20.00 per month, $15.00 saved in "
        "total. Then $20.00 per month."
    )


def test_discount_effect_uses_the_price_of_a_scheduled_change(
    session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Business"])
    factories.change_plan(session, clock, gateway, customer, sub, catalog.monthly["Basic"])
    _offer(session, clock, catalog.merchant, percent=50, cycles=1)
    attempt = _start(session, clock, customer, sub)
    discount = _offers(session, clock, customer, attempt).discount
    # the next renewal is billed on Basic (1000), so that is what the discount applies to
    assert (discount.regular_amount, discount.amount_per_renewal) == (1000, 500)


def test_downgrade_suggestion_is_the_nearest_cheaper_plan_with_its_preview(
    session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.annual["Business"])
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "too_expensive")
    suggestion = _offers(session, clock, customer, attempt).downgrade
    assert suggestion.price_id == catalog.annual["Pro"].id
    assert (suggestion.amount, suggestion.interval) == (20000, "year")
    preview = suggestion.preview
    assert (preview.direction, preview.timing, preview.new_price_id) == (
        "downgrade",
        "period_end",
        catalog.annual["Pro"].id,
    )
    assert preview.next_renewal_amount == 20000
    assert preview.next_renewal_at == sub.current_period_end
    assert preview.version == sub.version
    assert "Nothing to pay today" in suggestion.summary()


def test_no_downgrade_suggestion_on_the_lowest_plan(
    session, clock, gateway, catalog, customer, card
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "too_expensive")
    assert _offers(session, clock, customer, attempt).downgrade is None


@pytest.mark.parametrize(
    ("toggle", "missing"),
    [
        ("cancel.pause_instead", "pause"),
        ("subscriptions.pause", "pause"),
        ("cancel.downgrade_suggestion", "downgrade"),
        ("subscriptions.downgrade", "downgrade"),
        ("cancel.retention_offers", "discount"),
    ],
)
def test_each_offer_follows_its_toggles(
    session, clock, catalog, customer, sub, everything_on, toggle, missing
):
    _offer(session, clock, catalog.merchant)
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "other")
    assert _offers(session, clock, customer, attempt).order == ("pause", "downgrade", "discount")
    features.save(session, clock, catalog.merchant.id, {toggle: False}, STAFF)
    shown = _offers(session, clock, customer, attempt)
    assert missing not in shown.order and getattr(shown, missing) is None
    assert len(shown.order) == 2


def test_pause_suggestion_states_the_merchants_limits(
    session, clock, catalog, customer, sub, everything_on
):
    _set(session, clock, catalog.merchant.id, pause__max_days=14)
    attempt = _start(session, clock, customer, sub)
    pause = _offers(session, clock, customer, attempt).pause
    assert pause.max_days == 14 and pause.allow_open_ended is False
    assert pause.suggested_resume_at == clock.now() + timedelta(days=14)
    assert pause.latest_resume_at == clock.now() + timedelta(days=14)


def test_offers_change_nothing(session, clock, catalog, customer, sub, everything_on):
    _offer(session, clock, catalog.merchant)
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "other")
    before = (_event_count(session), sub.version)
    _offers(session, clock, customer, attempt)
    assert (_event_count(session), sub.version) == before
    assert session.exec(select(ScheduledChange)).all() == []
    assert attempt.outcome == "started"


# --- accepting the discount ---------------------------------------------------------------------


def test_accepted_discount_is_billed_at_the_next_renewals(
    engine, session, clock, gateway, catalog, customer, sub
):
    offer = _offer(session, clock, catalog.merchant, percent=25, cycles=2)
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "too_expensive")
    shown = _offers(session, clock, customer, attempt).discount
    version = sub.version
    _accept(session, clock, customer, attempt, offer.id)
    assert (sub.discount_percent, sub.discount_cycles_remaining) == (25, 2)
    assert sub.version == version + 1  # claimed: a preview computed before is now stale
    assert (attempt.outcome, attempt.offer_id) == ("saved_discount", offer.id)
    assert attempt.finished_at == clock.now()
    redemption = session.get(RetentionRedemption, customer.id)
    assert (redemption.offer_id, redemption.subscription_id) == (offer.id, sub.id)
    [event] = _events(session, "cancellation.saved_discount")
    assert event.before["discount_percent"] == 0
    assert event.after["discount_percent"] == 25 and event.after["offer_id"] == offer.id
    session.commit()

    clock.advance(timedelta(days=95))
    report = billing_clock.advance(engine, clock, gateway)
    assert report.renewed == 3
    with Session(engine) as check:
        totals = [invoice.total for invoice in factories.renewal_invoices(check)]
        fresh = check.get(Subscription, sub.id)
    assert totals == [shown.amount_per_renewal] * 2 + [shown.regular_amount]
    assert totals == [1500, 1500, 2000]
    assert (fresh.discount_percent, fresh.discount_cycles_remaining) == (0, 0)


def test_discount_rounds_half_even_as_the_renewal_does(
    engine, session, clock, gateway, catalog, customer, card
):
    plan = Plan(merchant_id=catalog.merchant.id, product_id=catalog.product.id, name="Odd", tier=9)
    session.add(plan)
    session.flush()
    price = factories.make_price(session, plan, 1050)
    sub = factories.subscribe(session, clock, gateway, customer, price)
    offer = _offer(session, clock, catalog.merchant, percent=25, cycles=1)
    attempt = _start(session, clock, customer, sub)
    discount = _offers(session, clock, customer, attempt).discount
    assert (discount.discount_per_renewal, discount.amount_per_renewal) == (262, 788)  # 262.5
    _accept(session, clock, customer, attempt, offer.id)
    renewal = _renew(session, engine, clock, gateway)
    assert renewal.total == 788


def test_second_retention_discount_for_the_same_customer_is_refused(
    session, clock, gateway, catalog, customer, sub
):
    offer = _offer(session, clock, catalog.merchant)
    first = _start(session, clock, customer, sub)
    _accept(session, clock, customer, first, offer.id)
    second_sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Business"])
    second = _start(session, clock, customer, second_sub)
    assert _offers(session, clock, customer, second).discount is None
    before = (_event_count(session), second_sub.version)
    with pytest.raises(SubscriptionError) as caught:
        _accept(session, clock, customer, second, offer.id)
    assert caught.value.code == "offer_already_redeemed"
    assert "already used a retention offer" in str(caught.value)
    assert (second_sub.discount_percent, second_sub.discount_cycles_remaining) == (0, 0)
    assert (_event_count(session), second_sub.version) == before
    assert second.outcome == "started"


def test_primary_key_guard_refuses_inside_a_savepoint(
    session, clock, gateway, catalog, customer, sub, monkeypatch
):
    """The pre-check passed (as in a race); the primary key still refuses, and only the
    savepoint is undone: the session goes on and the other subscription is untouched."""
    offer = _offer(session, clock, catalog.merchant)
    _accept(session, clock, customer, _start(session, clock, customer, sub), offer.id)
    second_sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Business"])
    second = _start(session, clock, customer, second_sub)
    monkeypatch.setattr(cancellation, "redeemed", lambda _session, _customer_id: False)
    version = second_sub.version
    with pytest.raises(PortalError) as caught:
        _accept(session, clock, customer, second, offer.id)
    assert caught.value.code == "offer_already_redeemed"
    session.refresh(second_sub)
    assert (second_sub.version, second_sub.discount_percent) == (version, 0)
    assert session.get(RetentionRedemption, customer.id).subscription_id == sub.id
    # the transaction is still usable: the customer can go on and cancel
    _step(cancellation.confirm_cancel, session, clock, customer, second, at_period_end=True)
    session.commit()
    assert second.outcome == "canceled"


def _race(engine, works):
    barrier = threading.Barrier(len(works))
    outcomes = []

    def run(work):
        try:
            barrier.wait()
            with Session(engine, expire_on_commit=False) as s:
                work(s)
                s.commit()
            outcomes.append("ok")
        except Exception as exc:  # collected and asserted on below
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.mark.parametrize("precheck", [True, False], ids=["with_precheck", "primary_key_only"])
def test_concurrent_redemptions_by_one_customer_let_exactly_one_in(
    engine, session, clock, gateway, catalog, customer, sub, monkeypatch, precheck
):
    offer = _offer(session, clock, catalog.merchant)
    second_sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Business"])
    attempts = [_start(session, clock, customer, s) for s in (sub, second_sub)]
    session.commit()
    if not precheck:
        monkeypatch.setattr(cancellation, "redeemed", lambda _session, _customer_id: False)

    def accept(attempt_id):
        return lambda s: cancellation.accept_offer(
            s,
            clock,
            customer_id=customer.id,
            attempt_id=attempt_id,
            offer_id=offer.id,
            actor=_actor(customer),
        )

    outcomes = _race(engine, [accept(a.id) for a in attempts])
    assert outcomes.count("ok") == 1
    [refusal] = [o for o in outcomes if o != "ok"]
    assert isinstance(refusal, SubscriptionError) and refusal.code == "offer_already_redeemed"
    with Session(engine) as check:
        assert len(check.exec(select(RetentionRedemption)).all()) == 1
        discounted = [s.id for s in check.exec(select(Subscription)) if s.discount_cycles_remaining]
        assert len(discounted) == 1
        outcomes_now = sorted(a.outcome for a in check.exec(select(CancellationAttempt)))
        assert outcomes_now == ["saved_discount", "started"]
        assert audit.verify_chain(check, catalog.merchant.id).ok


def test_only_the_offer_shown_for_the_reason_can_be_accepted(
    session, clock, catalog, customer, sub
):
    aimed_elsewhere = _offer(session, clock, catalog.merchant, percent=90, reasons=["unused"])
    retired = _offer(session, clock, catalog.merchant, percent=80, active=False)
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "too_expensive")
    for offer in (aimed_elsewhere, retired):
        with refused(SubscriptionError, "offer_unavailable"):
            _accept(session, clock, customer, attempt, offer.id)
    foreign_merchant = factories.make_merchant(session, clock, "globex")
    foreign = _offer(session, clock, foreign_merchant)
    with pytest.raises(NotFound):
        _accept(session, clock, customer, attempt, foreign.id)
    with pytest.raises(NotFound):
        _accept(session, clock, customer, attempt, 999_999)
    assert session.exec(select(RetentionRedemption)).all() == []
    assert (sub.discount_percent, attempt.outcome) == (0, "started")


def test_discount_not_routed_for_reason_is_refused(session, clock, catalog, customer, sub):
    _set(session, clock, catalog.merchant.id, cancel__reasons=["bugs", "price"])
    offer = _offer(session, clock, catalog.merchant)
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "bugs")  # not in ROUTES: every kind is offered
    assert _offers(session, clock, customer, attempt).discount.offer_id == offer.id
    _survey(session, clock, customer, attempt, "price")
    cancellation_offers.ROUTES["price"] = ("pause",)
    try:
        with refused(SubscriptionError, "offer_unavailable"):
            _accept(session, clock, customer, attempt, offer.id)
    finally:
        del cancellation_offers.ROUTES["price"]


def test_accept_offer_refused_when_retention_offers_are_off(session, clock, catalog, customer, sub):
    offer = _offer(session, clock, catalog.merchant)
    attempt = _start(session, clock, customer, sub)
    _set(session, clock, catalog.merchant.id, cancel__retention_offers=False)
    with pytest.raises(FeatureDisabled):
        _accept(session, clock, customer, attempt, offer.id)
    assert session.get(RetentionRedemption, customer.id) is None


# --- pause and downgrade instead ----------------------------------------------------------------


def _pause(session, clock, customer, attempt, resume_at):
    return _step(cancellation.accept_pause, session, clock, customer, attempt, resume_at=resume_at)


def test_accept_pause_pauses_and_records_the_save(
    session, clock, catalog, customer, sub, everything_on
):
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "unused")
    resume_at = clock.now() + timedelta(days=30)
    _pause(session, clock, customer, attempt, resume_at)
    assert (sub.status, sub.resume_at) == ("paused", resume_at)
    assert (attempt.outcome, attempt.finished_at) == ("saved_pause", clock.now())
    assert len(_events(session, "subscription.pause")) == 1
    [event] = _events(session, "cancellation.saved_pause")
    assert event.after["resume_at"] == resume_at.isoformat()


def test_bad_pause_date_changes_nothing(session, clock, catalog, customer, sub, everything_on):
    attempt = _start(session, clock, customer, sub)
    before = _event_count(session)
    with pytest.raises(SubscriptionError, match="at most 90 days"):
        _pause(session, clock, customer, attempt, clock.now() + timedelta(days=91))
    with pytest.raises(SubscriptionError, match="in the future"):
        _pause(session, clock, customer, attempt, clock.now() - timedelta(days=1))
    assert (sub.status, attempt.outcome, _event_count(session)) == ("active", "started", before)


def test_accept_pause_follows_both_toggles(session, clock, catalog, customer, sub):
    attempt = _start(session, clock, customer, sub)
    resume_at = clock.now() + timedelta(days=10)
    _set(session, clock, catalog.merchant.id, subscriptions__pause=True)  # pause_instead off
    with pytest.raises(FeatureDisabled):
        _pause(session, clock, customer, attempt, resume_at)
    _set(
        session, clock, catalog.merchant.id, subscriptions__pause=False, cancel__pause_instead=True
    )
    with pytest.raises(FeatureDisabled):
        _pause(session, clock, customer, attempt, resume_at)
    assert (sub.status, attempt.outcome) == ("active", "started")


def test_accept_pause_refused_when_not_routed(
    session, clock, catalog, customer, sub, everything_on
):
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "switched_service")
    with refused(SubscriptionError, "pause_not_offered"):
        _pause(session, clock, customer, attempt, clock.now() + timedelta(days=10))
    assert sub.status == "active"


def _downgrade(session, clock, gateway, customer, attempt, price, **extra):
    return cancellation.accept_downgrade(
        session,
        clock,
        customer_id=customer.id,
        attempt_id=attempt.id,
        new_price_id=price.id,
        gateway=gateway,
        actor=_actor(customer),
        **extra,
    )


def _take_suggestion(session, clock, gateway, customer, attempt, price, suggestion):
    """Switch to `price` on the suggestion's preview: refused if the subscription changed since."""
    return _downgrade(
        session,
        clock,
        gateway,
        customer,
        attempt,
        price,
        expected_version=suggestion.preview.version,
    )


def test_accept_downgrade_schedules_the_cheaper_plan(
    engine, session, clock, gateway, catalog, customer, sub
):
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "too_expensive")
    suggestion = _offers(session, clock, customer, attempt).downgrade
    basic = catalog.monthly["Basic"]
    _take_suggestion(session, clock, gateway, customer, attempt, basic, suggestion)
    assert attempt.outcome == "saved_downgrade"
    change = subscriptions.pending_change(session, sub.id)
    assert (change.new_price_id, change.effective_at) == (
        catalog.monthly["Basic"].id,
        sub.current_period_end,
    )
    [event] = _events(session, "cancellation.saved_downgrade")
    assert event.after["timing"] == "period_end"
    renewal = _renew(session, engine, clock, gateway)
    assert renewal.total == 1000


def test_accept_downgrade_refuses_anything_but_a_cheaper_plan(
    session, clock, gateway, catalog, customer, sub
):
    attempt = _start(session, clock, customer, sub)
    for price in (catalog.monthly["Business"], catalog.annual["Basic"], catalog.annual["Pro"]):
        with refused(SubscriptionError, "not_cheaper"):
            _downgrade(session, clock, gateway, customer, attempt, price)
    foreign = factories.make_catalog(session, clock, "globex")
    with pytest.raises(NotFound):
        _downgrade(session, clock, gateway, customer, attempt, foreign.monthly["Basic"])
    assert subscriptions.pending_change(session, sub.id) is None
    assert (sub.price_id, attempt.outcome) == (catalog.monthly["Pro"].id, "started")


def test_accept_downgrade_with_a_stale_preview_is_a_conflict(
    session, clock, gateway, catalog, customer, sub
):
    attempt = _start(session, clock, customer, sub)
    suggestion = _offers(session, clock, customer, attempt).downgrade
    basic = catalog.monthly["Basic"]
    subscriptions.claim(session, sub, None)  # changed somewhere else in between
    with pytest.raises(ConcurrentChange):
        _take_suggestion(session, clock, gateway, customer, attempt, basic, suggestion)


@pytest.mark.parametrize("toggle", ["cancel.downgrade_suggestion", "subscriptions.downgrade"])
def test_accept_downgrade_follows_its_toggles(
    session, clock, gateway, catalog, customer, sub, toggle
):
    attempt = _start(session, clock, customer, sub)
    features.save(session, clock, catalog.merchant.id, {toggle: False}, STAFF)
    with pytest.raises(FeatureDisabled):
        _downgrade(session, clock, gateway, customer, attempt, catalog.monthly["Basic"])
    assert subscriptions.pending_change(session, sub.id) is None


# --- cancel, abandon, scoping -------------------------------------------------------------------


def _confirm(session, clock, customer, attempt, at_period_end=None):
    return _step(
        cancellation.confirm_cancel, session, clock, customer, attempt, at_period_end=at_period_end
    )


def test_confirm_cancel_needs_no_survey_or_offer(session, clock, catalog, customer, sub):
    _offer(session, clock, catalog.merchant)
    attempt = _start(session, clock, customer, sub)
    _confirm(session, clock, customer, attempt)
    assert sub.cancel_at_period_end and sub.status == "active"
    assert (attempt.outcome, attempt.finished_at) == ("canceled", clock.now())
    assert len(_events(session, "subscription.cancel_scheduled")) == 1
    [event] = _events(session, "cancellation.canceled")
    assert event.after["cancel_at_period_end"] is True


def test_confirm_cancel_immediately_when_the_merchant_lets_the_customer_choose(
    session, clock, catalog, customer, sub
):
    _set(session, clock, catalog.merchant.id, cancel__mode="customer_choice")
    attempt = _start(session, clock, customer, sub)
    _survey(session, clock, customer, attempt, "switched_service")
    _confirm(session, clock, customer, attempt, at_period_end=False)
    assert (sub.status, sub.ended_at) == ("canceled", clock.now())


def test_confirm_cancel_refused_timing_changes_nothing(session, clock, catalog, customer, sub):
    attempt = _start(session, clock, customer, sub)
    with pytest.raises(SubscriptionError, match="end of the billing period"):
        _confirm(session, clock, customer, attempt, at_period_end=False)
    assert (sub.status, sub.cancel_at_period_end, attempt.outcome) == ("active", False, "started")


def test_abandon_finishes_the_attempt_and_a_new_start_opens_another(
    session, clock, catalog, customer, sub
):
    attempt = _start(session, clock, customer, sub)
    _step(cancellation.abandon, session, clock, customer, attempt)
    assert (attempt.outcome, attempt.finished_at) == ("abandoned", clock.now())
    assert len(_events(session, "cancellation.abandoned")) == 1
    assert (sub.status, sub.cancel_at_period_end) == ("active", False)
    fresh = _start(session, clock, customer, sub)
    assert fresh.id != attempt.id


def _every_step(session, clock, gateway, catalog, customer, attempt, offer):
    """Each step of the flow on `attempt` as the customer, to call one by one."""
    return [
        lambda: _survey(session, clock, customer, attempt, "unused"),
        lambda: _offers(session, clock, customer, attempt),
        lambda: _accept(session, clock, customer, attempt, offer.id),
        lambda: _pause(session, clock, customer, attempt, clock.now() + timedelta(days=5)),
        lambda: _downgrade(session, clock, gateway, customer, attempt, catalog.monthly["Basic"]),
        lambda: _confirm(session, clock, customer, attempt),
        lambda: _step(cancellation.abandon, session, clock, customer, attempt),
    ]


def test_a_finished_attempt_refuses_every_further_step(
    session, clock, gateway, catalog, customer, sub, everything_on
):
    offer = _offer(session, clock, catalog.merchant)
    attempt = _start(session, clock, customer, sub)
    _step(cancellation.abandon, session, clock, customer, attempt)
    steps = _every_step(session, clock, gateway, catalog, customer, attempt, offer)
    for step in steps:
        with refused(SubscriptionError, "finished"):
            step()
    assert (attempt.outcome, sub.status, sub.discount_percent) == ("abandoned", "active", 0)


def test_someone_elses_attempt_is_not_found_at_every_step(
    session, clock, gateway, catalog, customer, sub, other, everything_on
):
    offer = _offer(session, clock, catalog.merchant)
    their_customer, their_sub = other
    theirs = _start(session, clock, their_customer, their_sub)
    before = _event_count(session)
    steps = [
        *_every_step(session, clock, gateway, catalog, customer, theirs, offer),
        lambda: cancellation.get_attempt(session, customer.id, theirs.id),
    ]
    for step in steps:
        with pytest.raises(NotFound, match="Cancellation not found"):
            step()
    assert (theirs.outcome, theirs.reason) == ("started", "")
    assert (their_sub.status, their_sub.cancel_at_period_end) == ("active", False)
    assert _event_count(session) == before


def test_steps_refused_once_the_merchant_turns_cancelling_off(
    session, clock, catalog, customer, sub
):
    attempt = _start(session, clock, customer, sub)
    _set(session, clock, catalog.merchant.id, subscriptions__cancel=False)
    with pytest.raises(FeatureDisabled):
        _offers(session, clock, customer, attempt)
    with pytest.raises(FeatureDisabled):
        _confirm(session, clock, customer, attempt)
    # leaving is always possible
    _step(cancellation.abandon, session, clock, customer, attempt)
    assert attempt.outcome == "abandoned"


# --- the save rate ------------------------------------------------------------------------------


def test_save_rate_counts_the_flow_outcomes(
    session, clock, gateway, catalog, customer, sub, other, everything_on
):
    offer = _offer(session, clock, catalog.merchant)
    # saved with the discount
    first = _start(session, clock, customer, sub)
    _survey(session, clock, customer, first, "too_expensive")
    _record_shown(session, clock, customer, first, _offers(session, clock, customer, first))
    _accept(session, clock, customer, first, offer.id)
    # saved with a pause
    their_customer, their_sub = other
    second = _start(session, clock, their_customer, their_sub)
    _survey(session, clock, their_customer, second, "unused")
    _pause(session, clock, their_customer, second, clock.now() + timedelta(days=20))
    # canceled, twice; abandoned once; one still open
    third_customer = factories.make_customer(session, clock, catalog.merchant, "c3@example.com")
    factories.add_gateway_card(session, clock, gateway, third_customer)
    for price in ("Basic", "Business"):
        third_sub = factories.subscribe(
            session, clock, gateway, third_customer, catalog.monthly[price]
        )
        attempt = _start(session, clock, third_customer, third_sub)
        _survey(session, clock, third_customer, attempt, "too_expensive")
        _confirm(session, clock, third_customer, attempt)
    last_sub = factories.subscribe(session, clock, gateway, third_customer, catalog.monthly["Pro"])
    abandoned = _start(session, clock, third_customer, last_sub)
    _step(cancellation.abandon, session, clock, third_customer, abandoned)
    _start(session, clock, third_customer, last_sub)

    report = cancellation_stats.save_rate(session, catalog.merchant.id)
    assert report["attempts"] == 6 and report["open"] == 1
    assert report["offers_shown"] == 1
    assert report["by_reason"]["too_expensive"]["offers_shown"] == 1
    assert report["by_reason"]["unused"]["offers_shown"] == 0
    assert report["outcomes"] == {
        "saved_discount": 1,
        "saved_pause": 1,
        "saved_downgrade": 0,
        "canceled": 2,
        "abandoned": 1,
    }
    assert (report["saved"], report["decided"]) == (2, 4)
    assert report["save_rate"] == Fraction(1, 2) and isinstance(report["save_rate"], Fraction)
    assert report["save_rate_percent"] == "50.0%"
    expensive = report["by_reason"]["too_expensive"]
    assert (expensive["saved"], expensive["outcomes"]["canceled"]) == (1, 2)
    assert expensive["save_rate_percent"] == "33.3%"
    assert report["by_reason"]["unused"]["save_rate"] == Fraction(1)
    assert report["by_reason"][""]["outcomes"]["abandoned"] == 1


def _attempt_row(session, clock, customer, sub, outcome, reason="", at=None):
    row = CancellationAttempt(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        subscription_id=sub.id,
        reason=reason,
        outcome=outcome,
        created_at=at or clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def test_save_rate_filters_by_date_and_merchant_and_handles_nothing_decided(
    session, clock, gateway, catalog, customer, sub
):
    old = clock.now() - timedelta(days=60)
    _attempt_row(session, clock, customer, sub, "canceled", at=old)
    _attempt_row(session, clock, customer, sub, "saved_downgrade")
    _attempt_row(session, clock, customer, sub, "canceled")
    _attempt_row(session, clock, customer, sub, "canceled")
    globex = factories.make_catalog(session, clock, "globex")
    their = factories.make_customer(session, clock, globex.merchant, "g@example.com")
    their_sub = factories.make_subscription_row(session, clock, their, globex.monthly["Pro"])
    _attempt_row(session, clock, their, their_sub, "saved_pause")

    everything = cancellation_stats.save_rate(session, catalog.merchant.id)
    assert (everything["attempts"], everything["saved"], everything["decided"]) == (4, 1, 4)
    assert everything["save_rate_percent"] == "25.0%"
    recent = cancellation_stats.save_rate(
        session, catalog.merchant.id, since=clock.now() - timedelta(1)
    )
    assert (recent["attempts"], recent["save_rate"]) == (3, Fraction(1, 3))
    assert recent["save_rate_percent"] == "33.3%"
    nothing = cancellation_stats.save_rate(
        session, catalog.merchant.id, since=clock.now() + timedelta(1)
    )
    assert (nothing["attempts"], nothing["save_rate"], nothing["save_rate_percent"]) == (
        0,
        None,
        "n/a",
    )
    assert nothing["by_reason"] == {}
    assert cancellation_stats.save_rate(session, globex.merchant.id)["save_rate"] == Fraction(1)
