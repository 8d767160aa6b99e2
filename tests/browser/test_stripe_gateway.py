"""The portal on the production build charging through Stripe (PORTAL_GATEWAY=stripe) on
localstripe, whose Stripe.js stand-in draws the card field and the 3-D Secure dialog: a customer
adds a card that asks for 3-D Secure, then pays an open invoice with it, confirming with the
bank inline. The card number goes from the page to localstripe only; the secret scan
(test_secret_scan.py) then finds no Stripe key or client secret in this server's database or
log."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import AppDB, portal_cli, remember_secret, sign_in_staff
from tests.browser.test_checkout import _open_starter_checkout
from tests.browser.test_portal_flows import make_customer, portal_page, toast

pytestmark = pytest.mark.browser

THREE_D_SECURE = "4000002760003184"


def _watch_stripe(page, localstripe) -> list[str]:
    """Requests the page makes to Stripe: the card number and client secrets travel there."""
    sent: list[str] = []

    def seen(request):
        if request.url.startswith(localstripe.base) and request.post_data:
            sent.append(request.post_data)

    page.on("request", seen)
    return sent


def test_add_a_3ds_card_and_pay_an_invoice_with_it(stripe_app, page_at, localstripe):
    app = stripe_app
    who = make_customer(app, "stripe", cards=(), plan=None, invoice_lines=[("Consulting", 12500)])
    page = portal_page(page_at, app, who["email"], "/payment-methods/new", "Add a card")
    sent = _watch_stripe(page, localstripe)
    # Declined by Stripe when it is set up: said inline, and a fresh card field to try again.
    _fill_card(page, "4000000000000002")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_test_id("card-error")).to_contain_text("declined")
    expect(page.get_by_role("button", name="Save card")).to_be_enabled()
    _fill_card(page, THREE_D_SECURE)

    page.get_by_role("button", name="Save card").click()
    # localstripe's 3-D Secure dialog for the card setup.
    page.get_by_role("button", name="Complete authentication").click()
    expect(toast(page, "Card added.")).to_be_visible()
    expect(page.get_by_text("•••• 3184")).to_be_visible()
    assert any(THREE_D_SECURE in body for body in sent)  # to Stripe, from the browser

    db = AppDB(app)
    try:
        cards = db.rows("SELECT * FROM paymentmethod WHERE customer_id = :c", c=who["customer_id"])
        assert [(c["last4"], c["gateway_token"][:3]) for c in cards] == [("3184", "pm_")]

        page.goto(f"{app.base_url}/invoices/{who['invoice_id']}")
        page.get_by_test_id("pay-now").click()
        # On-session: the bank asks at once, inline.
        page.get_by_role("button", name="Complete authentication").click()
        expect(toast(page, "Payment confirmed")).to_be_visible()
        expect(page.get_by_test_id("pay-now")).to_have_count(0)
        invoice_id = who["invoice_id"]
        assert db.scalar("SELECT status FROM invoice WHERE id = :i", i=invoice_id) == "paid"
        paid = db.rows(
            "SELECT * FROM payment WHERE invoice_id = :i AND status = 'succeeded'", i=invoice_id
        )
        assert len(paid) == 1 and paid[0]["gateway_charge_id"].startswith("pi_")
        assert db.scalar("SELECT COUNT(*) FROM receipt WHERE invoice_id = :i", i=invoice_id) == 1
    finally:
        db.engine.dispose()
    _remember_client_secrets(sent)


def _fill_card(page, number: str) -> None:
    """localstripe's card field (what Stripe.js draws in its frame)."""
    field = page.get_by_test_id("card-element")
    field.locator("input[placeholder=number]").fill(number)
    field.locator("input[placeholder=exp_month]").fill("12")
    field.locator("input[placeholder=exp_year]").fill("34")
    field.locator("input[placeholder=cvc]").fill("123")
    field.locator("input[placeholder=postal_code]").fill("10115")


