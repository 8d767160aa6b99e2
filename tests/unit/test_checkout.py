"""Hosted checkout through the service layer: opening, the quote, confirm once, declines and bad
input that leave nothing behind, trials, codes, one-time purchases, expiry, staff links, and
concurrent confirms (SQLite and, with PORTAL_TEST_DB_URL, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from portal_app.clock import FixedClock
from portal_app.models import (
    AuditEvent,
    CheckoutSession,
    Coupon,
    CouponRedemption,
    Customer,
    Invoice,
    InvoiceLine,
    LoginToken,
    Order,
    OutboxEmail,
    Payment,
    PaymentMethod,
    Product,
    PromotionCode,
    Receipt,
    SandboxCharge,
    Subscription,
)
from portal_app.services import audit, checkout, features, ratelimit
from portal_app.services.errors import (
    CheckoutError,
    CouponError,
    FeatureDisabled,
    NotFound,
    PaymentError,
)
from tests import factories

GOOD = checkout.CardInput("4242424242424242", 12, 2030, "123")
DECLINED = checkout.CardInput("4000000000000341", 12, 2030, "123")
VISITOR = {"email": "new@example.com", "name": "Nora New"}


@pytest.fixture(autouse=True)
def _fresh_limits():
    ratelimit.reset_singletons()
    yield
    ratelimit.reset_singletons()


def _count(session: Session, model, *where) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def _open(session, clock, catalog, slug="pro", interval="month") -> str:
    checkout_id = checkout.open_link(
        session, clock, merchant_id=catalog.merchant.id, slug=slug, interval=interval
    )
    session.commit()
    return checkout_id


def _confirm(session, clock, gateway, checkout_id, card=GOOD, **details):
    """What a caller does: one unit of work, committed on success, rolled back on a refusal."""
    try:
        result = checkout.confirm(
            session,
            clock,
            gateway,
            checkout_id,
            card=card,
            ip="203.0.113.9",
            **{**VISITOR, **details},
        )
    except Exception:
        session.rollback()
        raise
    session.commit()
    return result


def _staff_link(session, clock, catalog, staff, plan, interval="month", **fields) -> str:
    """A checkout link the staff member makes for the plan (trial, email, success URL…)."""
    return checkout.create_by_staff(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        staff_id=staff.id,
        plan_id=plan.id,
        interval=interval,
        **fields,
    )


def _code(session, clock, catalog, code="SAVE20", **coupon_fields) -> PromotionCode:
    fields = {"name": "Twenty", "percent_off": 20, "duration": "once", **coupon_fields}
    coupon = Coupon(merchant_id=catalog.merchant.id, created_at=clock.now(), **fields)
    session.add(coupon)
    session.flush()
    promo = PromotionCode(
        merchant_id=catalog.merchant.id, coupon_id=coupon.id, code=code, created_at=clock.now()
    )
    session.add(promo)
    session.commit()
    return promo


def _written(session) -> dict:
    return {
        model.__name__: _count(session, model)
        for model in (Customer, Subscription, Invoice, Payment, Receipt, Order, PaymentMethod)
    }


# --- opening ------------------------------------------------------------------------------------


def test_a_public_plans_link_opens_a_session_for_its_interval(session, clock, catalog):
    checkout_id = _open(session, clock, catalog, interval="year")
    row = session.get(CheckoutSession, checkout_id)
    assert checkout_id.startswith("cs_") and len(checkout_id) > 30
    assert (row.mode, row.status, row.price_id) == (
        "subscription",
        "open",
        catalog.annual["Pro"].id,
    )
    assert row.expires_at == clock.now() + timedelta(hours=24)
    other = _open(session, clock, catalog, interval=None)
    assert session.get(CheckoutSession, other).price_id == catalog.monthly["Pro"].id


def test_links_to_unknown_hidden_or_switched_off_plans_open_nothing(session, clock, catalog):
    catalog.plans["Basic"].public = False
    session.commit()
    for slug in ("nope", "basic", ""):
        with pytest.raises(NotFound):
            checkout.open_link(session, clock, merchant_id=catalog.merchant.id, slug=slug)
    features.save(
        session, clock, catalog.merchant.id, {"checkout.public": False}, audit.Actor.merchant(1)
    )
    with pytest.raises(FeatureDisabled):
        checkout.open_link(session, clock, merchant_id=catalog.merchant.id, slug="pro")
    assert _count(session, CheckoutSession) == 0


def test_the_view_shows_price_first_invoice_and_renewal(session, clock, catalog):
    checkout_id = _open(session, clock, catalog)
    page = checkout.view(session, clock, checkout_id)
    assert (page.title, page.price_label, page.total, page.due_today) == (
        "Pro",
        "$20.00/month",
        "$20.00",
        "$20.00",
    )
    assert [line.amount for line in page.lines] == ["$20.00"]
    assert page.next_renewal.startswith("Renews on ") and page.next_renewal.endswith("$20.00.")
    assert page.can_switch_interval and page.other_interval == "year"
    assert "save 17%" in page.other_interval_label  # 12 months at 20 = 240 against 200
    checkout.switch_interval(session, clock, checkout_id, "year")
    assert checkout.view(session, clock, checkout_id).total == "$200.00"
    with pytest.raises(CheckoutError):
        checkout.switch_interval(session, clock, checkout_id, "week")


# --- confirm ------------------------------------------------------------------------------------


def test_a_new_visitor_subscribes_once_and_gets_a_sign_in(session, clock, gateway, catalog):
    checkout_id = _open(session, clock, catalog)
    result = _confirm(session, clock, gateway, checkout_id)
    customer = session.get(Customer, result.customer_id)
    assert (customer.email, customer.name) == ("new@example.com", "Nora New")
    sub = session.get(Subscription, result.subscription_id)
    invoice = session.get(Invoice, result.invoice_id)
    assert (sub.status, sub.price_id) == ("active", catalog.monthly["Pro"].id)
    assert (invoice.status, invoice.total, invoice.subscription_id) == ("paid", 2000, sub.id)
    assert _count(session, Receipt, Receipt.invoice_id == invoice.id) == 1
    assert _count(session, OutboxEmail, OutboxEmail.kind == "welcome") == 1
    assert result.sign_in_token and "/auth/verify?token=" in result.redirect_to
    assert session.get(CheckoutSession, checkout_id).status == "completed"
    assert _count(session, AuditEvent, AuditEvent.action == "checkout.completed") == 1
    before = _written(session)
    again = _confirm(session, clock, gateway, checkout_id)
    assert again.already_completed and again.sign_in_token is None
    assert (again.subscription_id, again.invoice_id) == (sub.id, invoice.id)
    assert _written(session) == before
    assert _count(session, SandboxCharge) == 1
    assert _count(session, OutboxEmail, OutboxEmail.kind == "welcome") == 1


def test_a_declined_card_leaves_nothing_and_the_session_open(session, clock, gateway, catalog):
    checkout_id = _open(session, clock, catalog)
    before = _written(session)
    with pytest.raises(PaymentError):
        _confirm(session, clock, gateway, checkout_id, card=DECLINED)
    assert _written(session) == before
    assert session.get(CheckoutSession, checkout_id).status == "open"
    assert _count(session, OutboxEmail) == 0
    assert _confirm(session, clock, gateway, checkout_id).subscription_id is not None


@pytest.mark.parametrize(
    "details",
    [
        {"email": "not-an-email"},
        {"name": ""},
        {"name": "x" * 10_000},
        {"name": "bad\x00name"},
        {"billing_address": {"line1": "1 Road", "city": "Town", "country": "XX"}},
        {"shipping_address": {"line1": "y" * 10_000, "city": "Town", "country": "US"}},
    ],
)
def test_bad_details_are_refused_and_change_nothing(session, clock, gateway, catalog, details):
    checkout_id = _open(session, clock, catalog)
    before = _written(session)
    with pytest.raises(CheckoutError) as refused:
        _confirm(session, clock, gateway, checkout_id, **details)
    assert refused.value.code == "invalid"
    assert _written(session) == before
    assert session.get(CheckoutSession, checkout_id).status == "open"


def test_markup_and_formula_payloads_are_stored_as_plain_text(session, clock, gateway, catalog):
    checkout_id = _open(session, clock, catalog)
    name = '<img src=x onerror=alert(1)> =HYPERLINK("http://x")'
    result = _confirm(session, clock, gateway, checkout_id, name=name)
    assert session.get(Customer, result.customer_id).name == name  # text, escaped by the UI


def test_an_existing_email_never_makes_a_second_customer(
    session, clock, gateway, catalog, customer
):
    checkout_id = _open(session, clock, catalog)
    before = _written(session)
    with pytest.raises(CheckoutError) as refused:
        _confirm(session, clock, gateway, checkout_id, email=customer.email.upper())
    assert refused.value.code == "email_exists"
    assert _written(session) == before
    checkout.save_details(session, clock, checkout_id, email=customer.email)
    checkout.send_sign_in_link(session, clock, checkout_id)
    session.commit()
    token = session.exec(select(LoginToken).where(LoginToken.customer_id == customer.id)).one()
    assert token.return_to == f"/checkout/{checkout_id}"
    result = checkout.confirm(
        session, clock, gateway, checkout_id, card=GOOD, customer_id=customer.id, ip="1.2.3.4"
    )
    session.commit()
    assert result.customer_id == customer.id
    assert _count(session, Customer) == 1
    assert session.get(Subscription, result.subscription_id).customer_id == customer.id


def test_sessions_expire_after_a_day_and_can_be_started_again(session, clock, gateway, catalog):
    checkout_id = _open(session, clock, catalog)
    later = FixedClock(clock.now() + timedelta(hours=24, seconds=1))
    assert checkout.view(session, later, checkout_id).status == "expired"
    with pytest.raises(CheckoutError) as refused:
        _confirm(session, later, gateway, checkout_id)
    assert refused.value.code == "expired"
    fresh = checkout.renew_link(session, later, checkout_id)
    session.commit()
    assert fresh != checkout_id and checkout.view(session, later, fresh).status == "open"
    assert _confirm(session, later, gateway, fresh).subscription_id is not None


def test_expire_due_marks_only_stale_open_sessions(session, clock, gateway, catalog):
    stale, fresh = _open(session, clock, catalog), None
    later = FixedClock(clock.now() + timedelta(hours=23))
    fresh = checkout.open_link(session, later, merchant_id=catalog.merchant.id, slug="pro")
    done = _open(session, clock, catalog)
    _confirm(session, clock, gateway, done)
    much_later = FixedClock(clock.now() + timedelta(hours=25))
    assert checkout.expire_due(session, much_later) == 1
    statuses = {row.id: row.status for row in session.exec(select(CheckoutSession))}
    assert statuses == {stale: "expired", fresh: "open", done: "completed"}


def test_unknown_and_forged_ids_are_not_found(session, clock, catalog):
    for forged in ("cs_nope", "1", 7, None, "cs_" + "a" * 200):
        with pytest.raises(NotFound):
            checkout.view(session, clock, forged)


# --- trials -------------------------------------------------------------------------------------


def test_a_trial_starts_without_a_charge_and_keeps_the_card(session, clock, gateway, catalog):
    catalog.plans["Pro"].trial_days = 14
    session.commit()
    checkout_id = _open(session, clock, catalog)
    page = checkout.view(session, clock, checkout_id)
    assert (page.trial_label, page.due_today, page.card_required) == (
        "14-day free trial",
        "$0.00",
        True,
    )
    assert page.next_renewal.startswith("First charge of $20.00 on ")
    with pytest.raises(PaymentError):
        _confirm(session, clock, gateway, checkout_id, card=None)
    result = _confirm(session, clock, gateway, checkout_id)
    sub = session.get(Subscription, result.subscription_id)
    assert (sub.status, sub.trial_end) == ("trialing", clock.now() + timedelta(days=14))
    assert result.invoice_id is None and _count(session, Invoice) == 0
    assert _count(session, SandboxCharge) == 0
    assert _count(session, PaymentMethod, PaymentMethod.customer_id == sub.customer_id) == 1


def test_a_trial_without_a_card_when_the_plan_allows_it(session, clock, gateway, catalog):
    catalog.plans["Pro"].trial_days = 7
    catalog.plans["Pro"].trial_requires_card = False
    session.commit()
    checkout_id = _open(session, clock, catalog)
    assert checkout.view(session, clock, checkout_id).card_required is False
    result = _confirm(session, clock, gateway, checkout_id, card=None)
    assert session.get(Subscription, result.subscription_id).status == "trialing"
    assert _count(session, PaymentMethod) == 0


def test_a_customer_who_had_the_trial_pays_from_day_one(session, clock, gateway, catalog):
    catalog.plans["Pro"].trial_days = 14
    session.commit()
    first = _confirm(session, clock, gateway, _open(session, clock, catalog))
    second = _open(session, clock, catalog, slug="business")
    catalog.plans["Business"].trial_days = 14
    session.commit()
    page = checkout.view(session, clock, second, customer_id=first.customer_id)
    assert page.trial_days == 0 and page.due_today == "$50.00"
    result = checkout.confirm(
        session, clock, gateway, second, card=None, customer_id=first.customer_id, ip="1.2.3.4"
    )
    session.commit()
    assert session.get(Subscription, result.subscription_id).status == "active"
    assert session.get(Invoice, result.invoice_id).status == "paid"


def test_a_buyer_returns_to_the_allow_listed_success_url_with_the_checkout_id(
    session, clock, gateway, catalog
):
    staff = factories.make_staff(session, clock, catalog.merchant)

    def staff_link(success_url):
        return _staff_link(
            session, clock, catalog, staff, catalog.plans["Pro"], success_url=success_url
        )

    # nothing is allowed until the merchant lists the origin
    with pytest.raises(CheckoutError) as refused:
        staff_link("https://app.example.com/done")
    assert refused.value.code == "success_url"
    features.save(
        session,
        clock,
        catalog.merchant.id,
        {"checkout.success_url_origins": ["https://app.example.com"]},
        audit.Actor.merchant(1),
    )
    for bad in ("https://app.example.com.evil.net/", "ftp://app.example.com/", "/relative", 7):
        with pytest.raises(CheckoutError):
            staff_link(bad)
    assert _count(session, CheckoutSession) == 0
    checkout_id = staff_link("https://app.example.com/done?plan=pro")
    session.commit()
    result = _confirm(session, clock, gateway, checkout_id)
    assert result.redirect_to == f"https://app.example.com/done?plan=pro&checkout_id={checkout_id}"
    # a second confirm (another tab) is sent to the same page, signed in to nothing
    again = _confirm(session, clock, gateway, checkout_id)
    assert again.already_completed and again.sign_in_token is None
    assert again.redirect_to == result.redirect_to
    # a fresh link for an expired one keeps where it returns to
    later = FixedClock(clock.now() + timedelta(hours=25))
    stale = staff_link("https://app.example.com/back")
    session.commit()
    fresh = checkout.renew_link(session, later, stale)
    assert session.get(CheckoutSession, fresh).success_url == "https://app.example.com/back"


def test_staff_links_carry_their_own_trial_and_email(session, clock, gateway, catalog):
    staff = factories.make_staff(session, clock, catalog.merchant)
    basic = catalog.plans["Basic"]
    checkout_id = _staff_link(
        session, clock, catalog, staff, basic, "year", email="Lead@Example.com", trial_days=30
    )
    session.commit()
    page = checkout.view(session, clock, checkout_id)
    assert (page.email, page.trial_days, page.title) == ("lead@example.com", 30, "Basic")
    assert _count(session, AuditEvent, AuditEvent.action == "checkout.link_created") == 1
    for bad in ({"trial_days": 999}, {"trial_days": -1}, {"interval": "week"}):
        with pytest.raises(CheckoutError):
            _staff_link(session, clock, catalog, staff, basic, **bad)
    other = factories.make_catalog(session, clock, slug="other")
    with pytest.raises(NotFound):
        _staff_link(session, clock, catalog, staff, other.plans["Basic"])


# --- discount codes -----------------------------------------------------------------------------


def test_a_code_reduces_the_first_invoice_and_is_redeemed_once(session, clock, gateway, catalog):
    _code(session, clock, catalog)
    checkout_id = _open(session, clock, catalog)
    checkout.apply_code(session, clock, checkout_id, " save20 ", ip="1.2.3.4")
    session.commit()
    page = checkout.view(session, clock, checkout_id)
    assert page.total == "$16.00" and page.code_applied
    assert [line.amount for line in page.lines] == ["$20.00", "-$4.00"]
    result = _confirm(session, clock, gateway, checkout_id)
    lines = session.exec(
        select(InvoiceLine).where(InvoiceLine.invoice_id == result.invoice_id)
    ).all()
    assert [(line.kind, line.amount) for line in lines] == [
        ("subscription", 2000),
        ("discount", -400),
    ]
    assert session.get(Invoice, result.invoice_id).total == 1600
    redemption = session.exec(select(CouponRedemption)).one()
    assert (redemption.checkout_id, redemption.amount_off) == (checkout_id, 400)
    assert session.exec(select(Coupon)).one().times_redeemed == 1


def test_a_bad_code_is_refused_inline_and_changes_nothing(session, clock, catalog):
    _code(session, clock, catalog, plan_ids=[catalog.plans["Basic"].id])
    checkout_id = _open(session, clock, catalog)
    for code, reason in (("NOPE", "unknown"), ("SAVE20", "wrong_plan"), ("", "unknown")):
        with pytest.raises(CouponError) as refused:
            checkout.apply_code(session, clock, checkout_id, code, ip="1.2.3.4")
        assert refused.value.code == reason
    session.rollback()
    assert session.get(CheckoutSession, checkout_id).promotion_code_id is None


def test_a_code_that_ran_out_after_it_was_applied_stops_the_confirm(
    session, clock, gateway, catalog
):
    promo = _code(session, clock, catalog, max_redemptions=1)
    first, second = _open(session, clock, catalog), _open(session, clock, catalog)
    for checkout_id in (first, second):
        checkout.apply_code(session, clock, checkout_id, "SAVE20", ip="1.2.3.4")
    session.commit()
    _confirm(session, clock, gateway, first)
    assert checkout.view(session, clock, second).code_problem
    before = _written(session)
    with pytest.raises(CouponError):
        _confirm(session, clock, gateway, second, email="other@example.com")
    assert _written(session) == before
    assert session.get(PromotionCode, promo.id).times_redeemed == 1


# --- one-time purchases -------------------------------------------------------------------------


def _product(session, catalog, **fields) -> Product:
    product = factories.make_product(session, catalog.merchant, **fields)
    session.commit()
    return product


def test_buying_a_product_makes_a_paid_order(session, clock, gateway, catalog):
    product = _product(session, catalog)
    checkout_id = _open(session, clock, catalog, slug="stickers")
    page = checkout.view(session, clock, checkout_id)
    assert (page.mode, page.title, page.total, page.next_renewal) == (
        "payment",
        "Sticker pack",
        "$12.00",
        "",
    )
    result = _confirm(session, clock, gateway, checkout_id)
    order = session.get(Order, result.order_id)
    assert (order.status, order.total, order.customer_id) == ("paid", 1200, result.customer_id)
    assert (order.invoice_id, order.checkout_id) == (result.invoice_id, checkout_id)
    assert session.get(Invoice, result.invoice_id).status == "paid"
    assert result.subscription_id is None and _count(session, Subscription) == 0
    assert product.id


def test_a_shipped_product_needs_the_shipping_address(session, clock, gateway, catalog):
    _product(session, catalog, shippable=True)
    checkout_id = _open(session, clock, catalog, slug="stickers")
    assert checkout.view(session, clock, checkout_id).needs_shipping_address
    with pytest.raises(CheckoutError):
        _confirm(session, clock, gateway, checkout_id)
    address = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
    result = _confirm(session, clock, gateway, checkout_id, shipping_address=address)
    assert session.get(Order, result.order_id).shipping_address["city"] == "Springfield"


# --- throttling and concurrency -----------------------------------------------------------------


def test_confirms_are_throttled_per_email(session, clock, gateway, catalog):
    checkout_id = _open(session, clock, catalog)
    refusals = []
    for _ in range(12):
        try:
            _confirm(session, clock, gateway, checkout_id, card=DECLINED)
        except CheckoutError as exc:
            refusals.append(exc.code)
        except PaymentError:
            pass
    assert refusals == ["rate_limited", "rate_limited"]  # 10 per hour per email


def test_ten_concurrent_confirms_of_one_session_complete_it_once(engine, session, clock, catalog):
    from portal_app.services.sandbox_gateway import SandboxGateway

    checkout_id = _open(session, clock, catalog)

    def confirm(s):
        return checkout.confirm(
            s, clock, SandboxGateway(), checkout_id, card=GOOD, ip="1.2.3.4", **VISITOR
        )

    outcomes, _ = factories.race(engine, [confirm] * 10)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors == []
    assert sorted(o.already_completed for o in outcomes) == [False] + [True] * 9
    assert len({o.subscription_id for o in outcomes}) == 1
    with Session(engine) as check:
        assert _written(check) == {
            "Customer": 1,
            "Subscription": 1,
            "Invoice": 1,
            "Payment": 1,
            "Receipt": 1,
            "Order": 0,
            "PaymentMethod": 1,
        }
        assert _count(check, SandboxCharge) == 1
        assert _count(check, OutboxEmail, OutboxEmail.kind == "welcome") == 1


def test_twenty_concurrent_checkouts_hold_a_codes_limit_of_five(engine, session, clock, catalog):
    from portal_app.services.sandbox_gateway import SandboxGateway

    _code(session, clock, catalog, max_redemptions=5)
    ids = []
    for _ in range(20):
        checkout_id = _open(session, clock, catalog)
        checkout.apply_code(session, clock, checkout_id, "SAVE20", ip="1.2.3.4")
        ids.append(checkout_id)
    session.commit()
    ratelimit.reset_singletons()

    def confirm(index):
        def work(s):
            return checkout.confirm(
                s,
                clock,
                SandboxGateway(),
                ids[index],
                card=GOOD,
                ip=f"198.51.100.{index}",
                email=f"buyer{index}@example.com",
                name="Buyer",
            )

        return work

    outcomes, _ = factories.race(engine, [confirm(i) for i in range(20)])
    won = [o for o in outcomes if isinstance(o, checkout.ConfirmResult)]
    lost = [o for o in outcomes if not isinstance(o, checkout.ConfirmResult)]
    assert len(won) == 5
    assert {type(o).__name__ for o in lost} == {"CouponError"}
    with Session(engine) as check:
        assert check.exec(select(Coupon)).one().times_redeemed == 5
        assert _count(check, CouponRedemption) == 5
        assert _count(check, Subscription) == 5 and _count(check, Customer) == 5
        assert _count(check, SandboxCharge) == 5
        numbers = sorted(check.exec(select(Invoice.number)))
        assert numbers == list(range(1, 6))  # gapless: the losers' numbers rolled back
