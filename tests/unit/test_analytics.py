"""Merchant analytics checked against numbers worked out independently: hand-computed figures of a
scenario with known dates (built through the real services and billing clock, plus two rows
inserted directly), and a plain-Python forward replay of the raw rows (subscription rows and the
audit events' `after` snapshots, the other way round from the service, which reads `before`
snapshots in SQL) on the scenario and on the demo seed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from sqlmodel import Session, select

from portal_app.clock import FixedClock
from portal_app.models import (
    AuditEvent,
    CancellationAttempt,
    Customer,
    Merchant,
    Price,
    RetentionOffer,
    Subscription,
)
from portal_app.services import (
    analytics,
    audit,
    billing_clock,
    cancellation,
    demo,
    features,
    plan_changes,
    portal_preview,
    subscriptions,
)
from portal_app.services.errors import PortalError
from tests import factories

STAFF = audit.Actor.merchant(1)
DECLINING_CARD = "4000000000009995"  # sandbox: every charge fails (insufficient funds)


def at(month, day, hour=0, minute=0, second=0, micro=0, *, year=2026) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


NOW = at(6, 20, 12)
MONTH_KEYS = [f"2025-{m:02d}" for m in range(7, 13)] + [f"2026-{m:02d}" for m in range(1, 7)]


# --- an independent oracle: forward replay over raw rows ----------------------------------------

SNAPSHOT_ACTIONS = {
    "subscription.create",
    "subscription.upgrade",
    "subscription.downgrade",
    "subscription.interval",
    "subscription.pause",
    "subscription.resume",
    "subscription.cancel",
    "subscription.cancel_scheduled",
    "subscription.uncancel",
    "subscription.restart",
}


def per_month_exact(amount: int, interval: str) -> int:
    """Price per month, half-even, by Decimal (not the app's Fraction helper)."""
    months = {"month": 1, "year": 12}[interval]
    return int((Decimal(amount) / Decimal(months)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def raw_rows(session: Session, merchant_id: int):
    """Every subscription but the staff's preview stand-in's (known by its reserved address, not
    by the service's own filter), so the oracle holds whichever tests ran before."""
    subs = session.exec(
        select(Subscription)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            Subscription.merchant_id == merchant_id,
            Customer.email != portal_preview.PREVIEW_EMAIL,
        )
    ).all()
    prices = {p.id: p for p in session.exec(select(Price).where(Price.merchant_id == merchant_id))}
    events: dict[int, list[AuditEvent]] = {}
    for event in session.exec(
        select(AuditEvent)
        .where(AuditEvent.merchant_id == merchant_id, AuditEvent.target_type == "subscription")
        .order_by(AuditEvent.seq)
    ):
        events.setdefault(int(event.target_id), []).append(event)
    return subs, prices, events


def state_at(sub: Subscription, events: list[AuditEvent], when: datetime):
    """(status, price_id) of one subscription at `when`, or None before it existed."""
    if sub.created_at > when:
        return None
    if not any(e.action == "subscription.create" for e in events):  # a row without history
        if sub.ended_at is not None and sub.ended_at <= when:
            return "canceled", sub.price_id
        if sub.status == "paused" and sub.paused_at <= when:
            return "paused", sub.price_id
        return ("active" if sub.status == "canceled" else sub.status), sub.price_id
    status = price = None
    for event in events:
        if event.created_at > when:
            break
        after = event.after or {}
        if event.action in SNAPSHOT_ACTIONS:
            status, price = after["status"], after["price_id"]
        elif event.action == "subscription.change_applied":
            price = after["price_id"]
        elif event.action in ("subscription.ended", "subscription.renew"):
            status = after["status"]
    if sub.status == "canceled" and sub.ended_at <= when:  # ended by dunning: no such event
        status = "canceled"
    return status, price


def oracle(session: Session, merchant_id: int, months_keys: list[str], now: datetime):
    """MRR per currency, new, churned, pauses and resumes per month, from the raw rows (the
    browser test uses it on the running app's database too)."""
    subs, prices, events = raw_rows(session, merchant_id)
    ends = []
    for month_key in months_keys:
        year, month = map(int, month_key.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
        next_start = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        ends.append(
            (month_key, start, next_start, min(next_start - timedelta(microseconds=1), now))
        )
    mrr: dict[str, dict[str, int]] = {}
    counts: dict[str, dict[str, int]] = {}
    for month_key, _, _, as_of in ends:
        for sub in subs:
            state = state_at(sub, events.get(sub.id, []), as_of)
            if state is None or state[0] not in ("active", "past_due"):
                continue
            price = prices[state[1]]
            mrr.setdefault(price.currency, Counter())[month_key] += per_month_exact(
                price.amount, price.interval
            )
            counts.setdefault(price.currency, Counter())[month_key] += 1
    new, churned, paused, resumed = Counter(), Counter(), Counter(), Counter()
    for sub in subs:
        new[sub.created_at.strftime("%Y-%m")] += 1
        status = None
        for event in events.get(sub.id, []):
            before, status = status, state_at(sub, events[sub.id], event.created_at)[0]
            if status == "canceled" and before not in (None, "canceled"):
                churned[event.created_at.strftime("%Y-%m")] += 1
            if event.action == "subscription.pause":
                paused[event.created_at.strftime("%Y-%m")] += 1
            if event.action == "subscription.resume":
                resumed[event.created_at.strftime("%Y-%m")] += 1
        if sub.status == "canceled" and status != "canceled":  # ended without an end event
            churned[sub.ended_at.strftime("%Y-%m")] += 1
    return {
        "mrr": {cur: [by_month[k] for k in months_keys] for cur, by_month in mrr.items()},
        "subscriptions": {cur: [c[k] for k in months_keys] for cur, c in counts.items()},
        "new": [new[k] for k in months_keys],
        "churned": [churned[k] for k in months_keys],
        "pauses": [paused[k] for k in months_keys],
        "resumes": [resumed[k] for k in months_keys],
    }


def figures(session: Session, merchant_id: int, now: datetime, count: int = 12):
    found = analytics.overview(session, merchant_id, FixedClock(now), count)
    return {
        "mrr": {s.currency: [p.amount for p in s.points] for s in found.mrr},
        "subscriptions": {s.currency: [p.subscriptions for p in s.points] for s in found.mrr},
        "new": [m.new for m in found.movements],
        "churned": [m.churned for m in found.movements],
        "pauses": [p.pauses for p in found.pauses],
        "resumes": [p.resumes for p in found.pauses],
    }


# --- months and prices --------------------------------------------------------------------------


def test_months_are_calendar_months_in_utc_ending_now():
    months = analytics.months_until(NOW)
    assert [m.key for m in months] == MONTH_KEYS
    january = months[6]
    assert (january.start, january.end) == (at(1, 1), at(2, 1))
    assert january.as_of == at(1, 31, 23, 59, 59, 999_999)
    assert months[-1].as_of == NOW and months[-1].label == "Jun 2026"
    december = analytics.months_until(at(12, 31, 23, year=2025), 2)
    assert [(m.key, m.end) for m in december] == [
        ("2025-11", at(12, 1, year=2025)),
        ("2025-12", at(1, 1)),
    ]
    with pytest.raises(PortalError):
        analytics.months_until(NOW, 0)
    with pytest.raises(PortalError):
        analytics.months_until(NOW, analytics.MAX_MONTHS + 1)


@pytest.mark.parametrize(
    ("amount", "interval", "expected"),
    [
        (1000, "month", 1000),
        (9000, "year", 750),
        (10000, "year", 833),  # 833.33
        (20000, "year", 1667),  # 1666.67
        (1230, "year", 102),  # 102.5: half to even
        (1242, "year", 104),  # 103.5: half to even
        (6, "year", 0),  # 0.5
        (18, "year", 2),  # 1.5
    ],
)
def test_annual_prices_are_normalised_half_even(amount, interval, expected):
    assert analytics.monthly_amount(amount, interval) == expected
    assert per_month_exact(amount, interval) == expected


# --- a merchant's year, with known dates --------------------------------------------------------


def _settings(session, clock, merchant_id, **values):
    features.save(
        session, clock, merchant_id, {k.replace("__", "."): v for k, v in values.items()}, STAFF
    )


def _run_clock(session, gateway, until: datetime, merchant_id: int) -> None:
    """The billing clock up to `until`, batch after batch, as cron would."""
    while True:
        report = billing_clock.run_batch(
            session, FixedClock(until), gateway, now=until, merchant_id=merchant_id
        )
        if report.items == 0 or report.items == report.errors:
            session.expire_all()  # the bulk path writes with UPDATEs: reload what we hold
            return


class Year:
    """Steps through time: the billing clock catches up before each action."""

    def __init__(self, session, clock, gateway, merchant_id):
        self.session, self.clock, self.gateway = session, clock, gateway
        self.merchant_id = merchant_id

    def go(self, when: datetime) -> None:
        _run_clock(self.session, self.gateway, when, self.merchant_id)
        self.clock.set(when)

    def customer(self, merchant, email, card="4242424242424242"):
        customer = factories.make_customer(self.session, self.clock, merchant, email)
        factories.add_gateway_card(self.session, self.clock, self.gateway, customer, card)
        return customer

    def subscribe(self, customer, price):
        return subscriptions.create(
            self.session,
            self.clock,
            self.gateway,
            customer_id=customer.id,
            price_id=price.id,
            actor=audit.Actor.customer(customer.id),
        )

    def act(self, change, subscription, *, gateway: bool = False, **arguments):
        """A subscription service call made by the subscription's customer, now."""
        customer_id = subscription.customer_id
        extra = (self.gateway,) if gateway else ()
        return change(
            self.session,
            self.clock,
            *extra,
            customer_id=customer_id,
            subscription_id=subscription.id,
            actor=audit.Actor.customer(customer_id),
            **arguments,
        )


@pytest.fixture
def year(session, clock, gateway, catalog):
    """Merchant "acme" (USD, plus two EUR annual prices) from 15 Jan to 20 Jun 2026:

    A  Basic monthly 15 Jan; upgraded to Pro 10 Feb; downgrade to Basic scheduled 20 May,
       applied at its period end 15 Jun.
    B  Pro annual 20 Jan (1667/month); paused 5 Mar, resumed by the clock 20 Apr.
    C  Business monthly at 31 Jan 23:59:59.999999; cancelled now 20 Mar; restarted 10 May; its
       new default card declines: past due 10 Jun, dunning ends it 15 Jun (no subscription event).
    D  Basic monthly at 1 Feb 00:00; set to cancel 3 May, ends at period end 1 Jun 00:00.
    E  Business annual (4167/month), a row inserted 15 Feb, ended 10 Apr with no audit event.
    H  Pro monthly 2 Mar; its card then declines: past due 2 Apr, dunning ends it 7 Apr.
    F, G  EUR annual rows of 1242 (-> 104) and 1230 (-> 102), active since 16 Jan.
    Another merchant's subscription (paused, cancelled) must not show anywhere."""
    merchant = catalog.merchant
    _settings(
        session,
        clock,
        merchant.id,
        subscriptions__pause=True,
        cancel__mode="customer_choice",
    )
    other = factories.make_catalog(session, clock, slug="other")
    _settings(session, clock, other.merchant.id, subscriptions__pause=True)
    eur_basic = factories.make_price(session, catalog.plans["Basic"], 1242, "EUR", "year")
    eur_pro = factories.make_price(session, catalog.plans["Pro"], 1230, "EUR", "year")
    y = Year(session, clock, gateway, merchant.id)
    m, a = catalog.monthly, catalog.annual

    y.go(at(1, 15, 12))
    cust_a = y.customer(merchant, "a@example.com")
    sub_a = y.subscribe(cust_a, m["Basic"])
    y.go(at(1, 16, 9))
    for email, price in (("f@example.com", eur_basic), ("g@example.com", eur_pro)):
        factories.make_subscription_row(session, clock, y.customer(merchant, email), price)
    y.go(at(1, 20, 9))
    cust_b = y.customer(merchant, "b@example.com")
    sub_b = y.subscribe(cust_b, a["Pro"])
    y.go(at(1, 31, 23, 59, 59, 999_999))
    cust_c = y.customer(merchant, "c@example.com")
    sub_c = y.subscribe(cust_c, m["Business"])
    y.go(at(2, 1))
    cust_d = y.customer(merchant, "d@example.com")
    sub_d = y.subscribe(cust_d, m["Basic"])

    # The other merchant: subscribed in February, paused in March, cancelled in April.
    y_other = Year(session, clock, gateway, other.merchant.id)
    y_other.go(at(2, 5))
    cust_x = y_other.customer(other.merchant, "x@example.com")
    sub_x = y_other.subscribe(cust_x, other.monthly["Business"])

    y.go(at(2, 10, 10))
    y.act(plan_changes.change_plan, sub_a, gateway=True, new_price_id=m["Pro"].id)
    y.go(at(2, 15, 9))
    cust_e = y.customer(merchant, "e@example.com")
    sub_e = factories.make_subscription_row(session, clock, cust_e, a["Business"])
    y.go(at(3, 2, 9))
    cust_h = y.customer(merchant, "h@example.com")
    y.subscribe(cust_h, m["Pro"])
    factories.add_gateway_card(session, clock, gateway, cust_h, DECLINING_CARD)
    y.go(at(3, 5, 11))
    y.act(subscriptions.pause, sub_b, resume_at=at(4, 20))
    y_other.go(at(3, 10))
    y_other.act(subscriptions.pause, sub_x, resume_at=at(5, 1))
    y.go(at(3, 20, 15))
    y.act(subscriptions.cancel, sub_c, at_period_end=False)
    y.go(at(4, 10, 8))
    sub_e.status, sub_e.ended_at = "canceled", clock.now()
    session.add(sub_e)
    session.flush()
    y_other.go(at(4, 12))
    y_other.act(subscriptions.cancel, sub_x, at_period_end=True)
    y.go(at(5, 3, 10))
    y.act(subscriptions.cancel, sub_d, at_period_end=True)
    y.go(at(5, 10, 10))
    y.act(subscriptions.reactivate, sub_c, gateway=True)
    factories.add_gateway_card(session, clock, gateway, cust_c, DECLINING_CARD)
    y.go(at(5, 20, 10))
    y.act(
        plan_changes.change_plan,
        sub_a,
        gateway=True,
        new_price_id=m["Basic"].id,
        timing="period_end",
    )
    y.go(NOW)
    session.flush()
    return {
        "merchant": merchant,
        "other": other.merchant,
        "subs": {"a": sub_a, "b": sub_b, "c": sub_c, "d": sub_d, "e": sub_e},
        "h": cust_h,
    }


def test_the_scenario_happened_as_described(session, year):
    """The facts the expected figures rest on, read back from the rows."""
    subs = {k: session.get(Subscription, s.id) for k, s in year["subs"].items()}
    assert subs["a"].status == "active"
    assert subs["b"].status == "active" and subs["b"].paused_at is None
    assert (subs["c"].status, subs["c"].ended_at) == ("canceled", at(6, 15, 10))
    assert (subs["d"].status, subs["d"].ended_at) == ("canceled", at(6, 1))
    assert (subs["e"].status, subs["e"].ended_at) == ("canceled", at(4, 10, 8))
    (sub_h,) = subscriptions.list_for_customer(session, year["h"].id)
    assert (sub_h.status, sub_h.ended_at) == ("canceled", at(4, 7, 9))
    prices = {p.id: p for p in session.exec(select(Price))}
    assert (prices[subs["a"].price_id].amount, prices[subs["a"].price_id].interval) == (
        1000,
        "month",
    )
    resume = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "subscription.resume",
            AuditEvent.target_id == str(subs["b"].id),
        )
    ).one()
    assert resume.created_at == at(4, 20)


def test_mrr_over_the_year_matches_the_hand_computed_figures(session, year):
    found = figures(session, year["merchant"].id, NOW)
    quiet = [0] * 6  # Jul..Dec 2025: nothing yet
    # Jan: A 1000 + B 1667 + C 5000 (created at the month's last microsecond)
    # Feb: A 2000 (upgraded) + B 1667 + C 5000 + D 1000 (1 Feb 00:00) + E 4167
    # Mar: A 2000 + D 1000 + E 4167 + H 2000 (B paused, C cancelled)
    # Apr: A 2000 + B 1667 (resumed) + D 1000 (E ended 10 Apr, H by dunning 7 Apr)
    # May: A 2000 + B 1667 + C 5000 (restarted) + D 1000 (set to cancel, still active)
    # Jun (now): A 1000 (downgrade applied 15 Jun) + B 1667 (D ended 1 Jun, C 15 Jun)
    assert found["mrr"] == {
        "EUR": quiet + [206] * 6,
        "USD": [*quiet, 7667, 13834, 9167, 4667, 9667, 2667],
    }
    assert found["subscriptions"] == {
        "EUR": quiet + [2] * 6,
        "USD": [*quiet, 3, 5, 4, 3, 4, 2],
    }


def test_new_churned_pauses_and_resumes_match_the_hand_computed_figures(session, year):
    found = figures(session, year["merchant"].id, NOW)
    quiet = [0] * 6
    # new: Jan A B C F G, Feb D E, Mar H (C's restart in May is not new)
    assert found["new"] == [*quiet, 5, 2, 1, 0, 0, 0]
    # churned: Mar C (even though restarted later), Apr E (no event) and H (dunning), Jun D and
    # C again (dunning, after its restart)
    assert found["churned"] == [*quiet, 0, 0, 1, 2, 0, 2]
    assert found["pauses"] == [*quiet, 0, 0, 1, 0, 0, 0]
    assert found["resumes"] == [*quiet, 0, 0, 0, 1, 0, 0]


def test_the_service_agrees_with_a_forward_replay_of_the_raw_rows(session, year):
    for merchant in (year["merchant"], year["other"]):
        assert figures(session, merchant.id, NOW) == oracle(session, merchant.id, MONTH_KEYS, NOW)


def test_another_merchants_figures_are_its_own(session, year):
    found = figures(session, year["other"].id, NOW)
    quiet = [0] * 6
    # X: Business monthly from 5 Feb, paused 10 Mar (to resume 1 May), cancelled 12 Apr: the
    # cancellation of a paused subscription takes effect at once.
    assert found["mrr"] == {"USD": [*quiet, 0, 5000, 0, 0, 0, 0]}
    assert found["new"] == [*quiet, 0, 1, 0, 0, 0, 0]
    assert found["churned"] == [*quiet, 0, 0, 0, 1, 0, 0]
    assert found["pauses"] == [*quiet, 0, 0, 1, 0, 0, 0]
    assert found["resumes"] == [0] * 12


def test_month_boundaries_follow_the_as_of_instant(session, year):
    """C, created at 31 Jan 23:59:59.999999, is in January's MRR; a window that ends at
    30 Jan 12:00 does not have it yet, nor D (1 Feb 00:00) in January."""
    merchant_id = year["merchant"].id
    jan_30 = analytics.mrr(session, merchant_id, analytics.months_until(at(1, 30, 12), 1))
    assert {s.currency: s.latest.amount for s in jan_30} == {"EUR": 206, "USD": 1000 + 1667}
    feb_1 = analytics.mrr(session, merchant_id, analytics.months_until(at(2, 1), 2))
    usd = next(s for s in feb_1 if s.currency == "USD")
    assert [(p.month.key, p.amount) for p in usd.points] == [
        ("2026-01", 7667),
        ("2026-02", 7667 + 1000),  # at 1 Feb 00:00:00 D has just started
    ]


def test_an_empty_merchant_has_zeros_and_no_series(session, clock, year):
    empty = factories.make_merchant(session, clock, slug="empty")
    found = analytics.overview(session, empty.id, FixedClock(NOW))
    assert found.mrr == []
    assert [(m.new, m.churned) for m in found.movements] == [(0, 0)] * 12
    assert [(p.pauses, p.resumes) for p in found.pauses] == [(0, 0)] * 12
    assert found.retention.reasons == []
    funnel = found.retention.funnel
    assert (funnel.started, funnel.answered, funnel.saved, funnel.canceled) == (0, 0, 0, 0)
    assert (funnel.save_rate, funnel.save_rate_percent) == (None, "n/a")


# --- the cancellation flow ----------------------------------------------------------------------


@pytest.fixture
def flows(session, clock, gateway, catalog):
    """Seven customers through the cancellation flow; one of them 13 months ago (out of the
    window), one of another merchant."""
    merchant = catalog.merchant
    _settings(
        session,
        clock,
        merchant.id,
        subscriptions__pause=True,
        cancel__pause_instead=True,
        cancel__mode="customer_choice",
    )
    session.add(
        RetentionOffer(
            merchant_id=merchant.id,
            name="25% off",
            percent_off=25,
            duration_cycles=3,
            reasons=["too_expensive"],
            created_at=clock.now(),
        )
    )
    session.flush()
    y = Year(session, clock, gateway, merchant.id)

    def flow(email, steps, price=catalog.monthly["Pro"], year_=y, merchant_=merchant):
        customer = year_.customer(merchant_, email)
        sub = year_.subscribe(customer, price)
        actor = audit.Actor.customer(customer.id)
        attempt = cancellation.start(
            session, clock, customer_id=customer.id, subscription_id=sub.id, actor=actor
        )
        ids = {"customer_id": customer.id, "attempt_id": attempt.id, "actor": actor}
        for step, kwargs in steps:
            step(session, clock, **ids, **kwargs)

    def show(session, clock, *, customer_id, attempt_id, actor):
        """What the customer's page does after the survey: look up the offers, note them."""
        found = cancellation.offers(session, clock, customer_id=customer_id, attempt_id=attempt_id)
        cancellation.record_offers_shown(
            session,
            clock,
            customer_id=customer_id,
            attempt_id=attempt_id,
            offers=found,
            actor=actor,
        )

    survey = cancellation.answer_survey
    y.go(at(5, 10, 12, year=2025))  # 13 months before NOW: out of the window
    flow(
        "old@example.com",
        [(survey, {"reason": "unused"}), (show, {}), (cancellation.abandon, {})],
    )
    y.go(at(3, 1, 9))
    discount = session.exec(select(RetentionOffer)).one()
    flow(
        "h1@example.com",
        [
            (survey, {"reason": "too_expensive"}),
            (show, {}),
            (cancellation.accept_offer, {"offer_id": discount.id}),
        ],
    )
    flow(
        "h2@example.com",
        [
            (survey, {"reason": "unused"}),
            (show, {}),
            (cancellation.accept_pause, {"resume_at": at(3, 20)}),
        ],
    )
    flow(
        "h3@example.com",
        [
            (survey, {"reason": "too_expensive"}),
            (show, {}),
            (cancellation.confirm_cancel, {"at_period_end": False}),
        ],
    )
    flow(
        "h4@example.com",
        [(survey, {"reason": "missing_features"}), (cancellation.abandon, {})],
    )
    flow("h5@example.com", [(cancellation.confirm_cancel, {"at_period_end": True})])
    flow("h6@example.com", [(survey, {"reason": "too_expensive"}), (show, {})])
    other = factories.make_catalog(session, clock, slug="other")
    y_other = Year(session, clock, gateway, other.merchant.id)
    flow(
        "x@example.com",
        [(survey, {"reason": "too_expensive"}), (show, {}), (cancellation.abandon, {})],
        price=other.monthly["Pro"],
        year_=y_other,
        merchant_=other.merchant,
    )
    y.go(NOW)
    return merchant


def test_funnel_and_save_rate_match_the_hand_computed_figures(session, flows):
    found = analytics.retention(session, flows.id, analytics.months_until(NOW))
    funnel = found.funnel
    # h1..h6 in the window; h5 skipped the survey; h1, h2, h3 and h6 were shown offers (h4 left
    # and h5 cancelled before seeing any); h1 discount and h2 pause saved; h3 and h5 cancelled;
    # h4 left keeping the plan; h6 has not finished.
    assert (funnel.started, funnel.answered, funnel.offers_shown) == (6, 5, 4)
    assert (funnel.saved, funnel.canceled, funnel.abandoned, funnel.open) == (2, 2, 1, 1)
    assert funnel.by_offer == {"saved_discount": 1, "saved_pause": 1, "saved_downgrade": 0}
    assert funnel.decided == 4
    assert (funnel.save_rate, funnel.save_rate_percent) == (Fraction(1, 2), "50.0%")
    assert [
        (r.reason, r.attempts, r.saved, r.canceled, r.save_rate_percent) for r in found.reasons
    ] == [
        ("too_expensive", 3, 1, 1, "50.0%"),
        ("missing_features", 1, 0, 0, "n/a"),
        ("unused", 1, 1, 0, "100.0%"),
        ("", 1, 0, 1, "0.0%"),
    ]


def test_funnel_agrees_with_the_raw_attempt_rows(session, flows):
    since = analytics.months_until(NOW)[0].start
    rows = [
        a
        for a in session.exec(
            select(CancellationAttempt).where(CancellationAttempt.merchant_id == flows.id)
        )
        if a.created_at >= since
    ]
    funnel = analytics.retention(session, flows.id, analytics.months_until(NOW)).funnel
    saved = sum(a.outcome.startswith("saved_") for a in rows)
    canceled = sum(a.outcome == "canceled" for a in rows)
    assert funnel.started == len(rows)
    assert funnel.answered == sum(bool(a.reason) for a in rows)
    assert funnel.offers_shown == sum(bool(a.offers_shown) for a in rows)
    # What was shown follows each reason's route: h1, h3 and h6 too expensive, h2 unused (the
    # merchant's only discount is for "too expensive").
    assert sorted(a.offers_shown for a in rows if a.offers_shown) == [
        "downgrade,discount,pause",
        "downgrade,discount,pause",
        "downgrade,discount,pause",
        "pause,downgrade",
    ]
    assert (funnel.saved, funnel.canceled) == (saved, canceled)
    assert funnel.save_rate == Fraction(saved, saved + canceled)
    # The pause taken in the flow is a pause like any other; the clock resumed it on 20 Mar.
    pauses = analytics.pauses(session, flows.id, analytics.months_until(NOW))
    assert [(p.month.key, p.pauses, p.resumes) for p in pauses if p.pauses or p.resumes] == [
        ("2026-03", 1, 1)
    ]


def test_the_preview_stand_in_changes_no_figure(session, clock, gateway, flows):
    """Staff's preview customer subscribes, pauses, resumes, goes through the cancellation flow
    and subscribes again at the next preview: no figure of the merchant moves."""
    later = at(6, 20, 18)

    def everything():
        return (
            figures(session, flows.id, later),
            analytics.retention(session, flows.id, analytics.months_until(later)),
            analytics.retention(session, flows.id, analytics.months_until(later, 1)),
        )

    before = everything()
    portal_preview.issue_preview_link(session, clock, gateway, merchant_id=flows.id, actor=STAFF)
    stand_in_id = session.exec(
        select(Subscription.customer_id)
        .where(Subscription.merchant_id == flows.id)
        .order_by(Subscription.id.desc())
    ).first()
    first = session.exec(select(Subscription).where(Subscription.customer_id == stand_in_id)).one()
    actor = audit.Actor.customer(stand_in_id)
    ids = {"customer_id": stand_in_id, "actor": actor}
    clock.set(at(6, 20, 13))
    subscriptions.pause(session, clock, subscription_id=first.id, resume_at=at(7, 1), **ids)
    clock.set(at(6, 20, 14))
    subscriptions.resume(session, clock, subscription_id=first.id, **ids)
    clock.set(at(6, 20, 15))
    attempt = cancellation.start(session, clock, subscription_id=first.id, **ids)
    cancellation.answer_survey(session, clock, attempt_id=attempt.id, reason="too_expensive", **ids)
    found = cancellation.offers(session, clock, customer_id=stand_in_id, attempt_id=attempt.id)
    cancellation.record_offers_shown(session, clock, attempt_id=attempt.id, offers=found, **ids)
    cancellation.confirm_cancel(session, clock, attempt_id=attempt.id, at_period_end=False, **ids)
    clock.set(at(6, 20, 16))
    portal_preview.issue_preview_link(session, clock, gateway, merchant_id=flows.id, actor=STAFF)

    # It all happened: two subscriptions (one ended), a pause, a resume, a decided flow.
    session.expire_all()
    statuses = session.exec(
        select(Subscription.status)
        .where(Subscription.customer_id == stand_in_id)
        .order_by(Subscription.id)
    ).all()
    assert statuses == ["canceled", "active"]
    actions = Counter(
        session.exec(
            select(AuditEvent.action).where(
                AuditEvent.customer_id == stand_in_id, AuditEvent.target_type == "subscription"
            )
        ).all()
    )
    assert [actions[a] for a in ("subscription.create", "subscription.pause")] == [2, 1]
    assert [actions[a] for a in ("subscription.resume", "subscription.cancel")] == [1, 1]
    outcome = session.exec(
        select(CancellationAttempt.outcome).where(CancellationAttempt.customer_id == stand_in_id)
    ).one()
    assert outcome == "canceled"
    assert everything() == before


# --- the demo merchant --------------------------------------------------------------------------


def test_demo_seed_figures(engine, gateway, tmp_path):
    now = at(7, 10, 9, 30)
    seeded = demo.seed_demo(engine, gateway, FixedClock(now), tmp_path / "files")
    keys = [f"2025-{m:02d}" for m in range(8, 13)] + [f"2026-{m:02d}" for m in range(1, 8)]
    with Session(engine) as session:
        found = figures(session, seeded.merchant_id, now)
        assert found == oracle(session, seeded.merchant_id, keys, now)
        merchant = session.get(Merchant, seeded.merchant_id)
        assert merchant.slug == "acme"
    # By hand from demo.PLANS and demo.CUSTOMERS: every subscription started six months ago
    # (10 Jan); at "now" Sam paused and Li cancelled, Maria is set to cancel (still active),
    # Olga is past due (still counted) and Ben's downgrade waits for his period end.
    plans = {name: (monthly, annual) for name, _, monthly, annual, _ in demo.PLANS}
    everyone = [
        plans[plan][0] if interval == "month" else per_month_exact(plans[plan][1], "year")
        for _, _, plan, interval, _, _ in demo.CUSTOMERS
        if plan is not None
    ]
    assert sum(everyone) == 2900 + 750 + 9900 + 2900 + 900 + 2417 + 9900 == 29667
    # The cancellation-flow customers (demo.FLOW_CUSTOMERS) also started on 10 Jan: Priya (Pro)
    # took the discount on 26 Apr (not in MRR), Tomás (Pro) paused on 19 May and resumed on
    # 2 Jun, Hana (Starter) cancelled on 7 Jun, Kwame (Business) left keeping his plan on 20 Jun.
    flows = sum(plans[plan][0] for _, _, plan, _, _, _, _, _ in demo.FLOW_CUSTOMERS)
    assert flows == 2900 + 2900 + 900 + 9900 == 16600
    full = 29667 + 16600
    assert found["mrr"] == {
        "USD": [0] * 5 + [full] * 4 + [full - 2900, full - 900, full - 900 - 2900 - 900]
    }
    assert found["subscriptions"] == {"USD": [0] * 5 + [11] * 4 + [10, 10, 8]}
    assert found["new"] == [0] * 5 + [11] + [0] * 6
    assert found["churned"] == [0] * 10 + [1, 1]  # Hana in June; Li, cancelled now
    assert found["pauses"] == [0] * 9 + [1, 0, 1]  # Tomás in May; Sam now
    assert found["resumes"] == [0] * 10 + [1, 0]  # Tomás, when his pause ended
    with Session(engine) as session:
        retention = analytics.retention(session, seeded.merchant_id, analytics.months_until(now))
    funnel = retention.funnel
    assert (funnel.started, funnel.answered, funnel.offers_shown) == (4, 4, 4)
    assert (funnel.saved, funnel.canceled, funnel.abandoned, funnel.open) == (2, 1, 1, 0)
    assert funnel.by_offer == {"saved_discount": 1, "saved_pause": 1, "saved_downgrade": 0}
    assert funnel.save_rate_percent == "66.7%"
    assert sorted(r.reason for r in retention.reasons) == [
        "missing_features",
        "switched_service",
        "too_expensive",
        "unused",
    ]
    # Seeding again changes nothing.
    again = demo.seed_demo(engine, gateway, FixedClock(now), tmp_path / "files")
    assert (again.created, again.merchant_id) == (False, seeded.merchant_id)
    with Session(engine) as session:
        assert len(session.exec(select(CancellationAttempt)).all()) == 4


# --- the page's state ---------------------------------------------------------------------------


def test_staff_see_the_figures_and_customers_see_nothing(app_db):
    # Imported here: the browser tests import this module's oracle without the Reflex app.
    from portal_app.services.sandbox_gateway import SandboxGateway
    from portal_app.state.guard import CLOCK
    from portal_app.state.merchant_analytics import MerchantAnalyticsState
    from tests.statekit import run
    from tests.unit.helpers_staff import a_customer_calls, staff_page

    with Session(app_db["engine"], expire_on_commit=False) as session:
        prices = {
            p.interval: p
            for p in session.exec(
                select(Price).where(
                    Price.merchant_id == app_db["merchant"].id, Price.amount.in_((1000, 50000))
                )
            )
        }
        for who, price in ((app_db["alice"], prices["month"]), (app_db["bob"], prices["year"])):
            factories.subscribe(session, CLOCK, SandboxGateway(), who, price)
        session.commit()

    _, state = run(staff_page(app_db["sessions"]["staff"], MerchantAnalyticsState, "load"))
    assert state.loaded and state.error == ""
    # 10.00 monthly + 500.00 / 12 = 41.666.. -> 41.67
    assert state.mrr_now == [{"currency": "USD", "amount": "$51.67", "subscriptions": "2"}]
    assert state.mrr_table[-1]["USD"] == "$51.67"
    assert state.mrr_chart[-1]["USD"] == 52  # whole dollars for the chart axis
    assert (state.new_this_month, state.churned_this_month) == (2, 0)
    assert state.flows_started == 0 and state.save_rate == "n/a"
    assert len(state.movements) == 12 and state.has_movements and not state.has_pauses

    result, state = a_customer_calls(app_db, MerchantAnalyticsState, "load")
    assert "/merchant/login" in str(result)
    assert (state.loaded, state.mrr_now, state.mrr_table) == (False, [], [])
