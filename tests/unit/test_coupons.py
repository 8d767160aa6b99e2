"""Discount codes (issue #13): every refusal of a code, the discount math (hypothesis), how many
invoices a coupon reduces through the billing clock, proration with a coupon, the redemption limit
under 20 concurrent confirms (SQLite and, with PORTAL_TEST_DB_URL, PostgreSQL), and the staff's
coupon admin."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, SQLModel, func, select

from portal_app.db import make_engine
from portal_app.models import Invoice, InvoiceLine, Merchant, Subscription
from portal_app.models.commerce import (
    CheckoutSession,
    Coupon,
    CouponDuration,
    CouponRedemption,
    PromotionCode,
)
from portal_app.services import (
    audit,
    billing_clock,
    coupons,
    coupons_admin,
    invoices,
    plan_changes,
    renewals,
)
from portal_app.services.errors import CatalogError, CouponError, NotFound
from portal_app.services.invoices import LineSpec
from tests import factories

STAFF = audit.Actor.merchant(1)


# --- helpers ------------------------------------------------------------------------------------


def _coupon(session, clock, catalog, code="SPRING20", **terms):
    terms.setdefault("percent_off", 20 if "amounts_off" not in terms else None)
    coupon = coupons_admin.create_coupon(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        name=terms.pop("name", f"Coupon {code}"),
        code=code,
        actor=STAFF,
        **terms,
    )
    return coupon


def _resolve(session, clock, catalog, code="SPRING20", *, plan="Pro", product_id=None, cur="USD"):
    return coupons.resolve_code(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        code=code,
        plan_id=catalog.plans[plan].id if plan else None,
        product_id=product_id,
        currency=cur,
    )


def _checkout(session, clock, merchant_id: int, key: str) -> str:
    now = clock.now()
    session.add(
        CheckoutSession(
            id=f"cs_{key}",
            merchant_id=merchant_id,
            mode="subscription",
            created_at=now,
            expires_at=now + timedelta(days=1),
        )
    )
    session.flush()
    return f"cs_{key}"


def _set_coupon_active(session, clock, merchant_id, coupon, active):
    return coupons_admin.set_coupon_active(
        session, clock, merchant_id=merchant_id, coupon_id=coupon.id, active=active, actor=STAFF
    )


def _add_code(session, clock, merchant_id, coupon, code, **limits):
    return coupons_admin.create_promotion_code(
        session,
        clock,
        merchant_id=merchant_id,
        coupon_id=coupon.id,
        code=code,
        actor=STAFF,
        **limits,
    )


def _redeem(session, clock, catalog, applied, customer, key, amount_off=400, **extra):
    return coupons.redeem(
        session,
        clock,
        applied=applied,
        customer_id=customer.id,
        checkout_id=_checkout(session, clock, catalog.merchant.id, key),
        amount_off=amount_off,
        currency=extra.pop("currency", "USD"),
        **extra,
    )


def _subscribe_with_code(session, clock, gateway, catalog, customer, price, code="SPRING20"):
    """What checkout does for a subscription with a code: the first invoice with the code's
    line, paid, the redemption counted, the coupon attached for the renewals."""
    applied = coupons.resolve_code(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        code=code,
        plan_id=price.plan_id,
        product_id=None,
        currency=price.currency,
    )
    sub = factories.make_subscription_row(session, clock, customer, price)
    first = [
        LineSpec(
            "subscription", "Plan", price.amount, sub.current_period_start, sub.current_period_end
        )
    ]
    line = coupons.first_invoice_line(session, applied, price.amount, price.currency)
    if line is not None:
        first.append(line)
    invoice = invoices.create_draft(
        session,
        clock,
        customer=customer,
        currency=price.currency,
        lines=first,
        billing_reason="subscription_create",
        subscription_id=sub.id,
        period_start=sub.current_period_start,
        period_end=sub.current_period_end,
    )
    invoices.finalize(session, clock, invoice, audit.SYSTEM)
    if invoice.status == "open":
        factories.pay_invoice(session, clock, gateway, customer, invoice)
    _redeem(
        session,
        clock,
        catalog,
        applied,
        customer,
        f"{sub.id}",
        amount_off=-line.amount if line else 0,
        currency=price.currency,
        subscription_id=sub.id,
    )
    coupons.attach(sub, session.get(Coupon, applied.coupon_id))
    session.add(sub)
    session.flush()
    return sub


def _discount_lines(s: Session, subscription_id: int) -> list[tuple[int, str, int]]:
    """(invoice number, description, amount) of every coupon line on the subscription's
    invoices."""
    return list(
        s.exec(
            select(Invoice.number, InvoiceLine.description, InvoiceLine.amount)
            .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
            .where(Invoice.subscription_id == subscription_id, InvoiceLine.kind == "discount")
            .order_by(Invoice.number)
        )
    )


# --- refusals -----------------------------------------------------------------------------------


def test_code_is_matched_trimmed_and_case_blind(session, clock, catalog):
    _coupon(session, clock, catalog, code="spring20", duration="repeating", duration_cycles=3)
    applied = _resolve(session, clock, catalog, "  Spring20 ")
    assert applied.code == "SPRING20"
    assert applied.label == "SPRING20 — 20% off the first 3 payments"
    stored = session.exec(select(PromotionCode.code)).one()
    assert stored == "SPRING20"


def test_unknown_code(session, clock, catalog):
    _coupon(session, clock, catalog)
    for typed in ("NOPE", "", "   ", "X" * 500):
        with factories.refused(CouponError, "unknown"):
            _resolve(session, clock, catalog, typed)


def test_another_merchants_code_is_unknown(session, clock, catalog):
    _coupon(session, clock, catalog)
    other = factories.make_catalog(session, clock, "globex")
    with factories.refused(CouponError, "unknown"):
        _resolve(session, clock, other, "SPRING20")


def test_inactive_coupon_or_code(session, clock, catalog):
    coupon = _coupon(session, clock, catalog)
    _set_coupon_active(session, clock, catalog.merchant.id, coupon, False)
    with factories.refused(CouponError, "inactive"):
        _resolve(session, clock, catalog)
    _set_coupon_active(session, clock, catalog.merchant.id, coupon, True)
    promo = session.exec(select(PromotionCode)).one()
    coupons_admin.set_code_active(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        promotion_code_id=promo.id,
        active=False,
        actor=STAFF,
    )
    with factories.refused(CouponError, "inactive"):
        _resolve(session, clock, catalog)


def test_expired_coupon_and_expired_code(session, clock, catalog):
    _coupon(session, clock, catalog, redeem_by=clock.now() + timedelta(days=1))
    coupon = _coupon(session, clock, catalog, code="LATER", name="Later")
    _add_code(
        session,
        clock,
        catalog.merchant.id,
        coupon,
        "SOON",
        expires_at=clock.now() + timedelta(hours=2),
    )
    _resolve(session, clock, catalog, "SOON")
    clock.advance(timedelta(hours=2))
    with factories.refused(CouponError, "expired"):
        _resolve(session, clock, catalog, "SOON")
    _resolve(session, clock, catalog, "LATER")  # the coupon's other code is fine
    _resolve(session, clock, catalog, "SPRING20")
    clock.advance(timedelta(days=1))
    with factories.refused(CouponError, "expired"):
        _resolve(session, clock, catalog, "SPRING20")


def test_exhausted_coupon_and_exhausted_code(session, clock, catalog, customer):
    _coupon(session, clock, catalog, max_redemptions=1)
    coupon = _coupon(session, clock, catalog, code="MANY", name="Many")
    _add_code(session, clock, catalog.merchant.id, coupon, "ONCEONLY", max_redemptions=1)
    for code in ("SPRING20", "ONCEONLY"):
        applied = _resolve(session, clock, catalog, code)
        _redeem(session, clock, catalog, applied, customer, code)
        with factories.refused(CouponError, "exhausted"):
            _resolve(session, clock, catalog, code)
        # A confirm that resolved before the limit was reached is refused at redeem.
        with factories.refused(CouponError, "exhausted"):
            _redeem(session, clock, catalog, applied, customer, code + "2")
    _resolve(session, clock, catalog, "MANY")  # the coupon itself has no limit


def test_wrong_plan_and_wrong_product(session, clock, catalog):
    _coupon(session, clock, catalog, plan_ids=[catalog.plans["Pro"].id])
    _resolve(session, clock, catalog, plan="Pro")
    with factories.refused(CouponError, "wrong_plan"):
        _resolve(session, clock, catalog, plan="Basic")
    with factories.refused(CouponError, "wrong_plan"):  # limited to plans: not for a product
        _resolve(session, clock, catalog, plan=None, product_id=catalog.product.id)
    _coupon(session, clock, catalog, code="EBOOK", name="Ebook", product_ids=[catalog.product.id])
    _resolve(session, clock, catalog, "EBOOK", plan=None, product_id=catalog.product.id)
    with factories.refused(CouponError, "wrong_plan"):
        _resolve(session, clock, catalog, "EBOOK", plan="Pro")


def test_wrong_currency(session, clock, catalog):
    _coupon(session, clock, catalog, code="FIVE", amounts_off={"USD": 500})
    assert _resolve(session, clock, catalog, "FIVE").label == "FIVE — $5.00 off the first payment"
    with factories.refused(CouponError, "wrong_currency"):
        _resolve(session, clock, catalog, "FIVE", cur="EUR")
    _coupon(session, clock, catalog, code="PCT", name="Pct")
    _resolve(session, clock, catalog, "PCT", cur="EUR")  # a percentage works in any currency


def test_refusals_write_nothing(session, clock, catalog):
    _coupon(session, clock, catalog, max_redemptions=3, plan_ids=[catalog.plans["Pro"].id])
    with factories.refused(CouponError, "wrong_plan"):
        _resolve(session, clock, catalog, plan="Basic")
    coupon = session.exec(select(Coupon)).one()
    session.refresh(coupon)
    assert coupon.times_redeemed == 0
    assert session.exec(select(func.count()).select_from(CouponRedemption)).one() == 0


# --- the math -----------------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=10**9)


@given(amount=amounts, percent=st.integers(min_value=1, max_value=100))
def test_percent_off_is_exact_half_even_and_bounded(amount, percent):
    coupon = Coupon(merchant_id=1, name="x", percent_off=percent, created_at=datetime.now(UTC))
    off = coupons.discount_off(coupon, amount, "USD")
    assert 0 <= off <= amount
    expected = (Decimal(amount) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert off == int(expected)
    assert abs(Fraction(off) - Fraction(amount * percent, 100)) <= Fraction(1, 2)


@given(
    amount=st.integers(min_value=-1000, max_value=10**9),
    fixed=st.integers(min_value=1, max_value=10**8),
    currency=st.sampled_from(["USD", "EUR", "JPY"]),
)
def test_fixed_off_is_capped_and_per_currency(amount, fixed, currency):
    coupon = Coupon(
        merchant_id=1, name="x", amounts_off={"USD": fixed}, created_at=datetime.now(UTC)
    )
    off = coupons.discount_off(coupon, amount, currency)
    assert 0 <= off <= max(amount, 0)
    if currency != "USD" or amount <= 0:
        assert off == 0
    else:
        assert off == min(fixed, amount)


def test_discount_off_takes_int_minor_units_only():
    coupon = Coupon(merchant_id=1, name="x", percent_off=10, created_at=datetime.now(UTC))
    with pytest.raises(TypeError):
        coupons.discount_off(coupon, 10.0, "USD")


@pytest.fixture(scope="module")
def memory_engine():
    engine = make_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Merchant(id=1, slug="m", name="M", created_at=datetime.now(UTC)))
        s.commit()
    yield engine
    engine.dispose()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    duration=st.sampled_from(CouponDuration.ALL),
    cycles=st.integers(min_value=1, max_value=12),
    renewals_seen=st.integers(min_value=0, max_value=15),
    amount=st.integers(min_value=2, max_value=10**7),  # 50% of 1 rounds to 0: no line
)
def test_a_coupon_reduces_exactly_its_invoices(
    memory_engine, duration, cycles, renewals_seen, amount
):
    """once: the first invoice; repeating N: the first + N - 1 renewals; forever: all."""
    with Session(memory_engine) as s:
        coupon = Coupon(
            merchant_id=1,
            name="c",
            percent_off=50,
            duration=duration,
            duration_cycles=cycles if duration == CouponDuration.REPEATING else None,
            created_at=datetime.now(UTC),
        )
        s.add(coupon)
        s.flush()
        sub = Subscription(merchant_id=1, customer_id=1, plan_id=1, price_id=1)
        coupons.attach(sub, coupon)  # after the first invoice, which it reduced
        reduced = 1 + sum(
            coupons.renewal_line(s, sub, amount, "USD") is not None for _ in range(renewals_seen)
        )
        expected = {
            CouponDuration.ONCE: 1,
            CouponDuration.REPEATING: min(cycles, 1 + renewals_seen),
            CouponDuration.FOREVER: 1 + renewals_seen,
        }[duration]
        assert reduced == expected
        if duration != CouponDuration.FOREVER and reduced < 1 + renewals_seen:
            assert sub.coupon_id is None and sub.coupon_cycles_remaining == 0
        s.rollback()


# --- through the billing clock ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "cycles", "discounted"),
    [("once", None, [1]), ("repeating", 3, [1, 2, 3]), ("forever", None, [1, 2, 3, 4, 5])],
)
def test_renewals_through_the_billing_clock(
    engine, session, clock, gateway, catalog, customer, card, duration, cycles, discounted
):
    _coupon(session, clock, catalog, duration=duration, duration_cycles=cycles)
    price = catalog.monthly["Pro"]
    sub = _subscribe_with_code(session, clock, gateway, catalog, customer, price)
    session.commit()
    clock.advance(timedelta(days=31 * 4 - 1))  # four renewals: invoices 2..5
    report = billing_clock.advance(engine, clock, gateway)
    assert (report.renewed, report.charged, report.errors) == (4, 4, 0)
    with Session(engine) as s:
        lines = _discount_lines(s, sub.id)
        assert [number for number, _, _ in lines] == discounted
        assert {(d, a) for _, d, a in lines} == {("SPRING20 (20% off)", -400)}
        totals = [
            i.total
            for i in s.exec(
                select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.number)
            )
        ]
        assert totals == [1600 if n in discounted else 2000 for n in range(1, 6)]
        fresh = s.get(Subscription, sub.id)
        if duration == "forever":
            assert fresh.coupon_id is not None
        else:
            assert (fresh.coupon_id, fresh.coupon_cycles_remaining) == (None, 0)


def test_coupon_subscriptions_skip_the_plain_batch(
    session, clock, gateway, catalog, customer, card
):
    _coupon(session, clock, catalog, duration="forever")
    sub = _subscribe_with_code(session, clock, gateway, catalog, customer, catalog.monthly["Pro"])
    plain = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    ids = [c.subscription_id for c in renewals.plain_candidates(session, [sub.id, plain.id])]
    assert ids == [plain.id]


def test_trial_style_coupon_reduces_the_first_paid_invoice(
    engine, session, clock, gateway, catalog, customer, card
):
    """Checkout with a trial sets coupon_id and cycles (once → 1) before the first paid invoice:
    renewal_line applies it there, and not after."""
    coupon = _coupon(session, clock, catalog, amounts_off={"USD": 2500}, code="BIG")
    sub = factories.make_subscription_row(session, clock, customer, catalog.monthly["Pro"])
    sub.coupon_id, sub.coupon_cycles_remaining = coupon.id, 1
    session.add(sub)
    session.commit()
    clock.advance(timedelta(days=62))
    billing_clock.advance(engine, clock, gateway)
    with Session(engine) as s:
        # the $25 coupon is capped at the $20 price: nothing to charge, never negative
        assert _discount_lines(s, sub.id) == [(1, "Coupon BIG ($25.00 off)", -2000)]
        totals = [
            i.total
            for i in s.exec(
                select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.number)
            )
        ]
        assert totals == [0, 2000]


def test_coupon_and_retention_discount_never_go_negative(
    engine, session, clock, gateway, catalog, customer, card
):
    _coupon(session, clock, catalog, percent_off=80, duration="forever")
    sub = _subscribe_with_code(session, clock, gateway, catalog, customer, catalog.monthly["Pro"])
    sub.discount_percent, sub.discount_cycles_remaining = 50, 1
    session.add(sub)
    session.commit()
    clock.advance(timedelta(days=31))
    report = billing_clock.advance(engine, clock, gateway)
    assert report.errors == 0
    with Session(engine) as s:
        renewal = s.exec(
            select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
        ).one()
        assert renewal.total == 0
        amounts_ = [line.amount for line in invoices.lines_of(s, renewal.id)]
        assert amounts_ == [2000, -1600, -400]


# --- proration ----------------------------------------------------------------------------------


def test_upgrade_with_a_coupon_prorates_what_the_customer_pays(
    session, clock, gateway, catalog, customer, card
):
    _coupon(session, clock, catalog, percent_off=50, duration="forever")
    basic, pro = catalog.monthly["Basic"], catalog.monthly["Pro"]
    sub = _subscribe_with_code(session, clock, gateway, catalog, customer, basic)
    clock.advance((sub.current_period_end - sub.current_period_start) / 2)
    preview = factories.preview_change(session, clock, customer, sub, pro)
    # half of the discounted $5.00 back, half of the discounted $10.00 to pay
    assert [(line.description, line.amount) for line in preview.lines] == [
        ("Unused time on Basic (monthly) with SPRING20", -250),
        ("Remaining time on Pro (monthly) with SPRING20", 500),
    ]
    assert preview.amount_due_now == 250
    assert preview.next_renewal_amount == 1000
    factories.change_plan(session, clock, gateway, customer, sub, pro)
    session.refresh(sub)
    assert sub.coupon_id is not None


def test_upgrade_to_a_plan_the_coupon_does_not_cover(
    engine, session, clock, gateway, catalog, customer, card
):
    basic, pro = catalog.monthly["Basic"], catalog.monthly["Pro"]
    _coupon(session, clock, catalog, percent_off=50, duration="forever", plan_ids=[basic.plan_id])
    sub = _subscribe_with_code(session, clock, gateway, catalog, customer, basic)
    clock.advance((sub.current_period_end - sub.current_period_start) / 2)
    preview = factories.preview_change(session, clock, customer, sub, pro)
    assert [line.amount for line in preview.lines] == [-250, 1000]
    assert preview.next_renewal_amount == 2000
    factories.change_plan(session, clock, gateway, customer, sub, pro)
    session.refresh(sub)
    assert sub.coupon_id is None  # the coupon ends with the plan it was for
    session.commit()
    clock.advance(timedelta(days=20))
    billing_clock.advance(engine, clock, gateway)
    with Session(engine) as s:
        assert [n for n, _, _ in _discount_lines(s, sub.id)] == [1]


def test_interval_change_uses_one_of_the_coupons_invoices(
    session, clock, gateway, catalog, customer, card
):
    _coupon(session, clock, catalog, percent_off=10, duration="repeating", duration_cycles=2)
    sub = _subscribe_with_code(session, clock, gateway, catalog, customer, catalog.monthly["Pro"])
    assert sub.coupon_cycles_remaining == 1
    clock.advance(sub.current_period_end - sub.current_period_start)
    clock.advance(timedelta(seconds=-1))
    annual = catalog.annual["Pro"]
    preview = factories.preview_change(session, clock, customer, sub, annual, timing="immediate")
    assert [line.amount for line in preview.lines] == [0, 18000]  # 10% off the new year
    assert preview.next_renewal_amount == 20000  # the coupon's two invoices are used by then
    factories.change_plan(session, clock, gateway, customer, sub, annual, timing="immediate")
    session.refresh(sub)
    assert (sub.coupon_id, sub.coupon_cycles_remaining) == (None, 0)


def test_scheduled_change_preview_includes_the_coupon(
    session, clock, gateway, catalog, customer, card
):
    _coupon(session, clock, catalog, percent_off=25, duration="forever")
    sub = _subscribe_with_code(session, clock, gateway, catalog, customer, catalog.monthly["Pro"])
    preview = factories.preview_change(session, clock, customer, sub, catalog.monthly["Basic"])
    assert preview.timing == "period_end"
    assert preview.next_renewal_amount == 750
    assert isinstance(plan_changes.ChangePreview, type)


# --- the limit under concurrency ----------------------------------------------------------------


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.mark.parametrize("limit_on", ["coupon", "code"])
def test_twenty_concurrent_redemptions_of_five(engine, session, clock, catalog, limit_on):
    coupon = _coupon(session, clock, catalog, max_redemptions=5 if limit_on == "coupon" else None)
    if limit_on == "code":
        session.exec(select(PromotionCode)).one().max_redemptions = 5
    people, checkouts = [], []
    for n in range(20):
        person = factories.make_customer(session, clock, catalog.merchant, f"p{n}@example.com")
        people.append(person.id)
        checkouts.append(_checkout(session, clock, catalog.merchant.id, f"race{n}"))
    # Every confirm checked the code before any counted it (on SQLite a write transaction
    # holds the lock from its start, so a check inside the race would already see the count).
    applied = _resolve(session, clock, catalog)
    session.commit()
    barrier = threading.Barrier(20)
    outcomes: list = [None] * 20

    def confirm(index, _work):
        own = make_engine(_url(engine))
        try:
            with Session(own, expire_on_commit=False) as s:
                barrier.wait(60)
                try:
                    coupons.redeem(
                        s,
                        clock,
                        applied=applied,
                        customer_id=people[index],
                        checkout_id=checkouts[index],
                        amount_off=400,
                        currency="USD",
                    )
                    s.commit()
                    outcomes[index] = "ok"
                except Exception as exc:  # asserted below
                    s.rollback()
                    outcomes[index] = exc
        finally:
            own.dispose()

    factories.run_threads(confirm, [None] * 20)
    refusals = [o for o in outcomes if o != "ok"]
    assert outcomes.count("ok") == 5
    assert all(isinstance(o, CouponError) and o.code == "exhausted" for o in refusals), refusals
    with Session(engine) as s:
        assert s.get(Coupon, coupon.id).times_redeemed == 5
        assert s.exec(select(PromotionCode)).one().times_redeemed == 5
        assert s.exec(select(func.count()).select_from(CouponRedemption)).one() == 5


def test_a_checkout_redeems_once(session, clock, catalog, customer):
    _coupon(session, clock, catalog)
    checkout = _checkout(session, clock, catalog.merchant.id, "one")
    applied = _resolve(session, clock, catalog)
    kwargs = dict(
        applied=applied, customer_id=customer.id, checkout_id=checkout, amount_off=1, currency="USD"
    )
    coupons.redeem(session, clock, **kwargs)
    session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        coupons.redeem(session, clock, **kwargs)
    session.rollback()


# --- the staff's admin --------------------------------------------------------------------------


def _create(session, clock, catalog, **values):
    values.setdefault("name", "Spring")
    return coupons_admin.create_coupon(
        session, clock, merchant_id=catalog.merchant.id, actor=STAFF, **values
    )


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"percent_off": 10, "amounts_off": {"USD": 100}}, "either a percentage"),
        ({}, "either a percentage"),
        ({"percent_off": 0}, "Percent off must be between 1 and 100"),
        ({"percent_off": 101}, "Percent off must be between 1 and 100"),
        ({"percent_off": 12.5}, "Percent off must be a whole number"),
        ({"amounts_off": {"USD": 0}}, "must be more than zero"),
        ({"amounts_off": {"XXX": 100}}, "Amounts off can be in USD"),
        ({"percent_off": 10, "duration": "sometimes"}, "The duration is"),
        ({"percent_off": 10, "duration": "repeating"}, "Number of payments is required"),
        ({"percent_off": 10, "duration": "repeating", "duration_cycles": 37}, "between 1 and 36"),
        ({"percent_off": 10, "max_redemptions": 0}, "Maximum redemptions must be between"),
        ({"percent_off": 10, "redeem_by": datetime(2020, 1, 1, tzinfo=UTC)}, "in the future"),
        ({"percent_off": 10, "redeem_by": "tomorrow"}, "must be a date and time"),
        ({"percent_off": 10, "plan_ids": ["1"]}, "list of plan ids"),
        ({"percent_off": 10, "code": "A B"}, "3 to 32 letters"),
        ({"percent_off": 10, "code": "AB"}, "3 to 32 letters"),
        ({"percent_off": 10, "code": "X" * 33}, "3 to 32 letters"),
        ({"percent_off": 10, "code": "<b>x</b>"}, "3 to 32 letters"),
        ({"percent_off": 10, "name": ""}, "Coupon name cannot be empty"),
        ({"percent_off": 10, "name": "x" * 201}, "at most 200"),
    ],
)
def test_create_coupon_refusals(session, clock, catalog, values, says):
    with pytest.raises(CatalogError, match=says) as refused:
        _create(session, clock, catalog, **values)
    assert refused.value.code == "invalid_catalog"
    assert session.exec(select(func.count()).select_from(Coupon)).one() == 0


def test_every_problem_at_once(session, clock, catalog):
    with pytest.raises(CatalogError) as refused:
        _create(session, clock, catalog, name="", percent_off=0, code="!")
    text = str(refused.value)
    assert "name cannot be empty" in text and "Percent off" in text and "3 to 32" in text


def test_plans_and_products_are_the_merchants_own(session, clock, catalog):
    other = factories.make_catalog(session, clock, "globex")
    with pytest.raises(CatalogError, match="your own plans"):
        _create(session, clock, catalog, percent_off=5, plan_ids=[other.plans["Pro"].id])
    with pytest.raises(CatalogError, match="your own products"):
        _create(session, clock, catalog, percent_off=5, product_ids=[other.product.id])
    coupon = _create(
        session,
        clock,
        catalog,
        percent_off=5,
        plan_ids=[catalog.plans["Pro"].id, catalog.plans["Basic"].id],
    )
    assert coupon.plan_ids == sorted([catalog.plans["Pro"].id, catalog.plans["Basic"].id])


def test_code_taken_case_blind_and_by_a_concurrent_twin(session, clock, catalog, monkeypatch):
    coupon = _create(session, clock, catalog, percent_off=5, code="Summer")
    with pytest.raises(CatalogError, match="SUMMER is already taken"):
        _add_code(session, clock, catalog.merchant.id, coupon, "summer ")
    session.commit()
    # the twin: another transaction took the code between the check and the insert
    monkeypatch.setattr(coupons_admin, "_code_taken", lambda *args: False)
    with factories.refused(CatalogError, "conflict"):
        _add_code(session, clock, catalog.merchant.id, coupon, "SUMMER")
    session.rollback()


def test_the_same_code_at_two_merchants(session, clock, catalog):
    _create(session, clock, catalog, percent_off=5, code="WELCOME")
    other = factories.make_catalog(session, clock, "globex")
    _create(session, clock, other, percent_off=5, code="WELCOME")


def test_admin_is_scoped_audited_and_listed(session, clock, catalog, customer):
    coupon = _create(
        session,
        clock,
        catalog,
        amounts_off={"USD": 500},
        duration="repeating",
        duration_cycles=3,
        max_redemptions=10,
        code="FIVE",
    )
    extra = _add_code(session, clock, catalog.merchant.id, coupon, "five-vip", max_redemptions=2)
    assert extra.code == "FIVE-VIP"
    applied = _resolve(session, clock, catalog, "five-vip")
    _redeem(session, clock, catalog, applied, customer, "a", amount_off=500)
    [row] = coupons_admin.list_coupons(session, catalog.merchant.id)
    assert row.redemptions == 1
    assert [(c.code, c.times_redeemed) for c in row.codes] == [("FIVE", 0), ("FIVE-VIP", 1)]
    assert coupons.terms(row.coupon) == "$5.00 off the first 3 payments"
    assert [e.target_type for e in factories.audit_events(session, "coupon.create")] == ["coupon"]
    assert len(factories.audit_events(session, "promotion_code.create")) == 2
    other = factories.make_merchant(session, clock, "globex")
    with pytest.raises(NotFound):
        _set_coupon_active(session, clock, other.id, coupon, False)
    with pytest.raises(NotFound):
        _add_code(session, clock, other.id, coupon, "HIJACK")
    _set_coupon_active(session, clock, catalog.merchant.id, coupon, False)
    assert len(factories.audit_events(session, "coupon.disable")) == 1
    with factories.refused(CatalogError, "unchanged"):
        _set_coupon_active(session, clock, catalog.merchant.id, coupon, False)
    with factories.refused(CatalogError, "invalid_active"):
        _set_coupon_active(session, clock, catalog.merchant.id, coupon, "no")
    with factories.refused(CatalogError, "inactive"):
        _add_code(session, clock, catalog.merchant.id, coupon, "LATE")
    assert audit.verify_chain(session, catalog.merchant.id).ok


def test_merchant_currencies_allow_fixed_amounts_in_each(session, clock, catalog):
    merchant = session.get(Merchant, catalog.merchant.id)
    assert coupons_admin.merchant_currencies(session, merchant.id) == ["USD"]
