"""The landing page lists the demo merchant's plans with their formatted prices."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from portal_app.db import make_engine
from portal_app.models import Merchant, Plan, Price, Product
from portal_app.money import format_money

pytestmark = pytest.mark.browser


def expected_plans(db_url: str) -> tuple[str, list[dict[str, str]]]:
    """What the page should show, read straight from the seeded database."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            merchant = session.exec(select(Merchant).where(Merchant.slug == "acme")).one()
            rows = session.exec(
                select(Plan)
                .join(Product, Product.id == Plan.product_id)
                .where(Plan.merchant_id == merchant.id, Plan.active, Product.active)
            ).all()
            plans = []
            for plan in rows:
                prices = session.exec(
                    select(Price).where(
                        Price.plan_id == plan.id,
                        Price.active,
                        Price.currency == merchant.default_currency,
                    )
                ).all()
                by_interval = {p.interval: format_money(p.amount, p.currency) for p in prices}
                plans.append(
                    {
                        "name": plan.name,
                        "monthly": by_interval.get("month", ""),
                        "annual": by_interval.get("year", ""),
                    }
                )
            return merchant.name, plans
    finally:
        engine.dispose()


@pytest.mark.parametrize("width", [1280, 375])
def test_landing_lists_demo_plans_and_prices(running_app, page_at, screenshot_dir, width):
    merchant_name, plans = expected_plans(running_app.db_url)
    assert plans, "seed-demo created no active plans"
    assert any(p["monthly"] and p["annual"] for p in plans)

    page = page_at(width)
    page.goto(f"{running_app.base_url}/")
    cards = page.get_by_test_id("plan-card")
    cards.first.wait_for()
    assert page.get_by_test_id("merchant-name").inner_text() == merchant_name
    assert cards.count() == len(plans)

    shown = {}
    for i in range(cards.count()):
        card = cards.nth(i)
        name = card.get_by_test_id("plan-name").inner_text()
        monthly = card.get_by_test_id("price-monthly")
        annual = card.get_by_test_id("price-annual")
        shown[name] = {
            "name": name,
            "monthly": monthly.inner_text() if monthly.count() else "",
            "annual": annual.inner_text() if annual.count() else "",
        }
    assert shown == {p["name"]: p for p in plans}

    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=screenshot_dir / f"landing-{width}.png", full_page=True)
