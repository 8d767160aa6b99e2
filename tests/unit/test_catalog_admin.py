"""Merchant staff edit the catalog through the services: products, plans and prices (a new amount
is a new price; subscribers keep theirs), retention offers as the cancellation flow uses them,
and digital products (private file store, license-key pools, https links, grants to plans).
Every rule and refusal, the audit trail, scoping to the merchant, nothing half-written."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import reflex as rx
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from portal_app.models import (
    AssetGrant,
    AuditEvent,
    DigitalAsset,
    Invoice,
    LicenseKey,
    Plan,
    Price,
    Product,
    RefusalTally,
    RetentionOffer,
    Subscription,
)
from portal_app.services import (
    audit,
    billing_clock,
    cancellation,
    catalog_admin,
    digital,
    digital_admin,
    features,
    retention_offers,
)
from portal_app.services import catalog as catalog_read
from portal_app.services.errors import CatalogError, NotFound
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_catalog import MerchantCatalogState
from tests import factories
from tests.factories import refused
from tests.statekit import call, run
from tests.unit.helpers_staff import a_customer_calls, app_product_id, staff_page, staff_root

STAFF = audit.Actor.merchant(7)


def _events(session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def staff(session, clock, catalog):
    """Call a staff service as STAFF in the test's session, for the first merchant unless
    merchant_id= is given: staff(catalog_admin.archive_plan, plan_id=plan.id)."""

    def call(service, **kw):
        return service(session, clock, actor=STAFF, **{"merchant_id": catalog.merchant.id, **kw})

    return call


@pytest.fixture
def other(session, clock):
    """A second merchant with its own catalog: its ids must be "not found" for the first."""
    return factories.make_catalog(session, clock, slug="globex")


@pytest.fixture
def files_dir(tmp_path, monkeypatch):
    root = tmp_path / "private_files"
    monkeypatch.setenv("PORTAL_FILES_DIR", str(root))
    return root


def _plan(session, clock, catalog_, **overrides):
    values = {
        "merchant_id": catalog_.merchant.id,
        "product_id": catalog_.product.id,
        "name": "Scale",
        "description": "For growing teams",
        "features": ["50 projects", "Phone support"],
        "monthly_amount": 9900,
        "annual_amount": 99000,
        "actor": STAFF,
    }
    values.update(overrides)
    return catalog_admin.create_plan(session, clock, **values)


# --- products -----------------------------------------------------------------------------------


def test_create_product_is_audited(session, clock, catalog, staff):
    product = staff(
        catalog_admin.create_product, name="  Desktop app ", description="Native client"
    )
    assert (product.name, product.description, product.active) == (
        "Desktop app",
        "Native client",
        True,
    )
    [event] = _events(session, "catalog.product.create")
    assert (event.actor_type, event.actor_id, event.target_id) == ("merchant", "7", str(product.id))
    assert event.after == {"name": "Desktop app", "description": "Native client"}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Product name cannot be empty."),
        ("   ", "Product name cannot be empty."),
        ("x" * 201, "Product name can be at most 200 characters."),
        ("Bad\nname", "Product name contains line breaks or characters that are not allowed."),
        (42, "Product name must be text."),
        ("cloud", 'A product named "Cloud" already exists.'),
    ],
)
def test_product_name_rules(session, clock, catalog, name, message, staff):
    with pytest.raises(CatalogError) as caught:
        staff(catalog_admin.create_product, name=name)
    assert str(caught.value) == message
    assert _count(session, Product) == 1 and not _events(session, "catalog.product.create")


def test_all_problems_are_reported_at_once(session, clock, catalog, staff):
    with pytest.raises(CatalogError) as caught:
        staff(catalog_admin.create_product, name="", description="x" * 2001)
    assert str(caught.value) == (
        "Product name cannot be empty. Description can be at most 2000 characters."
    )


def test_update_product_and_refusals(session, clock, catalog, other, staff):
    staff(
        catalog_admin.update_product,
        product_id=catalog.product.id,
        name="Cloud Pro",
        description="Line one\nline two",
    )
    [event] = _events(session, "catalog.product.update")
    assert event.before == {"name": "Cloud", "description": ""}
    assert event.after == {"name": "Cloud Pro", "description": "Line one\nline two"}
    with refused(CatalogError, "unchanged"):
        staff(
            catalog_admin.update_product,
            product_id=catalog.product.id,
            name="Cloud Pro",
            description="Line one\nline two",
        )
    with pytest.raises(NotFound):
        staff(catalog_admin.update_product, product_id=other.product.id, name="Stolen")
    assert session.get(Product, other.product.id).name == "Cloud"


def test_archive_product_takes_its_plans_off_sale(
    session, clock, gateway, catalog, customer, card, staff
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    staff(catalog_admin.archive_product, product_id=catalog.product.id)
    assert not session.get(Product, catalog.product.id).active
    assert all(not plan.active for plan in catalog.plans.values())
    assert catalog_read.active_prices(session, catalog.merchant.id) == []
    [event] = _events(session, "catalog.product.archive")
    assert sorted(event.after["plans_archived"]) == sorted(p.id for p in catalog.plans.values())
    # The subscriber keeps the plan and price.
    fresh = session.get(Subscription, sub.id)
    assert (fresh.status, fresh.price_id) == ("active", catalog.monthly["Pro"].id)
    with refused(CatalogError, "already_archived"):
        staff(catalog_admin.archive_product, product_id=catalog.product.id)
    with refused(CatalogError, "archived"):
        staff(catalog_admin.update_product, product_id=catalog.product.id, name="Again")
    with refused(CatalogError, "archived"):
        _plan(session, clock, catalog)


# --- plans and prices ---------------------------------------------------------------------------


def test_create_plan_with_monthly_and_annual_prices(session, clock, catalog):
    plan = _plan(session, clock, catalog)
    assert (plan.name, plan.tier, plan.features, plan.active) == (
        "Scale",
        3,  # above Basic 0, Pro 1, Business 2
        ["50 projects", "Phone support"],
        True,
    )
    prices = session.exec(select(Price).where(Price.plan_id == plan.id)).all()
    assert sorted((p.interval, p.amount, p.currency, p.active) for p in prices) == [
        ("month", 9900, "USD", True),
        ("year", 99000, "USD", True),
    ]
    [event] = _events(session, "catalog.plan.create")
    assert event.after["tier"] == 3
    assert sorted((p["interval"], p["amount"]) for p in event.after["prices"]) == [
        ("month", 9900),
        ("year", 99000),
    ]
    # The portal offers it at once: an upgrade from Pro.
    offered = {
        info.price.id: info for info in catalog_read.active_prices(session, catalog.merchant.id)
    }
    assert {p.id for p in prices} <= set(offered)
    pro = catalog_read.price_info(session, catalog.merchant.id, catalog.monthly["Pro"].id)
    new = offered[next(p.id for p in prices if p.interval == "month")]
    assert catalog_read.direction(pro, new) == "upgrade"


def test_plan_prices_use_the_merchants_currency(session, clock, catalog):
    catalog.merchant.default_currency = "EUR"
    session.add(catalog.merchant)
    plan = _plan(session, clock, catalog, annual_amount=None)
    [price] = session.exec(select(Price).where(Price.plan_id == plan.id)).all()
    assert (price.interval, price.amount, price.currency) == ("month", 9900, "EUR")


def test_annual_price_is_not_required_and_monthly_neither(session, clock, catalog):
    monthly_only = _plan(session, clock, catalog, annual_amount=None)
    annual_only = _plan(session, clock, catalog, name="Yearly", monthly_amount=None)
    intervals = {
        plan.id: [p.interval for p in session.exec(select(Price).where(Price.plan_id == plan.id))]
        for plan in (monthly_only, annual_only)
    }
    assert intervals == {monthly_only.id: ["month"], annual_only.id: ["year"]}
    assert (monthly_only.tier, annual_only.tier) == (3, 4)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"monthly_amount": None, "annual_amount": None},
            "Give the plan a monthly price, an annual price or both.",
        ),
        ({"monthly_amount": 0}, "Monthly price must be more than zero."),
        ({"annual_amount": -100}, "Annual price must be more than zero."),
        ({"monthly_amount": 9.99}, "Monthly price must be a whole number of minor units."),
        ({"monthly_amount": "990"}, "Monthly price must be a whole number of minor units."),
        ({"monthly_amount": True}, "Monthly price must be a whole number of minor units."),
        ({"annual_amount": 100_000_001}, "Annual price can be at most $1,000,000.00."),
        ({"name": "pro"}, 'This product already has a plan named "Pro".'),
        ({"tier": 1}, 'Tier 1 is already used by "Pro".'),
        ({"tier": -1}, "Tier must be between 0 and 999."),
        ({"tier": "2"}, "Tier must be a whole number."),
        ({"features": "fast"}, "Features must be a list of short texts."),
        ({"features": ["x" * 121]}, "Each feature can be at most 120 characters."),
        ({"features": [f"f{i}" for i in range(21)]}, "A plan can list at most 20 features."),
    ],
)
def test_plan_rules(session, clock, catalog, overrides, message):
    plans_before, prices_before = _count(session, Plan), _count(session, Price)
    with pytest.raises(CatalogError) as caught:
        _plan(session, clock, catalog, **overrides)
    assert str(caught.value) == message
    assert (_count(session, Plan), _count(session, Price)) == (plans_before, prices_before)
    assert not _events(session, "catalog.plan.create")


def test_plan_names_are_per_product_and_archived_tiers_stay_taken(session, clock, catalog, staff):
    desktop = staff(catalog_admin.create_product, name="Desktop")
    pro_desktop = _plan(session, clock, catalog, product_id=desktop.id, name="Pro")
    assert pro_desktop.tier == 0  # tiers count per product
    staff(catalog_admin.archive_plan, plan_id=pro_desktop.id)
    again = _plan(session, clock, catalog, product_id=desktop.id, name="Pro")  # name reusable
    assert again.tier == 1
    with pytest.raises(CatalogError, match=r'Tier 0 is already used by "Pro" \(archived\)'):
        _plan(session, clock, catalog, product_id=desktop.id, name="Other", tier=0)


def test_plan_refusals_for_another_merchant(session, clock, catalog, other):
    with pytest.raises(NotFound, match="Product not found"):
        _plan(session, clock, catalog, product_id=other.product.id)
    for service, kwargs in (
        (catalog_admin.archive_plan, {"plan_id": other.plans["Pro"].id}),
        (catalog_admin.archive_price, {"price_id": other.monthly["Pro"].id}),
        (
            catalog_admin.set_price,
            {"plan_id": other.plans["Pro"].id, "interval": "month", "amount": 1},
        ),
        (
            catalog_admin.update_plan,
            {"plan_id": other.plans["Pro"].id, "name": "Mine", "tier": 9},
        ),
    ):
        with pytest.raises(NotFound):
            service(session, clock, merchant_id=catalog.merchant.id, actor=STAFF, **kwargs)
    assert session.get(Plan, other.plans["Pro"].id).active
    assert session.get(Price, other.monthly["Pro"].id).active


def test_update_plan(session, clock, catalog, staff):
    pro = catalog.plans["Pro"]

    def update(features):
        return staff(
            catalog_admin.update_plan,
            plan_id=pro.id,
            name="Pro+",
            description="More",
            features=features,
            tier=5,
        )

    update(["a", " b ", ""])
    assert (pro.name, pro.description, pro.features, pro.tier) == ("Pro+", "More", ["a", "b"], 5)
    [event] = _events(session, "catalog.plan.update")
    assert event.before["tier"] == 1 and event.after["tier"] == 5
    with refused(CatalogError, "unchanged"):
        update(["a", "b"])
    with pytest.raises(CatalogError, match='Tier 2 is already used by "Business"'):
        staff(catalog_admin.update_plan, plan_id=pro.id, name="Pro+", tier=2)
    assert pro.tier == 5


def test_archive_plan_hides_it_but_subscribers_keep_it(
    session, clock, gateway, catalog, customer, card, staff
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Basic"])
    business = catalog.plans["Business"]
    staff(catalog_admin.archive_plan, plan_id=business.id)
    offered = {info.plan.id for info in catalog_read.active_prices(session, catalog.merchant.id)}
    assert business.id not in offered and catalog.plans["Pro"].id in offered
    with pytest.raises(Exception, match="no longer offered"):
        factories.preview_change(session, clock, customer, sub, catalog.monthly["Business"])
    [event] = _events(session, "catalog.plan.archive")
    assert event.after == {"active": False, "subscribers": 0}
    with refused(CatalogError, "already_archived"):
        staff(catalog_admin.archive_plan, plan_id=business.id)
    with refused(CatalogError, "archived"):
        staff(catalog_admin.update_plan, plan_id=business.id, name="B", tier=2)


def test_a_new_amount_is_a_new_price_and_subscribers_keep_theirs(
    engine, session, clock, gateway, catalog, customer, card, staff
):
    old = catalog.monthly["Pro"]
    sub = factories.subscribe(session, clock, gateway, customer, old)
    new = staff(
        catalog_admin.set_price, plan_id=catalog.plans["Pro"].id, interval="month", amount=2500
    )
    assert new.id != old.id
    assert (new.amount, new.currency, new.active) == (2500, "USD", True)
    assert (old.amount, old.active) == (2000, False)  # archived, never changed
    assert session.get(Subscription, sub.id).price_id == old.id
    [event] = _events(session, "catalog.price.create")
    assert event.before == {"price_id": old.id, "amount": 2000, "active": False}
    assert event.after["replaces"] == old.id and event.after["subscribers_keeping_old_price"] == 1
    # New customers are offered the new price only.
    offered = [
        i.price.id
        for i in catalog_read.active_prices(session, catalog.merchant.id)
        if i.plan.name == "Pro"
    ]
    assert new.id in offered and old.id not in offered
    session.commit()
    # The subscriber renews at the price they signed up for.
    clock.advance(timedelta(days=32))
    billing_clock.advance(engine, clock, gateway)
    with Session(engine) as fresh:
        renewal = fresh.exec(
            select(Invoice).where(
                Invoice.customer_id == customer.id, Invoice.billing_reason == "subscription_cycle"
            )
        ).one()
        assert renewal.total == 2000


def test_set_price_adds_a_missing_interval_and_refusals(session, clock, catalog, staff):
    plan = _plan(session, clock, catalog, annual_amount=None)
    annual = staff(catalog_admin.set_price, plan_id=plan.id, interval="year", amount=95000)
    assert (annual.interval, annual.amount) == ("year", 95000)
    [event] = _events(session, "catalog.price.create")
    assert event.before is None and event.after["replaces"] is None
    for interval, amount, message in (
        ("year", 95000, "The annual price is already $950.00."),
        ("week", 100, "Choose monthly or annual."),
        ("month", 0, "Price must be more than zero."),
        ("month", None, "Price is required."),
        ("day", "5", "Choose monthly or annual. Price must be a whole number of minor units."),
    ):
        with pytest.raises(CatalogError) as caught:
            staff(catalog_admin.set_price, plan_id=plan.id, interval=interval, amount=amount)
        assert str(caught.value) == message
    staff(catalog_admin.archive_plan, plan_id=plan.id)
    with refused(CatalogError, "archived"):
        staff(catalog_admin.set_price, plan_id=plan.id, interval="month", amount=1)


def test_archive_price_keeps_one_price_on_sale(session, clock, catalog, staff):
    annual = catalog.annual["Basic"]
    staff(catalog_admin.archive_price, price_id=annual.id)
    assert not annual.active
    [event] = _events(session, "catalog.price.archive")
    assert event.after == {"active": False, "subscribers": 0}
    with refused(CatalogError, "already_archived"):
        staff(catalog_admin.archive_price, price_id=annual.id)
    monthly = catalog.monthly["Basic"]
    with pytest.raises(CatalogError) as caught:
        staff(catalog_admin.archive_price, price_id=monthly.id)
    assert (
        str(caught.value) == 'This is the last price of "Basic" on sale. Archive the plan instead.'
    )
    assert monthly.active


def test_only_one_active_price_per_plan_interval_and_currency(session, catalog):
    """The database backs the rule too (a partial unique index, on SQLite and PostgreSQL)."""
    pro = catalog.plans["Pro"]

    def monthly(amount, **kw):
        return Price(
            merchant_id=catalog.merchant.id,
            plan_id=pro.id,
            interval="month",
            amount=amount,
            currency="USD",
            **kw,
        )

    session.add(monthly(1, active=False))
    session.flush()  # archived duplicates are fine
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(monthly(2))
        session.flush()


def test_overview_counts_subscribers_per_price(
    session, clock, gateway, catalog, customer, card, staff
):
    factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    new = staff(
        catalog_admin.set_price, plan_id=catalog.plans["Pro"].id, interval="month", amount=2500
    )
    [product] = catalog_admin.overview(session, catalog.merchant.id)
    assert [row.plan.name for row in product.plans] == ["Basic", "Pro", "Business"]
    pro = product.plans[1]
    assert [(r.price.id, r.price.active, r.subscribers) for r in pro.prices] == [
        (new.id, True, 0),
        (catalog.annual["Pro"].id, True, 0),
        (catalog.monthly["Pro"].id, False, 1),
    ]
    assert pro.prices[0].label == "$25.00/month" and pro.subscribers == 1


# --- retention offers ---------------------------------------------------------------------------


def _new_offer(session, clock, merchant_id, **overrides):
    values = {
        "merchant_id": merchant_id,
        "name": "30% off for 2 months",
        "percent_off": 30,
        "duration_cycles": 2,
        "reasons": ["low_quality", "too_complex"],
        "actor": STAFF,
    }
    values.update(overrides)
    return retention_offers.create_offer(session, clock, **values)


def test_create_offer_is_audited_and_reasons_follow_the_survey_order(session, clock, catalog):
    offer = _new_offer(session, clock, catalog.merchant.id)
    assert (offer.percent_off, offer.duration_cycles, offer.active) == (30, 2, True)
    assert offer.reasons == ["too_complex", "low_quality"]
    [event] = _events(session, "retention_offer.create")
    assert event.after == {
        "name": "30% off for 2 months",
        "percent_off": 30,
        "duration_cycles": 2,
        "reasons": ["too_complex", "low_quality"],
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"percent_off": 0}, "Percent off must be between 1 and 100."),
        ({"percent_off": 101}, "Percent off must be between 1 and 100."),
        ({"percent_off": 12.5}, "Percent off must be a whole number."),
        ({"duration_cycles": 0}, "Number of renewals must be between 1 and 36."),
        ({"duration_cycles": 37}, "Number of renewals must be between 1 and 36."),
        ({"duration_cycles": None}, "Number of renewals is required."),
        (
            {"reasons": ["too_expensive", "bored"]},
            "Unknown reason: bored. Choose among the survey's reasons.",
        ),
        ({"reasons": "too_expensive"}, "Reasons must be a list of survey reasons."),
        ({"name": ""}, "Offer name cannot be empty."),
    ],
)
def test_offer_rules(session, clock, catalog, overrides, message):
    with pytest.raises(CatalogError) as caught:
        _new_offer(session, clock, catalog.merchant.id, **overrides)
    assert str(caught.value) == message
    assert _count(session, RetentionOffer) == 0


def test_offer_names_are_unique_per_merchant(session, clock, catalog, other):
    _new_offer(session, clock, catalog.merchant.id)
    with pytest.raises(CatalogError, match='An offer named "30% off for 2 months" already'):
        _new_offer(session, clock, catalog.merchant.id, name="30% OFF FOR 2 MONTHS")
    _new_offer(session, clock, other.merchant.id)  # another merchant may use the name


def _attempt(session, clock, customer, sub, reason):
    actor = audit.Actor.customer(customer.id)
    attempt = cancellation.start(
        session, clock, customer_id=customer.id, subscription_id=sub.id, actor=actor
    )
    cancellation.answer_survey(
        session, clock, customer_id=customer.id, attempt_id=attempt.id, reason=reason, actor=actor
    )
    return attempt


def test_a_new_offer_reaches_the_cancellation_flow_for_its_reasons(
    session, clock, gateway, catalog, customer, card, staff
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    offer = _new_offer(session, clock, catalog.merchant.id)
    attempt = _attempt(session, clock, customer, sub, "low_quality")
    shown = cancellation.offers(session, clock, customer_id=customer.id, attempt_id=attempt.id)
    assert shown.discount is not None
    assert (shown.discount.offer_id, shown.discount.percent_off, shown.discount.renewals) == (
        offer.id,
        30,
        2,
    )
    assert shown.discount.amount_per_renewal == 1400  # 30% off $20.00

    # Disabled: customers stop seeing it at once.
    staff(retention_offers.set_active, offer_id=offer.id, active=False)
    shown = cancellation.offers(session, clock, customer_id=customer.id, attempt_id=attempt.id)
    assert shown.discount is None
    assert [e.after for e in _events(session, "retention_offer.disable")] == [{"active": False}]
    with refused(CatalogError, "unchanged"):
        staff(retention_offers.set_active, offer_id=offer.id, active=False)
    staff(retention_offers.set_active, offer_id=offer.id, active=True)
    shown = cancellation.offers(session, clock, customer_id=customer.id, attempt_id=attempt.id)
    assert shown.discount.offer_id == offer.id

    # Another reason it is not aimed at: not shown.
    cancellation.answer_survey(
        session,
        clock,
        customer_id=customer.id,
        attempt_id=attempt.id,
        reason="unused",
        actor=audit.Actor.customer(customer.id),
    )
    shown = cancellation.offers(session, clock, customer_id=customer.id, attempt_id=attempt.id)
    assert shown.discount is None


def test_editing_an_offer_leaves_granted_discounts_alone(
    session, clock, gateway, catalog, customer, card, staff
):
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    offer = _new_offer(session, clock, catalog.merchant.id)
    attempt = _attempt(session, clock, customer, sub, "too_complex")
    cancellation.accept_offer(
        session,
        clock,
        customer_id=customer.id,
        attempt_id=attempt.id,
        offer_id=offer.id,
        actor=audit.Actor.customer(customer.id),
    )

    def update(reasons):
        return staff(
            retention_offers.update_offer,
            offer_id=offer.id,
            name="50% off once",
            percent_off=50,
            duration_cycles=1,
            reasons=reasons,
        )

    update([])
    assert (offer.name, offer.percent_off, offer.duration_cycles, offer.reasons) == (
        "50% off once",
        50,
        1,
        [],
    )
    fresh = session.get(Subscription, sub.id)
    assert (fresh.discount_percent, fresh.discount_cycles_remaining) == (30, 2)
    [event] = _events(session, "retention_offer.update")
    assert event.before["percent_off"] == 30 and event.after["percent_off"] == 50
    [row] = retention_offers.list_offers(session, catalog.merchant.id)
    assert row.redemptions == 1
    with refused(CatalogError, "unchanged"):
        update(None)


def test_offers_of_another_merchant_are_not_found(session, clock, catalog, other, staff):
    theirs = _new_offer(session, clock, other.merchant.id)
    with pytest.raises(NotFound):
        staff(retention_offers.set_active, offer_id=theirs.id, active=False)
    with pytest.raises(NotFound):
        staff(
            retention_offers.update_offer,
            offer_id=theirs.id,
            name="Mine",
            percent_off=99,
            duration_cycles=9,
        )
    assert theirs.active and theirs.percent_off == 30
    with refused(CatalogError, "invalid_active"):
        staff(
            retention_offers.set_active,
            merchant_id=other.merchant.id,
            offer_id=theirs.id,
            active="no",
        )


def test_routing_shows_which_offer_each_reason_gets(session, clock, catalog):
    merchant_id = catalog.merchant.id
    anyone = _new_offer(
        session, clock, merchant_id, name="10% for anyone", percent_off=10, reasons=[]
    )
    aimed = _new_offer(
        session,
        clock,
        merchant_id,
        name="40% if too expensive",
        percent_off=40,
        reasons=["too_expensive"],
    )
    later = _new_offer(
        session,
        clock,
        merchant_id,
        name="45% if too expensive",
        percent_off=45,
        reasons=["too_expensive"],
    )
    routes = {route.reason: route for route in retention_offers.routing(session, merchant_id)}
    assert list(routes) == [*features.DEFAULT_REASONS, ""]
    assert routes["too_expensive"].offer.id == aimed.id  # aimed beats any-reason; oldest first
    assert routes["unused"].offer.id == anyone.id
    assert routes[""].offer.id == anyone.id
    assert all(route.discount_routed for route in routes.values())
    assert later.id not in {route.offer.id for route in routes.values() if route.offer}


# --- digital products ---------------------------------------------------------------------------


def _store(merchant_id, content=b"binary \x00 content", filename="Guide v2 (final).pdf", **kw):
    return digital_admin.store_file(merchant_id, io.BytesIO(content), filename, **kw)


def test_store_file_keeps_uploads_private_with_a_safe_name(files_dir, catalog):
    stored = _store(catalog.merchant.id)
    path = files_dir / stored.relative_path
    assert path.read_bytes() == b"binary \x00 content" and stored.size == 16
    assert stored.filename == "Guide-v2-final.pdf"
    assert stored.relative_path.startswith(f"{catalog.merchant.id}/")
    assert path.parent.parent == files_dir / str(catalog.merchant.id)
    for raw, safe in (
        ("../../etc/passwd", "passwd"),
        ("..", "download"),
        (".htaccess", "htaccess"),
        ("C:\\temp\\a b.zip", "a-b.zip"),
        ("x" * 300 + ".tar.gz", "x" * 117 + ".gz"),
        (None, "download"),
    ):
        assert digital_admin.safe_filename(raw) == safe


def test_store_file_refuses_empty_and_too_large_files_and_leaves_nothing(files_dir, catalog):
    with refused(CatalogError, "empty_file"):
        _store(catalog.merchant.id, content=b"")
    with pytest.raises(CatalogError, match="larger than 1 MB"):
        _store(catalog.merchant.id, content=b"x" * (1024 * 1024 + 1), max_bytes=1024 * 1024)
    leftovers = [p for p in files_dir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_file_asset_granted_to_a_plan_reaches_its_subscribers(
    session, clock, gateway, files_dir, catalog, customer, card, staff
):
    merchant_id = catalog.merchant.id
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    stored = _store(merchant_id)
    asset = staff(
        digital_admin.create_file_asset,
        name="User guide",
        description="PDF",
        stored_path=stored.relative_path,
        download_limit=3,
    )
    assert (asset.kind, asset.file_size, asset.download_limit) == ("file", 16, 3)
    assert digital.entitled_assets(session, customer.id) == []  # not granted yet
    granted = staff(
        digital_admin.set_grants,
        asset_id=asset.id,
        plan_ids=[catalog.plans["Pro"].id, catalog.plans["Business"].id],
    )
    assert granted == sorted([catalog.plans["Pro"].id, catalog.plans["Business"].id])
    assert [a.id for a in digital.entitled_assets(session, customer.id)] == [asset.id]
    url, _ = digital.download_link(session, clock, customer_id=customer.id, asset_id=asset.id)
    served = digital.open_download(
        session, clock, token=url.removeprefix("/files/"), actor=audit.Actor.customer(customer.id)
    )
    assert served.path.read_bytes() == b"binary \x00 content"
    assert served.filename == "Guide-v2-final.pdf"
    [create] = _events(session, "asset.create")
    assert create.after == {"kind": "file", "name": "User guide", "size": 16, "download_limit": 3}
    [grants] = _events(session, "asset.grants")
    assert grants.before == {"plan_ids": []} and grants.after == {"plan_ids": granted}

    # Revoking every plan takes it away again.
    staff(digital_admin.set_grants, asset_id=asset.id, plan_ids=[])
    assert digital.entitled_assets(session, customer.id) == []
    assert session.get(Subscription, sub.id).status == "active"


def test_file_asset_refusals(session, clock, files_dir, catalog, other, staff):
    merchant_id = catalog.merchant.id
    theirs = _store(other.merchant.id)
    (files_dir / "loose.txt").write_text("not an upload")
    for stored_path in (theirs.relative_path, "../loose.txt", "loose.txt", "", None, 5):
        with pytest.raises(NotFound, match="Upload it again"):
            staff(digital_admin.create_file_asset, name="Stolen", stored_path=stored_path)
    mine = _store(merchant_id)
    with pytest.raises(CatalogError) as caught:
        staff(
            digital_admin.create_file_asset,
            name="",
            stored_path=mine.relative_path,
            download_limit=0,
        )
    assert str(caught.value) == "Name cannot be empty. Download limit must be between 1 and 10,000."
    staff(digital_admin.create_file_asset, name="Once", stored_path=mine.relative_path)
    with refused(CatalogError, "upload_used"):
        staff(digital_admin.create_file_asset, name="Twice", stored_path=mine.relative_path)
    assert _count(session, DigitalAsset) == 1


def test_discard_stored_file_only_removes_unused_uploads(session, clock, files_dir, catalog, staff):
    merchant_id = catalog.merchant.id
    unused, used = _store(merchant_id), _store(merchant_id)
    staff(digital_admin.create_file_asset, name="Kept", stored_path=used.relative_path)
    assert digital_admin.discard_stored_file(session, merchant_id, unused.relative_path)
    assert not (files_dir / unused.relative_path).exists()
    assert not digital_admin.discard_stored_file(session, merchant_id, used.relative_path)
    assert (files_dir / used.relative_path).exists()
    assert not digital_admin.discard_stored_file(session, merchant_id + 1, used.relative_path)


def test_license_pool_dedupes_and_counts_available_keys(
    session, clock, gateway, catalog, customer, card, staff
):
    merchant_id = catalog.merchant.id
    asset, result = staff(
        digital_admin.create_license_asset,
        name="Desktop licence",
        keys_text="AAA-1\r\n\n  BBB-2  \nAAA-1\nCCC-3\n",
    )
    assert (result.added, result.repeated_in_paste, result.already_present) == (3, 1, 0)
    assert result.summary() == "Added 3 keys. Skipped 1 duplicate."
    keys = session.exec(select(LicenseKey.key).where(LicenseKey.asset_id == asset.id)).all()
    assert sorted(keys) == ["AAA-1", "BBB-2", "CCC-3"]
    more = staff(digital_admin.add_license_keys, asset_id=asset.id, keys_text="CCC-3\nDDD-4")
    assert (more.added, more.already_present) == (1, 1)
    [event] = _events(session, "asset.keys_add")
    assert event.before == {"total": 3, "available": 3}
    assert event.after == {"added": 1, "skipped": 1}

    # A customer on a granted plan takes one key: one fewer available.
    factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    staff(digital_admin.set_grants, asset_id=asset.id, plan_ids=[catalog.plans["Pro"].id])
    digital.reveal_license_key(
        session,
        clock,
        customer_id=customer.id,
        asset_id=asset.id,
        actor=audit.Actor.customer(customer.id),
    )
    assert digital_admin.key_counts(session, [asset.id])[asset.id] == digital_admin.KeyCount(4, 3)
    [row] = digital_admin.list_assets(session, merchant_id)
    assert (row.keys.total, row.keys.available, [p.name for p in row.plans]) == (4, 3, ["Pro"])


def test_license_key_refusals(session, clock, catalog, other, staff):
    for text, message in (
        ("\n \n", "Paste at least one key, one per line."),
        (["A"], "Paste the keys as text, one per line."),
        ("ok\n" + "k" * 129, "Keys can be at most 128 characters without control characters"),
        ("a\x07b", "Keys can be at most 128 characters without control characters"),
    ):
        with pytest.raises(CatalogError, match=message):
            staff(digital_admin.create_license_asset, name="Pool", keys_text=text)
    assert _count(session, DigitalAsset) == 0 and _count(session, LicenseKey) == 0
    theirs, _ = staff(
        digital_admin.create_license_asset,
        merchant_id=other.merchant.id,
        name="Theirs",
        keys_text="SHARED-1",
    )
    with pytest.raises(NotFound):
        staff(digital_admin.add_license_keys, asset_id=theirs.id, keys_text="X")
    mine, _ = staff(digital_admin.create_license_asset, name="Mine", keys_text="MINE-1")
    with refused(CatalogError, "keys_pooled"):
        staff(digital_admin.add_license_keys, asset_id=mine.id, keys_text="MINE-1\nMINE-1")
    with refused(CatalogError, "keys_pooled"):
        staff(digital_admin.create_license_asset, name="Dup", keys_text="MINE-1")
    assert _count(session, DigitalAsset) == 2  # the refused pool was not half-written


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/x", "Links must start with https://."),
        ("javascript:alert(1)", "Links must start with https://."),
        ("ftp://example.com", "Links must start with https://."),
        ("https://user:pw@example.com/", "Links cannot contain a user name or password."),
        ("https://exa mple.com", "The link cannot contain spaces or control characters."),
        ("https://", "That link has no valid host name."),
        ("https://localhost/x", "That link has no valid host name."),
        ("https://bad_host.com/", "That link has no valid host name."),
        ("https://example.com:99999/", "That link is not a valid address."),
        ("", "Enter the link's address (https://…)."),
        ("https://example.com/" + "a" * 1000, "The link can be at most 1000 characters."),
    ],
)
def test_links_must_be_https(session, clock, catalog, url, message, staff):
    with pytest.raises(CatalogError) as caught:
        staff(digital_admin.create_link_asset, name="Community", url=url)
    assert str(caught.value) == message
    assert _count(session, DigitalAsset) == 0


def test_link_asset_and_editing(session, clock, catalog, staff):
    link = staff(
        digital_admin.create_link_asset,
        name="Community",
        url=" https://Community.example.com/acme?x=1 ",
    )
    assert link.url == "https://Community.example.com/acme?x=1"

    def rename_to_forum(url):
        return staff(digital_admin.update_asset, asset_id=link.id, name="Forum", url=url)

    rename_to_forum("https://forum.example.com/")
    assert (link.name, link.url) == ("Forum", "https://forum.example.com/")
    [event] = _events(session, "asset.update")
    assert event.before["url"] == "https://Community.example.com/acme?x=1"
    with pytest.raises(CatalogError, match="Links must start with https://"):
        rename_to_forum("http://forum.example.com/")
    with refused(CatalogError, "unchanged"):
        rename_to_forum("https://forum.example.com/")
    assert link.url == "https://forum.example.com/"


def test_grant_refusals(session, clock, catalog, other, staff):
    link = staff(digital_admin.create_link_asset, name="Docs", url="https://docs.example.com")
    with pytest.raises(NotFound):
        staff(
            digital_admin.set_grants,
            asset_id=link.id,
            plan_ids=[catalog.plans["Pro"].id, other.plans["Pro"].id],
        )
    for bad in ("1", [True], [1.0], None):
        with refused(CatalogError, "invalid_plans"):
            staff(digital_admin.set_grants, asset_id=link.id, plan_ids=bad)
    with refused(CatalogError, "unchanged"):
        staff(digital_admin.set_grants, asset_id=link.id, plan_ids=[])
    theirs = staff(
        digital_admin.create_link_asset,
        merchant_id=other.merchant.id,
        name="Theirs",
        url="https://globex.example.com",
    )
    with pytest.raises(NotFound):
        staff(digital_admin.set_grants, asset_id=theirs.id, plan_ids=[catalog.plans["Pro"].id])
    assert _count(session, AssetGrant) == 0
    assert not _events(session, "asset.grants")


def test_audit_chain_stays_intact_after_catalog_changes(session, clock, catalog, staff):
    merchant_id = catalog.merchant.id
    plan = _plan(session, clock, catalog)
    staff(catalog_admin.set_price, plan_id=plan.id, interval="month", amount=8900)
    _new_offer(session, clock, merchant_id)
    assert audit.verify_chain(session, merchant_id).ok
    assert (
        session.exec(
            select(sa.func.count(AuditEvent.id)).where(AuditEvent.merchant_id == merchant_id)
        ).one()
        >= 3
    )


# --- the staff's page: state handlers called as Reflex calls them ------------------------------


def test_staff_creates_a_plan_through_the_page_state(app_db):

    product_id = str(app_product_id(app_db))

    async def scenario():
        root = staff_root(app_db)
        await call(root, MerchantCatalogState, "load")
        bad = {"product_id": product_id, "name": "Scale", "monthly": "99.999"}
        await call(root, MerchantCatalogState, "create_plan", bad)
        state = await root.get_state(MerchantCatalogState)
        error = state.plan_error
        good = {"product_id": product_id, "name": "Scale", "monthly": "99.00", "annual": ""}
        result = await call(root, MerchantCatalogState, "create_plan", good)
        return error, result, state.plans, state.plan_error

    error, result, plans, error_after = run(scenario())
    assert error == "Monthly price: enter an amount like $29.00."
    assert 'Plan "Scale" created' in str(result) and error_after == ""
    [scale] = [plan for plan in plans if plan["name"] == "Scale"]
    assert (scale["prices"], scale["tier"], scale["active"]) == ("$99.00/month", "3", "yes")


def test_customers_cannot_use_the_catalog_handlers(app_db):
    form = {"product_id": str(app_product_id(app_db)), "name": "Free", "monthly": "1.00"}
    result, state = a_customer_calls(app_db, MerchantCatalogState, "create_plan", form)
    assert "/merchant/login" in str(result) and state.plans == []
    with Session(app_db["engine"]) as session:
        assert session.exec(select(Plan).where(Plan.name == "Free")).first() is None


def test_forged_ids_are_refused_and_another_merchants_are_not_found(app_db):

    with Session(app_db["engine"]) as session:
        theirs = factories.make_catalog(session, CLOCK, slug="globex")
        their_plan = theirs.plans["Pro"].id
        session.commit()

    async def scenario():
        root = staff_root(app_db)
        forged = await call(root, MerchantCatalogState, "open_editor", "plan", "1 OR 1=1")
        not_a_form = await call(root, MerchantCatalogState, "create_plan", "name=Free")
        foreign = await call(root, MerchantCatalogState, "ask_archive", "plan", str(their_plan))
        state = await root.get_state(MerchantCatalogState)
        return forged, not_a_form, foreign, state.confirm_kind

    forged, not_a_form, foreign, confirm_kind = run(scenario())
    assert "not valid" in str(forged) and "not valid" in str(not_a_form)
    assert "Plan not found" in str(foreign) and confirm_kind == ""
    with Session(app_db["engine"]) as session:
        denied = session.exec(
            select(RefusalTally).where(RefusalTally.action == "authz.denied")
        ).all()
        assert {t.rule.partition(":")[0] for t in denied} >= {"malformed_arguments", "not_found"}
        assert session.get(Plan, their_plan).active


def test_uploads_need_the_pages_single_use_ticket(app_db, files_dir):
    """The upload endpoint runs the handler with the last socket's cookie, so a client that only
    knows the token could upload as the staff: the ticket, sent over the page's socket, stops it."""

    def upload(content=b"PDF bytes"):
        return [rx.UploadFile(file=io.BytesIO(content), path=Path("Guide (v2).pdf"))]

    async def scenario():
        root, state = await staff_page(app_db["sessions"]["staff"], MerchantCatalogState, "load")
        ticket = state.upload_ticket
        handler = MerchantCatalogState.upload_file.fn
        await handler(state, upload(), "guessed-ticket")
        refused = (state.upload_error, state.staged_name)
        ticket = state.upload_ticket  # a refused try used the old ticket up
        await handler(state, upload(), ticket)
        stored = (state.staged_name, state.staged_size, state._staged_path)
        await handler(state, upload(b"again"), ticket)  # the same ticket twice
        replay = state.upload_error
        result = await call(
            root, MerchantCatalogState, "create_file_asset", {"name": "Guide", "download_limit": ""}
        )
        return refused, stored, replay, result, state.assets, state.staged_name

    refused, stored, replay, result, assets, staged_after = run(scenario())
    assert refused == ("This upload form has expired. Reload the page and try again.", "")
    name, size, relative = stored
    assert (name, size) == ("Guide-v2.pdf", "9 B")
    assert (files_dir / relative).read_bytes() == b"PDF bytes"
    assert replay == "This upload form has expired. Reload the page and try again."
    assert '"Guide" created' in str(result) and staged_after == ""
    [asset] = [a for a in assets if a["name"] == "Guide"]
    assert (asset["kind"], asset["plans"]) == ("file", "Not granted to any plan")
    stored_files = [p for p in files_dir.rglob("*") if p.is_file()]
    assert stored_files == [files_dir / relative]  # nothing else was written anywhere
    with Session(app_db["engine"]) as session:
        row = session.exec(select(DigitalAsset).where(DigitalAsset.name == "Guide")).one()
        assert (row.file_path, row.file_size) == (relative, 9)


