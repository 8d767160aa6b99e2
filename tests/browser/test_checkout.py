"""Hosted checkout on the production build: a new visitor subscribes from the landing page with
the sandbox card 4242… and lands signed in to the portal with the subscription and its paid
invoice (at 1280 and 375 px); a declined card is refused inline and writes nothing."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, func, select

from portal_app.db import make_engine
from portal_app.models import CheckoutSession, Customer, Invoice, Subscription

pytestmark = pytest.mark.browser


def _open_starter_checkout(page, base_url: str):
    page.goto(f"{base_url}/")
    card = page.get_by_test_id("plan-card").filter(
        has=page.get_by_test_id("plan-name").get_by_text("Starter", exact=True)
    )
    card.get_by_test_id("subscribe-month").click()
    expect(page).to_have_url(re.compile(r"/checkout/cs_"))
    expect(page.get_by_test_id("checkout-title")).to_contain_text("Starter")
    expect(page.get_by_test_id("price-label")).to_contain_text("$9.00")
    return page.url.rsplit("/", 1)[-1]


def _fill(page, email: str, number: str) -> None:
    page.locator("#email").fill(email)
    page.locator("#name").fill("Nora New")
    page.locator("#number").fill(number)
    page.locator("#expiry").fill("12/30")
    page.locator("#cvc").fill("123")


def _rows(db_url: str, email: str) -> dict:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            customer = session.exec(select(Customer).where(Customer.email == email)).first()
            if customer is None:
                return {"customer": 0}
            return {
                "customer": 1,
                "subscriptions": session.exec(
                    select(func.count(Subscription.id)).where(
                        Subscription.customer_id == customer.id
                    )
                ).one(),
                "paid invoices": session.exec(
                    select(func.count(Invoice.id)).where(
                        Invoice.customer_id == customer.id, Invoice.status == "paid"
                    )
                ).one(),
            }
    finally:
        engine.dispose()


def _status(db_url: str, checkout_id: str) -> str:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return session.get(CheckoutSession, checkout_id).status
    finally:
        engine.dispose()


@pytest.mark.parametrize("width", [1280, 375])
def test_a_visitor_subscribes_and_lands_in_the_portal(running_app, page_at, screenshot_dir, width):
    page = page_at(width, client_ip=f"198.51.100.{10 + width % 200}")
    email = f"nora-{secrets.token_hex(3)}@example.com"
    checkout_id = _open_starter_checkout(page, running_app.base_url)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=screenshot_dir / f"checkout-{width}.png", full_page=True)
    _fill(page, email, "4242 4242 4242 4242")
    page.get_by_test_id("confirm").click()
    # The confirm answers with a one-time sign-in link of the new customer.
    expect(page).to_have_url(re.compile(r"/auth/verify"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("greeting")).to_contain_text("Nora New")
    expect(page.get_by_text("Starter").first).to_be_visible()
    assert _rows(running_app.db_url, email) == {
        "customer": 1,
        "subscriptions": 1,
        "paid invoices": 1,
    }
    assert _status(running_app.db_url, checkout_id) == "completed"
    page.goto(f"{running_app.base_url}/invoices")
    expect(page.get_by_text("Paid").first).to_be_visible()


def test_a_declined_card_is_refused_inline_and_writes_nothing(running_app, page_at):
    page = page_at(1280, client_ip="198.51.100.77")
    email = f"dee-{secrets.token_hex(3)}@example.com"
    checkout_id = _open_starter_checkout(page, running_app.base_url)
    _fill(page, email, "4000 0000 0000 0341")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("form-error")).to_contain_text(re.compile("declined", re.I))
    assert re.search(r"/checkout/cs_", page.url)
    assert _rows(running_app.db_url, email) == {"customer": 0}
    assert _status(running_app.db_url, checkout_id) == "open"
