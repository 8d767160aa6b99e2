"""Checkout's other ways in, on the production build: a trial without a card (trialing, nothing
charged), a discount code applied live (a bad one refused inline, the paid invoice reduced), and
a one-time purchase whose order shows in Orders and whose download shows in Downloads."""

from __future__ import annotations

import contextlib
import re
import secrets

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from portal_app.clock import SystemClock
from portal_app.db import make_engine
from portal_app.models import (
    Customer,
    Invoice,
    Merchant,
    Order,
    PaymentMethod,
    Plan,
    SandboxCharge,
    Subscription,
)
from portal_app.services import audit, features
from tests.browser.conftest import newest_link_in_mailbox

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def _db(db_url: str):
    engine = make_engine(db_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def _customer(db_url: str, email: str) -> dict:
    with _db(db_url) as session:
        customer = session.exec(select(Customer).where(Customer.email == email)).one()
        return {
            "subscriptions": [
                s.status
                for s in session.exec(
                    select(Subscription).where(Subscription.customer_id == customer.id)
                )
            ],
            "paid": sorted(
                i.total
                for i in session.exec(
                    select(Invoice).where(
                        Invoice.customer_id == customer.id, Invoice.status == "paid"
                    )
                )
            ),
            "cards": len(
                session.exec(
                    select(PaymentMethod).where(PaymentMethod.customer_id == customer.id)
                ).all()
            ),
            "charged": _charged(session, customer.id),
            "orders": [
                (o.status, o.total)
                for o in session.exec(select(Order).where(Order.customer_id == customer.id))
            ],
        }


def _charged(session, customer_id: int) -> int:
    """What the sandbox charged the customer's cards (a charge names its card's token)."""
    tokens = {
        pm.gateway_token
        for pm in session.exec(
            select(PaymentMethod).where(PaymentMethod.customer_id == customer_id)
        )
    }
    return sum(c.amount for c in session.exec(select(SandboxCharge)) if c.token in tokens)


def _details(page, email: str, card: bool = True) -> None:
    page.locator("#email").fill(email)
    page.locator("#name").fill("Olga Offer")
    if card:
        page.locator("#number").fill("4242 4242 4242 4242")
        page.locator("#expiry").fill("12/30")
        page.locator("#cvc").fill("123")


def _confirm_and_sign_in(page) -> None:
    page.get_by_test_id("confirm").click()
    expect(page).to_have_url(re.compile(r"/auth/verify"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("greeting")).to_contain_text("Olga Offer")


@contextlib.contextmanager
def _pro_trial_without_card(db_url: str):
    with _db(db_url) as session:
        pro = session.exec(select(Plan).where(Plan.slug == "pro")).one()
        before = pro.trial_requires_card
        pro.trial_requires_card = False
        session.add(pro)
        session.commit()
    try:
        yield
    finally:
        with _db(db_url) as session:
            pro = session.exec(select(Plan).where(Plan.slug == "pro")).one()
            pro.trial_requires_card = before
            session.add(pro)
            session.commit()


def test_a_trial_without_a_card_starts_trialing_and_charges_nothing(running_app, page_at):
    page = page_at(1280, client_ip="198.51.100.121")
    email = f"olga-{secrets.token_hex(3)}@example.com"
    with _pro_trial_without_card(running_app.db_url):
        page.goto(f"{running_app.base_url}/buy/pro?interval=month")
        expect(page).to_have_url(re.compile(r"/checkout/cs_"))
        expect(page.get_by_test_id("trial")).to_contain_text("14")
        expect(page.get_by_text("No card needed for the trial")).to_be_visible()
        _details(page, email, card=False)
        _confirm_and_sign_in(page)
    found = _customer(running_app.db_url, email)
    assert found["subscriptions"] == ["trialing"]
    assert found["cards"] == 0 and found["charged"] == 0
    assert all(total == 0 for total in found["paid"])


def test_a_discount_code_is_applied_live_and_reduces_the_paid_invoice(running_app, page_at):
    page = page_at(1280, client_ip="198.51.100.122")
    email = f"olga-{secrets.token_hex(3)}@example.com"
    page.goto(f"{running_app.base_url}/buy/starter?interval=month")
    expect(page.get_by_test_id("quote-total")).to_contain_text("$9.00")
    page.get_by_test_id("code-input").fill("NOSUCHCODE")
    page.get_by_test_id("apply-code").click()
    expect(page.get_by_test_id("code-error")).to_be_visible()
    expect(page.get_by_test_id("quote-total")).to_contain_text("$9.00")
    page.get_by_test_id("code-input").fill("WELCOME20")
    page.get_by_test_id("apply-code").click()
    expect(page.get_by_test_id("code-applied")).to_contain_text("WELCOME20")
    expect(page.get_by_test_id("quote-total")).to_contain_text("$7.20")
    _details(page, email)
    _confirm_and_sign_in(page)
    found = _customer(running_app.db_url, email)
    assert found["subscriptions"] == ["active"]
    assert found["paid"] == [720] and found["charged"] == 720


@contextlib.contextmanager
def _orders_page_on(db_url: str):
    with _db(db_url) as session:
        merchant = session.exec(select(Merchant).where(Merchant.is_demo)).first()
        before = features.load(session, merchant.id)["orders.view"]
        features.save(session, SystemClock(), merchant.id, {"orders.view": True}, audit.SYSTEM)
        session.commit()
    try:
        yield
    finally:
        with _db(db_url) as session:
            features.save(
                session, SystemClock(), merchant.id, {"orders.view": before}, audit.SYSTEM
            )
            session.commit()


def test_a_one_time_purchase_shows_in_orders_and_its_download_in_downloads(running_app, page_at):
    page = page_at(1280, client_ip="198.51.100.123")
    email = f"olga-{secrets.token_hex(3)}@example.com"
    with _orders_page_on(running_app.db_url):
        page.goto(f"{running_app.base_url}/buy/cli-lifetime")
        expect(page.get_by_test_id("checkout-title")).to_contain_text("Acme CLI lifetime licence")
        _details(page, email)
        _confirm_and_sign_in(page)
        page.goto(f"{running_app.base_url}/orders")
        expect(page.get_by_text("Acme CLI lifetime licence").first).to_be_visible()
        expect(page.get_by_text("$49.00").first).to_be_visible()
        page.goto(f"{running_app.base_url}/downloads")
        expect(page.get_by_text("Acme CLI 2.0 (Linux)").first).to_be_visible()
    found = _customer(running_app.db_url, email)
    assert found["orders"] == [("paid", 4900)]
    assert found["paid"] == [4900] and found["charged"] == 4900


def test_an_existing_customers_email_gets_a_sign_in_link_and_the_purchase_attaches(
    running_app, page_at
):
    page = page_at(1280, client_ip="198.51.100.124")
    email = f"erin-{secrets.token_hex(3)}@example.com"
    with _db(running_app.db_url) as session:
        merchant = session.exec(select(Merchant).where(Merchant.is_demo)).first()
        session.add(
            Customer(
                merchant_id=merchant.id,
                email=email,
                name="Erin Existing",
                currency="USD",
                created_at=SystemClock().now(),
            )
        )
        session.commit()
    page.goto(f"{running_app.base_url}/buy/starter?interval=month")
    expect(page).to_have_url(re.compile(r"/checkout/cs_"))
    checkout_url = page.url
    _details(page, email)
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("notice")).to_contain_text(re.compile("sign-in link", re.I))
    assert _customer(running_app.db_url, email)["subscriptions"] == []
    # the link signs the customer in and brings them back to this checkout
    page.goto(newest_link_in_mailbox(page, running_app, email))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(checkout_url)
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(email)
    page.locator("#number").fill("4242 4242 4242 4242")
    page.locator("#expiry").fill("12/30")
    page.locator("#cvc").fill("123")
    page.get_by_test_id("confirm").click()
    expect(page).to_have_url(re.compile(r"/auth/verify|/portal"))
    if "/auth/verify" in page.url:
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("greeting")).to_contain_text("Erin Existing")
    with _db(running_app.db_url) as session:
        assert len(session.exec(select(Customer).where(Customer.email == email)).all()) == 1
    found = _customer(running_app.db_url, email)
    assert found["subscriptions"] == ["active"]
    assert found["paid"] == [900] and found["charged"] == 900