def test_plan_entitlements_from_the_editors_lines(session, clock, catalog, staff):
    pro = catalog.plans["Pro"]
    keep = {"name": "Pro", "tier": pro.tier}
    staff(
        catalog_admin.update_plan,
        plan_id=pro.id,
        entitlements="seats: 5\napi_access: true\n\nsso: false\nregion: eu-west",
        **keep,
    )
    assert pro.entitlements == {"seats": 5, "api_access": True, "sso": False, "region": "eu-west"}
    [event] = _events(session, "catalog.plan.update")
    assert event.after["entitlements"]["seats"] == 5
    from portal_app.services.catalog_rules import entitlement_lines
    from portal_app.services.pricing_view import entitlements_label

    assert entitlement_lines(pro.entitlements) == (
        "seats: 5\napi_access: true\nsso: false\nregion: eu-west"
    )
    assert entitlements_label(pro.entitlements) == "Seats: 5 · API access · Region: eu-west"
    for bad, words in (
        ("Seats: 5", "lower-case"),
        ("seats 5", "lower-case"),
        ("seats:", "value is true, false"),
        ("note: " + "x" * 201, "value is true, false"),
        ("\n".join(f"k{n}: 1" for n in range(51)), "at most 50"),
    ):
        with pytest.raises(CatalogError, match=words):
            staff(catalog_admin.update_plan, plan_id=pro.id, entitlements=bad, **keep)
    assert pro.entitlements["seats"] == 5  # each refusal changed nothing
    staff(catalog_admin.update_plan, plan_id=pro.id, entitlements="", **keep)
    assert pro.entitlements == {}
