"""GET /buy/<slug>?interval=…: the shareable link of a plan opens a checkout session of the
storefront merchant and answers 303 to /checkout/<id>; anything not sold publicly is one plain
404 page; opening sessions is limited per client IP."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from portal_app.clock import SystemClock
from portal_app.http import checkout_links
from portal_app.models import CheckoutSession, Plan, PortalSettings, Price
from portal_app.services import ratelimit

ORIGIN = "http://localhost:3000"


@pytest.fixture
def shop(site_shop):
    client = TestClient(Starlette(routes=checkout_links.ROUTES), base_url=ORIGIN)
    return {**site_shop, "client": client}


def _sessions(engine) -> list[CheckoutSession]:
    with Session(engine) as session:
        return list(session.exec(select(CheckoutSession)))


def _settings(shop, document: dict) -> None:
    """The merchant's portal settings document, written directly."""
    with Session(shop["engine"]) as session:
        session.add(
            PortalSettings(
                merchant_id=shop["merchant"].id, document=document, updated_at=SystemClock().now()
            )
        )
        session.commit()


def _get(shop, path: str):
    return shop["client"].get(path, follow_redirects=False)


def test_a_public_plan_opens_a_checkout_and_redirects_to_it(shop):
    answer = _get(shop, "/buy/pro?interval=year")
    assert answer.status_code == 303
    [row] = _sessions(shop["engine"])
    assert answer.headers["location"] == f"/checkout/{row.id}"
    assert answer.headers["cache-control"] == "no-store"
    with Session(shop["engine"]) as session:
        price = session.get(Price, row.price_id)
    assert (row.mode, row.status, price.interval) == ("subscription", "open", "year")
    assert price.plan_id == shop["catalog"].plans["Pro"].id
    # every visit is a session of its own; a bad interval falls back to the plan's first one
    again = _get(shop, "/buy/pro?interval=decade")
    assert again.status_code == 303 and again.headers["location"] != answer.headers["location"]


@pytest.mark.parametrize("slug", ["nope", "PRO<script>", "x" * 81])
def test_an_unknown_slug_is_a_plain_404(shop, slug):
    answer = _get(shop, f"/buy/{slug}?interval=month")
    assert answer.status_code == 404
    assert "This plan is not available" in answer.text and "<script>" not in answer.text
    assert 'href="/"' in answer.text
    assert _sessions(shop["engine"]) == []


def test_a_plan_not_sold_publicly_is_a_404(shop):
    with Session(shop["engine"]) as session:
        plan = session.get(Plan, shop["catalog"].plans["Business"].id)
        plan.public = False
        session.add(plan)
        session.commit()
    assert _get(shop, "/buy/business?interval=month").status_code == 404
    assert _sessions(shop["engine"]) == []
    assert _get(shop, "/buy/basic?interval=month").status_code == 303


def test_public_checkout_switched_off_is_a_404(shop):
    _settings(shop, {"checkout.public": False})
    answer = _get(shop, "/buy/pro?interval=month")
    assert answer.status_code == 404 and "This plan is not available" in answer.text
    assert _sessions(shop["engine"]) == []


def test_too_many_checkouts_from_one_address_is_a_429(shop):
    limit = ratelimit.get_limiter().rules[checkout_links.RULE].amount
    for _ in range(limit):
        assert _get(shop, "/buy/pro?interval=month").status_code == 303
    refused = _get(shop, "/buy/pro?interval=month")
    assert refused.status_code == 429
    assert "Too many checkouts started" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert len(_sessions(shop["engine"])) == limit


def _cards(engine) -> dict:
    from portal_app.services import pricing_view

    with Session(engine) as session:
        return {card.name: card for card in pricing_view.pricing(session)[1]}


def test_the_landing_page_links_each_public_plan_to_its_buy_links(shop):
    engine = shop["engine"]
    with Session(engine) as session:
        business = session.get(Plan, shop["catalog"].plans["Business"].id)
        business.public = False
        pro = session.get(Plan, shop["catalog"].plans["Pro"].id)
        pro.trial_days = 14
        session.add_all([business, pro])
        session.commit()
    cards = _cards(engine)
    assert (cards["Pro"].monthly_link, cards["Pro"].annual_link) == (
        "/buy/pro?interval=month",
        "/buy/pro?interval=year",
    )
    assert cards["Pro"].trial == "14-day free trial" and cards["Basic"].trial == ""
    assert (cards["Business"].monthly_link, cards["Business"].annual_link) == ("", "")
    # every link the page shows opens a checkout
    for link in (cards["Pro"].monthly_link, cards["Basic"].annual_link):
        assert _get(shop, link).status_code == 303
    _settings(shop, {"checkout.public": False})
    assert all(c.monthly_link == c.annual_link == "" for c in _cards(engine).values())


def test_a_success_url_on_an_allowed_origin_is_kept_for_after_the_payment(shop):
    _settings(shop, {"checkout.success_url_origins": ["https://app.example.com"]})
    answer = _get(shop, "/buy/pro?interval=month&success_url=https://app.example.com/welcome")
    assert answer.status_code == 303
    [row] = _sessions(shop["engine"])
    assert row.success_url == "https://app.example.com/welcome"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.net/thanks",
        "https://app.example.com.evil.net/",
        "javascript:alert(1)",
        "//app.example.com/x",
        "https://app.example.com/" + "x" * 1000,
    ],
)
def test_a_success_url_off_the_allow_list_is_a_400_that_says_so(shop, url):
    _settings(shop, {"checkout.success_url_origins": ["https://app.example.com"]})
    answer = shop["client"].get(
        "/buy/pro", params={"interval": "month", "success_url": url}, follow_redirects=False
    )
    assert answer.status_code == 400
    assert "names a page to return to after paying" in answer.text
    assert "evil" not in answer.text and "javascript" not in answer.text
    assert _sessions(shop["engine"]) == []