def test_subscribe_through_checkout_with_stripe(stripe_app, page_at, localstripe):
    page = page_at(1280, client_ip="198.51.100.161")
    sent = _watch_stripe(page, localstripe)
    email = f"stripe-{secrets.token_hex(3)}@example.com"
    checkout_id = _open_starter_checkout(page, stripe_app.base_url)
    page.locator("#email").fill(email)
    page.locator("#name").fill("Sam Stripe")
    _fill_card(page, "4242424242424242")
    page.get_by_test_id("confirm").click()
    expect(page).to_have_url(re.compile(r"/auth/verify"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("greeting")).to_contain_text("Sam Stripe")
    db = AppDB(stripe_app)
    try:
        customer = db.customer_id(email)
        cards = db.rows("SELECT * FROM paymentmethod WHERE customer_id = :c", c=customer)
        assert [(c["last4"], c["gateway_token"][:3]) for c in cards] == [("4242", "pm_")]
        paid = db.rows(
            "SELECT * FROM payment WHERE customer_id = :c AND status = 'succeeded'", c=customer
        )
        assert len(paid) == 1 and paid[0]["gateway_charge_id"].startswith("pi_")
        status = db.scalar("SELECT status FROM checkoutsession WHERE id = :i", i=checkout_id)
        assert status == "completed"
    finally:
        db.engine.dispose()
    assert any("4242424242424242" in body for body in sent)
    _remember_client_secrets(sent)
    _staff_refunds_part_and_the_customer_sees_it(stripe_app, page_at, page, paid[0], localstripe)


def _staff_refunds_part_and_the_customer_sees_it(app, page_at, customer_page, payment, localstripe):
    """Staff → Payments: an owner refunds $4.00 of the checkout's payment with a reason; Stripe
    refunds it, a credit note is written, and the customer's invoice shows it."""
    password = "Corr3ct-horse-" + secrets.token_urlsafe(12)
    remember_secret("password", password)
    portal_cli(
        app,
        "create-admin",
        "--email",
        "owner@stripe.example",
        "--password-stdin",
        stdin=password + "\n",
    )
    staff = page_at(1280, client_ip="198.51.100.162")
    sign_in_staff(staff, app, "owner@stripe.example", password)
    staff.goto(f"{app.base_url}/merchant/payments")
    row = staff.get_by_test_id("payment-row").filter(has_text="Sam Stripe")
    row.get_by_test_id("refund").click()
    staff.locator("#refund-amount").fill("4.00")
    staff.locator("#refund-reason").select_option("requested_by_customer")
    staff.get_by_test_id("confirm-refund").click()
    expect(toast(staff, "Credit note CN-000001")).to_be_visible()
    expect(row).to_contain_text("Refunded $4.00")
    refunded = localstripe.api("GET", "/v1/refunds", payment_intent=payment["gateway_charge_id"])
    assert [r["amount"] for r in refunded["data"]] == [400]
    customer_page.goto(f"{app.base_url}/invoices/{payment['invoice_id']}")
    expect(customer_page.get_by_test_id("refund-line")).to_contain_text("CN-000001 · -$4.00")


def _remember_client_secrets(sent: list[str]) -> None:
    for body in sent:
        for secret in re.findall(r"(?:pi|seti)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+", body):
            remember_secret("stripe_client_secret", secret)


def test_the_sandbox_asks_for_3ds_in_its_own_dialog(running_app, page_at):
    """The same card number on the sandbox: its bank is a dialog of the portal's own."""
    app = running_app
    who = make_customer(
        app, "sandbox3ds", cards=(THREE_D_SECURE,), plan=None, invoice_lines=[("Setup", 4000)]
    )
    page = portal_page(page_at, app, who["email"], f"/invoices/{who['invoice_id']}", "Invoice")
    page.get_by_test_id("pay-now").click()
    page.get_by_test_id("bank-confirm").click()
    expect(toast(page, "Payment confirmed")).to_be_visible()
    db = AppDB(app)
    try:
        status = db.scalar("SELECT status FROM invoice WHERE id = :i", i=who["invoice_id"])
    finally:
        db.engine.dispose()
    assert status == "paid"
