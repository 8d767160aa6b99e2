"""What checkout sells, as staff set it in the catalog: a plan's free trial (days, card up front)
and public sale with its buy link, a product's one-time price, shipping and the digital assets
it grants once bought; and the dashboard's Checkouts page (the list, "Create a checkout link").
Refusals by `.code` or message, nothing written on a refusal, every change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal_app.models import AssetGrant, AuditEvent, CheckoutSession, Plan, Product
from portal_app.services import (
    audit,
    catalog_admin,
    digital_admin,
    features,
    merchant_checkouts_view,
)
from portal_app.services.errors import CatalogError, NotFound, PortalError
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_catalog import MerchantCatalogState
from portal_app.state.merchant_checkouts import MerchantCheckoutsState
from tests import factories
from tests.factories import refused
from tests.statekit import call, run
from tests.unit.helpers_staff import (
    a_customer_calls,
    app_product_id,
    staff_as,
    staff_page,
    staff_root,
)

STAFF = audit.Actor.merchant(7)


@pytest.fixture
def staff(session, clock, catalog):
    def call_service(service, **kw):
        return service(session, clock, actor=STAFF, **{"merchant_id": catalog.merchant.id, **kw})

    return call_service


def _events(session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def _plan(staff, catalog, **terms) -> Plan:
    return staff(
        catalog_admin.create_plan,
        product_id=catalog.product.id,
        name="Scale",
        monthly_amount=9900,
        **terms,
    )


# --- plans: trial, card up front, public sale, slug ---------------------------------------------


def test_a_new_plan_gets_its_trial_terms_slug_and_public_flag_audited(session, catalog, staff):
    plan = _plan(staff, catalog, trial_days=14, trial_requires_card=False, public=False)
    assert (plan.trial_days, plan.trial_requires_card, plan.public) == (14, False, False)
    assert plan.slug == "scale"
    [event] = _events(session, "catalog.plan.create")
    assert event.after["trial_days"] == 14 and event.after["trial_requires_card"] is False
    assert event.after["public"] is False and event.after["slug"] == "scale"


def test_a_new_plan_by_default_has_no_trial_and_is_sold_publicly(catalog, staff):
    plan = _plan(staff, catalog)
    assert (plan.trial_days, plan.trial_requires_card, plan.public) == (0, True, True)


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"trial_days": -1}, "Free trial (days) must be between 0 and 365."),
        ({"trial_days": 366}, "Free trial (days) must be between 0 and 365."),
        ({"trial_days": 7.5}, "Free trial (days) must be a whole number."),
        ({"trial_days": True}, "Free trial (days) must be a whole number."),
        ({"trial_days": "14"}, "Free trial (days) must be a whole number."),
        ({"trial_requires_card": "yes"}, "Card required for the trial must be yes or no."),
        ({"public": 1}, "Sold through public checkout must be yes or no."),
    ],
)
def test_bad_trial_terms_are_refused_and_nothing_is_written(
    session, catalog, staff, terms, message
):
    with refused(CatalogError, "invalid_catalog") as caught:
        _plan(staff, catalog, **terms)
    assert message in str(caught.value)
    assert session.exec(select(Plan).where(Plan.name == "Scale")).first() is None
    assert _events(session, "catalog.plan.create") == []


def test_every_problem_of_a_plan_is_reported_at_once(catalog, staff):
    with refused(CatalogError, "invalid_catalog") as caught:
        _plan(staff, catalog, trial_days=400, public="no", tier=-1)
    text = str(caught.value)
    assert "Free trial (days)" in text and "Sold through public checkout" in text
    assert "Tier" in text


def _set_pro_terms(staff, plan, trial_days, trial_requires_card, public):
    """The staff member saves the Pro plan with these sale terms (name and tier kept)."""
    return staff(
        catalog_admin.update_plan,
        plan_id=plan.id,
        name="Pro",
        tier=plan.tier,
        trial_days=trial_days,
        trial_requires_card=trial_requires_card,
        public=public,
    )


def test_editing_a_plans_trial_terms_is_audited_with_before_and_after(session, catalog, staff):
    plan = catalog.plans["Pro"]
    _set_pro_terms(staff, plan, trial_days=30, trial_requires_card=False, public=False)
    assert (plan.trial_days, plan.trial_requires_card, plan.public) == (30, False, False)
    [event] = _events(session, "catalog.plan.update")
    assert event.before["trial_days"] == 0 and event.after["trial_days"] == 30
    assert event.before["public"] is True and event.after["public"] is False
    assert plan.slug == "pro"  # the slug never changes: shared links keep working


def test_editing_a_plan_without_the_terms_keeps_them(session, catalog, staff):
    plan = catalog.plans["Pro"]
    plan.trial_days, plan.public = 7, False
    staff(catalog_admin.update_plan, plan_id=plan.id, name="Pro Plus", tier=plan.tier)
    assert (plan.name, plan.trial_days, plan.public) == ("Pro Plus", 7, False)
    [event] = _events(session, "catalog.plan.update")
    assert "trial_days" not in event.after


def test_the_same_terms_again_are_nothing_changed(catalog, staff):
    plan = catalog.plans["Pro"]
    with refused(CatalogError, "unchanged"):
        _set_pro_terms(staff, plan, trial_days=0, trial_requires_card=True, public=True)


def test_a_bad_trial_on_edit_changes_nothing(session, catalog, staff):
    plan = catalog.plans["Pro"]
    with refused(CatalogError, "invalid_catalog"):
        staff(
            catalog_admin.update_plan, plan_id=plan.id, name="Pro", tier=plan.tier, trial_days=999
        )
    assert plan.trial_days == 0 and _events(session, "catalog.plan.update") == []


def _plan_dialog_terms(session, clock, catalog, plan):
    """What the plan's edit dialog shows, asked for by the catalog's merchant."""
    return catalog_admin.editor_terms(
        session, clock, merchant_id=catalog.merchant.id, kind="plan", item_id=plan.id
    )


def test_the_buy_link_and_trial_show_in_the_catalog_terms(session, clock, catalog, staff):
    _plan(staff, catalog, trial_days=14, trial_requires_card=False)
    terms = catalog_admin.sale_terms(session, clock, merchant_id=catalog.merchant.id)
    scale = next(t for t in terms["plan_terms"].values() if t["buy_link"].endswith("/buy/scale"))
    assert scale["trial"] == "14-day free trial, no card needed" and scale["public"] == "yes"
    pro = terms["plan_terms"][str(catalog.plans["Pro"].id)]
    assert pro["trial"] == "No trial" and pro["buy_link"].endswith("/buy/pro")
    shown = _plan_dialog_terms(session, clock, catalog, catalog.plans["Pro"])
    assert shown == {
        "trial_days": "0",
        "trial_requires_card": "yes",
        "public": "yes",
        "buy_link": pro["buy_link"],
    }


def test_another_merchants_plan_is_not_found_for_the_dialog(session, clock, catalog):
    theirs = factories.make_catalog(session, clock, slug="globex")
    with pytest.raises(NotFound):
        _plan_dialog_terms(session, clock, catalog, theirs.plans["Pro"])


# --- products: one-time price, shipping ---------------------------------------------------------


def test_a_product_sold_once_gets_its_price_currency_shipping_and_slug(session, catalog, staff):
    product = staff(
        catalog_admin.create_product, name="Starter Kit", one_time_amount=4900, shippable=True
    )
    assert (product.one_time_amount, product.currency, product.shippable) == (4900, "USD", True)
    assert product.slug == "starter-kit"
    [event] = _events(session, "catalog.product.create")
    assert event.after == {
        "name": "Starter Kit",
        "description": "",
        "one_time_amount": 4900,
        "shippable": True,
        "currency": "USD",
    }


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "One-time price must be more than zero."),
        (-100, "One-time price must be more than zero."),
        (100_000_001, "One-time price can be at most $1,000,000.00."),
        (49.5, "One-time price must be a whole number of minor units."),
        ("4900", "One-time price must be a whole number of minor units."),
        (True, "One-time price must be a whole number of minor units."),
    ],
)
def test_bad_one_time_prices_are_refused_and_nothing_is_written(session, staff, amount, message):
    with refused(CatalogError, "invalid_catalog") as caught:
        staff(catalog_admin.create_product, name="Kit", one_time_amount=amount)
    assert message in str(caught.value)
    assert session.exec(select(Product).where(Product.name == "Kit")).first() is None


def test_shipping_must_be_a_yes_or_no(staff):
    with refused(CatalogError, "invalid_catalog") as caught:
        staff(catalog_admin.create_product, name="Kit", shippable="on")
    assert "Ships physical goods must be yes or no." in str(caught.value)


def test_editing_the_one_time_price_and_taking_it_off(session, catalog, staff):
    product = catalog.product
    staff(
        catalog_admin.update_product,
        product_id=product.id,
        name=product.name,
        one_time_amount=2500,
        shippable=True,
    )
    assert (product.one_time_amount, product.shippable) == (2500, True)
    staff(
        catalog_admin.update_product,
        product_id=product.id,
        name=product.name,
        one_time_amount=None,
        shippable=True,
    )
    assert product.one_time_amount is None
    first, second = _events(session, "catalog.product.update")
    assert first.before["one_time_amount"] is None and first.after["one_time_amount"] == 2500
    assert second.before["one_time_amount"] == 2500 and second.after["one_time_amount"] is None


def test_editing_a_product_without_the_sale_fields_keeps_them(catalog, staff):
    product = catalog.product
    product.one_time_amount, product.shippable = 900, True
    staff(catalog_admin.update_product, product_id=product.id, name="Cloud suite")
    assert (product.name, product.one_time_amount, product.shippable) == ("Cloud suite", 900, True)


def test_a_bad_price_on_edit_changes_nothing(session, catalog, staff):
    product = catalog.product
    with refused(CatalogError, "invalid_catalog"):
        staff(
            catalog_admin.update_product,
            product_id=product.id,
            name="Renamed",
            one_time_amount=-1,
        )
    assert product.name == "Cloud" and product.one_time_amount is None
    assert _events(session, "catalog.product.update") == []


def test_product_terms_show_the_price_and_a_buy_link_only_when_sold_once(
    session, clock, catalog, staff
):
    kit = staff(catalog_admin.create_product, name="Kit", one_time_amount=4900, shippable=True)
    terms = catalog_admin.sale_terms(session, clock, merchant_id=catalog.merchant.id)
    assert terms["product_terms"][str(kit.id)]["one_time"] == "$49.00"
    assert terms["product_terms"][str(kit.id)]["buy_link"].endswith("/buy/kit")
    assert terms["product_terms"][str(catalog.product.id)] == {
        "one_time": "",
        "shippable": "",
        "buy_link": "",
    }
    shown = catalog_admin.editor_terms(
        session, clock, merchant_id=catalog.merchant.id, kind="product", item_id=kit.id
    )
    assert shown["one_time_amount"] == "49.00" and shown["shippable"] == "yes"


# --- digital assets granted by products ---------------------------------------------------------


@pytest.fixture
def link_asset(staff):
    return staff(
        digital_admin.create_link_asset, name="Video course", url="https://example.com/course"
    )


def test_products_grant_an_asset_next_to_plans_audited(session, clock, catalog, staff, link_asset):
    kit = staff(catalog_admin.create_product, name="Kit", one_time_amount=4900)
    pro = catalog.plans["Pro"].id
    staff(digital_admin.set_grants, asset_id=link_asset.id, plan_ids=[pro], product_ids=[kit.id])
    grants = session.exec(select(AssetGrant).where(AssetGrant.asset_id == link_asset.id)).all()
    assert {(g.plan_id, g.product_id) for g in grants} == {(pro, None), (None, kit.id)}
    [event] = _events(session, "asset.grants")
    assert event.before == {"plan_ids": [], "product_ids": []}
    assert event.after == {"plan_ids": [pro], "product_ids": [kit.id]}
    [row] = digital_admin.list_assets(session, catalog.merchant.id)
    assert [p.id for p in row.plans] == [pro] and [p.id for p in row.products] == [kit.id]
    rows = digital_admin.product_grant_rows(
        session, clock, merchant_id=catalog.merchant.id, asset_id=link_asset.id
    )
    assert {r["label"]: r["checked"] for r in rows} == {
        "Cloud (no one-time price)": "",
        "Kit": "yes",
    }


def test_plan_grants_alone_leave_product_grants_as_they_are(session, catalog, staff, link_asset):
    kit = staff(catalog_admin.create_product, name="Kit", one_time_amount=4900)
    staff(digital_admin.set_grants, asset_id=link_asset.id, plan_ids=[], product_ids=[kit.id])
    staff(digital_admin.set_grants, asset_id=link_asset.id, plan_ids=[catalog.plans["Pro"].id])
    products = session.exec(
        select(AssetGrant.product_id).where(
            AssetGrant.asset_id == link_asset.id, AssetGrant.product_id.is_not(None)
        )
    ).all()
    assert products == [kit.id]
    with refused(CatalogError, "unchanged"):
        staff(
            digital_admin.set_grants,
            asset_id=link_asset.id,
            plan_ids=[catalog.plans["Pro"].id],
            product_ids=[kit.id],
        )
    staff(digital_admin.set_grants, asset_id=link_asset.id, plan_ids=[], product_ids=[])
    assert session.exec(select(AssetGrant).where(AssetGrant.asset_id == link_asset.id)).all() == []


def test_another_merchants_product_cannot_grant(session, clock, staff, link_asset):
    theirs = factories.make_catalog(session, clock, slug="globex")
    with pytest.raises(NotFound):
        staff(
            digital_admin.set_grants,
            asset_id=link_asset.id,
            plan_ids=[],
            product_ids=[theirs.product.id],
        )
    with refused(CatalogError, "invalid_plans"):
        staff(digital_admin.set_grants, asset_id=link_asset.id, plan_ids=[], product_ids=["1"])
    assert session.exec(select(AssetGrant)).all() == []


# --- the catalog page's state -------------------------------------------------------------------


def test_staff_set_trial_and_public_sale_through_the_catalog_state(app_db):
    product_id = str(app_product_id(app_db))

    async def scenario():
        root = staff_root(app_db)
        await call(root, MerchantCatalogState, "load")
        bad = {"product_id": product_id, "name": "Scale", "monthly": "99.00", "trial_days": "x"}
        await call(root, MerchantCatalogState, "create_plan", bad)
        state = await root.get_state(MerchantCatalogState)
        error = state.plan_error
        good = {**bad, "trial_days": "14", "public": "on"}  # card box left unticked
        await call(root, MerchantCatalogState, "create_plan", good)
        return error, state.plan_error, dict(state.plan_terms)

    error, error_after, terms = run(scenario())
    assert error == "Free trial (days): enter a whole number." and error_after == ""
    with Session(app_db["engine"]) as session:
        plan = session.exec(select(Plan).where(Plan.name == "Scale")).one()
        assert (plan.trial_days, plan.trial_requires_card, plan.public) == (14, False, True)
    assert terms[str(plan.id)]["trial"] == "14-day free trial, no card needed"
    assert terms[str(plan.id)]["buy_link"].endswith("/buy/scale")


def test_the_edit_dialog_shows_and_saves_a_products_one_time_price(app_db):
    product_id = str(app_product_id(app_db))

    async def scenario():
        root = staff_root(app_db)
        await call(root, MerchantCatalogState, "load")
        await call(root, MerchantCatalogState, "open_editor", "product", product_id)
        state = await root.get_state(MerchantCatalogState)
        before = dict(state.editor)
        form = {"name": "Cloud", "description": "", "one_time_amount": "19.5", "shippable": "on"}
        await call(root, MerchantCatalogState, "save_editor", form)
        await call(root, MerchantCatalogState, "open_editor", "product", product_id)
        return before, dict(state.editor), dict(state.product_terms)

    before, after, terms = run(scenario())
    assert before["one_time_amount"] == "" and before["shippable"] == ""
    assert after["one_time_amount"] == "19.50" and after["shippable"] == "yes"
    assert terms[product_id]["one_time"] == "$19.50"


def test_the_grants_dialog_saves_product_boxes(app_db):
    with Session(app_db["engine"]) as session:
        asset = digital_admin.create_link_asset(
            session,
            CLOCK,
            merchant_id=app_db["merchant"].id,
            name="Course",
            url="https://example.com/c",
            actor=STAFF,
        )
        session.commit()
        asset_id = asset.id
    product_id = app_product_id(app_db)

    async def scenario():
        root = staff_root(app_db)
        await call(root, MerchantCatalogState, "load")
        await call(root, MerchantCatalogState, "open_editor", "grants", str(asset_id))
        state = await root.get_state(MerchantCatalogState)
        boxes = list(state.editor_products)
        result = await call(
            root, MerchantCatalogState, "save_editor", {f"product_{product_id}": "on"}
        )
        return boxes, result

    boxes, result = run(scenario())
    assert [b["id"] for b in boxes] == [str(product_id)]
    assert "Granted to 1 product." in str(result)
    with Session(app_db["engine"]) as session:
        [grant] = session.exec(select(AssetGrant).where(AssetGrant.asset_id == asset_id)).all()
        assert (grant.plan_id, grant.product_id) == (None, product_id)


# --- Checkouts: the list ------------------------------------------------------------------------


def _checkout(session, clock, merchant, n, **values) -> CheckoutSession:
    now = clock.now()
    row = CheckoutSession(
        id=f"cs_test_{merchant.id}_{n}",
        merchant_id=merchant.id,
        mode=values.pop("mode", "subscription"),
        created_at=now + timedelta(minutes=n),
        expires_at=now + timedelta(hours=24, minutes=n),
        **values,
    )
    session.add(row)
    session.flush()
    return row


def test_the_checkouts_list_filters_by_status_newest_first(session, clock, catalog, customer):
    m = catalog.merchant
    pro = catalog.monthly["Pro"]
    _checkout(session, clock, m, 1, price_id=pro.id, email="a@example.com")
    _checkout(
        session,
        clock,
        m,
        2,
        price_id=catalog.annual["Basic"].id,
        status="completed",
        customer_id=customer.id,
        email=customer.email,
    )
    _checkout(session, clock, m, 3, price_id=pro.id, status="expired")
    kit = Product(merchant_id=m.id, name="Kit", slug="kit", one_time_amount=4900)
    session.add(kit)
    session.flush()
    _checkout(session, clock, m, 4, mode="payment", product_id=kit.id, source="staff")
    theirs = factories.make_catalog(session, clock, slug="globex")
    _checkout(session, clock, theirs.merchant, 5, price_id=theirs.monthly["Pro"].id)

    def page(status):
        return merchant_checkouts_view.checkouts_page(
            session, clock, merchant_id=m.id, status=status, page=1
        )

    everything = page("all")
    assert everything.total == 4
    assert [r["item"] for r in everything.rows] == [
        "Kit",
        "Pro · monthly",
        "Basic · annual",
        "Pro · monthly",
    ]
    kit_row = everything.rows[0]
    assert (kit_row["source"], kit_row["status"]) == ("Staff link", "open")
    assert kit_row["link"].endswith("/checkout/" + kit_row["id"])
    public_open = everything.rows[3]
    assert public_open["email"] == "a@example.com" and public_open["link"] == ""
    [done] = page("completed").rows
    assert (done["customer_id"], done["customer"]) == (str(customer.id), customer.name)
    assert [r["id"] for r in page("open").rows] == [kit_row["id"], public_open["id"]]
    assert page("expired").total == 1


def test_an_open_session_past_its_24_hours_lists_as_expired(session, clock, catalog):
    _checkout(session, clock, catalog.merchant, 1, price_id=catalog.monthly["Pro"].id)
    clock.advance(timedelta(hours=25))
    found = merchant_checkouts_view.checkouts_page(
        session, clock, merchant_id=catalog.merchant.id, status="expired"
    )
    assert found.total == 1 and found.rows[0]["status"] == "expired"
    assert (
        merchant_checkouts_view.checkouts_page(
            session, clock, merchant_id=catalog.merchant.id, status="open"
        ).total
        == 0
    )


def test_an_unknown_filter_is_refused(session, clock, catalog):
    with pytest.raises(PortalError):
        merchant_checkouts_view.checkouts_page(
            session, clock, merchant_id=catalog.merchant.id, status="paid"
        )


def test_link_choices_offer_active_plans_per_cycle_and_products_sold_once(session, clock, catalog):
    catalog.plans["Business"].active = False
    catalog.plans["Pro"].public = False  # staff links sell it anyway
    catalog.plans["Pro"].trial_days = 14
    kit = Product(merchant_id=catalog.merchant.id, name="Kit", slug="kit", one_time_amount=4900)
    session.add_all([catalog.plans["Business"], catalog.plans["Pro"], kit])
    session.flush()
    choices = merchant_checkouts_view.link_choices(session, clock, merchant_id=catalog.merchant.id)
    labels = [c["label"] for c in choices]
    assert labels == [
        "Cloud · Basic · $10.00/month",
        "Cloud · Basic · $100.00/year",
        "Cloud · Pro · $20.00/month, 14-day trial",
        "Cloud · Pro · $200.00/year, 14-day trial",
        "Kit · $49.00 once",
    ]
    assert merchant_checkouts_view.parse_choice(choices[2]["value"]) == {
        "plan_id": catalog.plans["Pro"].id,
        "interval": "month",
        "product_id": None,
    }
    assert merchant_checkouts_view.parse_choice(f"product:{kit.id}")["product_id"] == kit.id
    for forged in ("plan:1:week", "plan:x:month", "product:1:2", "order:1", ""):
        with pytest.raises(PortalError):
            merchant_checkouts_view.parse_choice(forged)


# --- Checkouts: the state -----------------------------------------------------------------------


def _pro_monthly(app_db) -> str:
    with Session(app_db["engine"]) as session:
        plan = session.exec(
            select(Plan).where(Plan.merchant_id == app_db["merchant"].id, Plan.name == "Pro")
        ).one()
        return f"plan:{plan.id}:month"


def test_staff_create_a_checkout_link_and_see_it_listed(app_db):
    item = _pro_monthly(app_db)

    async def scenario():
        root, state = await staff_page(app_db["sessions"]["staff"], MerchantCheckoutsState, "load")
        choices = list(state.choices)
        bad = await call(
            root,
            MerchantCheckoutsState,
            "create_link",
            {"item": item, "email": "new@example.com", "trial_days": "400"},
        )
        error = state.link_error
        await call(
            root,
            MerchantCheckoutsState,
            "create_link",
            {"item": item, "email": "New@Example.com", "trial_days": "7"},
        )
        return choices, bad, error, state.link_error, state.created_link, list(state.rows)

    choices, bad, error, error_after, link, rows = run(scenario())
    assert bad is None  # the refusal shows in the form, not as a toast
    assert item in [c["value"] for c in choices]
    assert "Trial days" in error and error_after == ""
    assert "/checkout/cs_" in link
    [row] = rows
    assert (row["item"], row["email"], row["source"], row["status"]) == (
        "Pro · monthly",
        "new@example.com",
        "Staff link",
        "open",
    )
    assert row["link"] == link
    with Session(app_db["engine"]) as session:
        [created] = session.exec(select(CheckoutSession)).all()
        assert (created.trial_days, created.source, created.email) == (
            7,
            "staff",
            "new@example.com",
        )
        assert created.created_by_staff_id is not None
        assert session.exec(
            select(AuditEvent).where(AuditEvent.action == "checkout.link_created")
        ).one()


def test_a_double_click_on_create_link_makes_one_link(app_db):
    """Both submits of a double click carry the form's version; the second arrives after the
    first moved it on, and is ignored. A later, fresh form makes a new link."""
    item = _pro_monthly(app_db)

    async def scenario():
        root, state = await staff_page(app_db["sessions"]["staff"], MerchantCheckoutsState, "load")
        form = {"item": item, "email": "", "form_version": str(state.form_version)}
        await call(root, MerchantCheckoutsState, "create_link", dict(form))
        first = state.created_link
        second = await call(root, MerchantCheckoutsState, "create_link", dict(form))
        kept = state.created_link
        fresh = {**form, "form_version": str(state.form_version)}
        await call(root, MerchantCheckoutsState, "create_link", fresh)
        return first, second, kept, state.created_link

    first, second, kept, third = run(scenario())
    assert second is None and kept == first  # ignored: no toast, the first link still shown
    assert third not in ("", first)
    with Session(app_db["engine"]) as session:
        assert len(session.exec(select(CheckoutSession)).all()) == 2


def test_a_staff_link_returns_to_an_allowed_page_only(app_db):
    item = _pro_monthly(app_db)

    async def create(success_url):
        root, state = await staff_page(app_db["sessions"]["staff"], MerchantCheckoutsState, "load")
        await call(
            root,
            MerchantCheckoutsState,
            "create_link",
            {"item": item, "email": "", "success_url": success_url},
        )
        return state.link_error, state.created_link

    error, link = run(create("https://app.example.com/thanks"))
    assert "not allowed" in error and link == ""
    with Session(app_db["engine"], expire_on_commit=False) as session:
        features.save(
            session,
            CLOCK,
            app_db["merchant"].id,
            {"checkout.success_url_origins": ["https://App.Example.com/"]},
            audit.Actor.merchant(1),
        )
        session.commit()
    error, link = run(create("https://app.example.com/thanks"))
    assert error == "" and "/checkout/cs_" in link
    with Session(app_db["engine"]) as session:
        [created] = session.exec(select(CheckoutSession)).all()
        assert created.success_url == "https://app.example.com/thanks"


def test_a_viewer_can_list_checkouts_but_not_create_a_link(app_db):
    item = _pro_monthly(app_db)
    viewer = staff_as(app_db, "viewer")

    async def scenario():
        root, state = await staff_page(viewer, MerchantCheckoutsState, "load")
        loaded = state.loaded
        result = await call(
            root, MerchantCheckoutsState, "create_link", {"item": item, "email": ""}
        )
        return loaded, result, state.created_link

    loaded, result, link = run(scenario())
    assert loaded and link == ""
    assert "it needs Support" in str(result)
    with Session(app_db["engine"]) as session:
        assert session.exec(select(CheckoutSession)).all() == []


def test_customers_cannot_use_the_checkouts_handlers(app_db):
    result, _ = a_customer_calls(app_db, MerchantCheckoutsState, "load")
    assert "/merchant/login" in str(result)
