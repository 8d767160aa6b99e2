"""Customer flows clicked through the real pages of the production build, each checked against
the database: subscriptions (pause, resume, reactivate, scheduled plan change), the cancellation
flow (retention discount, pause instead, straight cancel), paying an invoice, the invoice PDF,
cards, digital products, profile and notification preferences, and merchant presets/toggles
switching parts of the portal off.

The server's database is shared by every browser test of the session, so each test makes its
own customers (through the services, in a subprocess with the server's environment) unless the
brief names a demo customer whose change no other test depends on (maria's reactivation, zoe's
downloads). Customers sign in as a customer would: the sign-in form, the dev mailbox, the link's
confirmation page. Each page comes from its own client address (`fresh_client_ip`, through the
test server's one trusted proxy hop), so the per-IP link limits count per simulated customer."""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    AppDB,
    RunningApp,
    app_python,
    fresh_client_ip,
    newest_link_in_mailbox,
    portal_cli,
    remember_secret,
    sign_in_staff,
    sign_in_via_mailbox,
)

pytestmark = pytest.mark.browser

WIDTH = 1280
NOT_AVAILABLE = "This part of the portal is not available."


# --- test data -----------------------------------------------------------------------------------

_MAKE_CUSTOMER = r"""
import json
import sys

from sqlmodel import select

from portal_app.clock import SystemClock
from portal_app.db import session_scope
from portal_app.models import Customer, Merchant, NotificationPreference, Plan, Price
from portal_app.services import audit, invoices, payment_methods, subscriptions
from portal_app.services.gateway import configured_gateway

spec = json.loads(sys.argv[1])
clock, gateway = SystemClock(), configured_gateway()
with session_scope() as session:
    merchant_id = session.exec(select(Merchant.id).where(Merchant.slug == "acme")).one()
    customer = Customer(
        merchant_id=merchant_id,
        email=spec["email"],
        name=spec["name"],
        billing_address={
            "line1": "1 Test Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        created_at=clock.now(),
    )
    session.add(customer)
    session.flush()
    session.add(NotificationPreference(customer_id=customer.id))
    actor = audit.Actor.customer(customer.id)
    cards = []
    for number in spec["cards"]:
        card = payment_methods.add_card(
            session, clock, gateway, customer_id=customer.id, number=number, exp_month=12,
            exp_year=clock.now().year + 2, cvc="1234" if number.startswith("3") else "123",
            make_default=True, actor=actor,
        )
        cards.append(card.id)
    subscription_id = None
    if spec.get("plan"):
        plan, interval = spec["plan"]
        price_id = session.exec(
            select(Price.id).join(Plan, Plan.id == Price.plan_id).where(
                Price.merchant_id == merchant_id, Plan.name == plan, Price.interval == interval
            )
        ).one()
        subscription_id = subscriptions.create(
            session, clock, gateway, customer_id=customer.id, price_id=price_id, actor=actor
        ).id
    invoice = None
    if spec.get("invoice_lines"):
        draft = invoices.create_draft(
            session, clock, customer=customer, currency="USD",
            lines=[invoices.LineSpec("manual", t, a) for t, a in spec["invoice_lines"]],
            billing_reason="manual",
        )
        invoice = invoices.finalize(session, clock, draft, audit.Actor("system", "browser-tests"))
    # Cards were added with make_default, so the last one is the default: reorder on request.
    if spec.get("default_card") is not None:
        payment_methods.set_default(
            session, clock, customer_id=customer.id,
            payment_method_id=cards[spec["default_card"]], actor=actor,
        )
    result = {
        "customer_id": customer.id,
        "email": customer.email,
        "name": customer.name,
        "cards": cards,
        "subscription_id": subscription_id,
        "invoice_id": invoice.id if invoice else None,
        "invoice_number": invoices.display_number(invoice) if invoice else None,
        "invoice_total": invoice.total if invoice else None,
    }
print(json.dumps(result))
"""


def make_customer(
    app: RunningApp,
    tag: str,
    *,
    name: str | None = None,
    cards: tuple[str, ...] = ("4242424242424242",),
    plan: tuple[str, str] | None = ("Pro", "month"),
    invoice_lines: list[tuple[str, int]] | None = None,
    default_card: int | None = None,
) -> dict[str, Any]:
    """A fresh customer of the demo merchant, made by the real services in a subprocess with the
    server's environment (database, secret): cards (the last one is the default unless
    `default_card` picks one), optionally a subscription (charged to the default card) and an
    open manual invoice."""
    spec = {
        "email": f"flows-{tag}-{secrets.token_hex(3)}@example.com",
        "name": name or f"Flows {tag.title()}",
        "cards": list(cards),
        "plan": list(plan) if plan else None,
        "invoice_lines": invoice_lines,
        "default_card": default_card,
    }
    done = app_python(app, ["-c", _MAKE_CUSTOMER, json.dumps(spec)])
    if done.returncode != 0:
        pytest.fail(f"making customer {tag} failed:\n{done.stderr[-3000:]}", pytrace=False)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- browser helpers -----------------------------------------------------------------------------


def wait_loaded(page) -> None:
    """Every spinner of the page (page state, nav state) is gone."""
    page.wait_for_function("() => !document.querySelector('[aria-label=\"Loading\"]')")


def open_page(page, app: RunningApp, path: str, heading: str) -> None:
    page.goto(f"{app.base_url}{path}")
    page.get_by_role("heading", name=heading, exact=True).wait_for()
    wait_loaded(page)


def new_page(page_at):
    """A new 1280 px page from a client address no other page used."""
    return page_at(WIDTH, client_ip=fresh_client_ip())


def portal_page(page_at, app: RunningApp, email: str, path: str, heading: str):
    """A new 1280 px page signed in as `email` through the dev mailbox, opened at `path`."""
    page = new_page(page_at)
    sign_in_via_mailbox(page, app, email)
    open_page(page, app, path, heading)
    return page


def toast(page, text: str):
    """A Sonner toast with this text (it disappears after a few seconds)."""
    return page.locator("[data-sonner-toast]").filter(has_text=text)


def json_value(raw):
    """A JSON column as Python: SQLite hands back text, PostgreSQL the decoded value."""
    return json.loads(raw) if isinstance(raw, str) else raw


def subscription(db: AppDB, subscription_id: int) -> dict:
    return db.rows("SELECT * FROM subscription WHERE id = :i", i=subscription_id)[0]


def later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


# --- 1. subscriptions ----------------------------------------------------------------------------


def test_pause_with_resume_date_then_resume(running_app, page_at, db):
    app = running_app
    who = make_customer(app, "pause")
    sub_id = who["subscription_id"]
    page = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
    card = page.get_by_test_id("subscription")
    expect(card).to_have_count(1)
    expect(card.get_by_text("Active", exact=True)).to_be_visible()

    resume_on = later(10)
    card.get_by_role("button", name="Pause", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Pause your subscription")).to_be_visible()
    dialog.locator("#resume_on").fill(resume_on)
    dialog.get_by_role("button", name="Pause subscription").click()
    expect(toast(page, "Your subscription is paused. Billing has stopped.")).to_be_visible()
    expect(card.get_by_text("Paused", exact=True)).to_be_visible()
    resume_label = datetime.fromisoformat(resume_on).strftime("%d %b %Y")
    expect(card.get_by_text(f"Resumes on {resume_label}")).to_be_visible()
    row = subscription(db, sub_id)
    assert row["status"] == "paused"
    assert str(row["resume_at"]).startswith(resume_on)
    assert row["paused_at"] is not None

    card.get_by_role("button", name="Resume now").click()
    expect(toast(page, "Welcome back! Your subscription is active again.")).to_be_visible()
    expect(card.get_by_text("Active", exact=True)).to_be_visible()
    row = subscription(db, sub_id)
    assert (row["status"], row["paused_at"], row["resume_at"]) == ("active", None, None)


def pause_in_ui(page, card, resume_on: str) -> None:
    card.get_by_role("button", name="Pause", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#resume_on").fill(resume_on)
    dialog.get_by_role("button", name="Pause subscription").click()
    expect(card.get_by_text("Paused", exact=True)).to_be_visible()


def test_paused_subscription_is_cancelled_directly_after_confirmation(running_app, page_at, db):
    app = running_app
    who = make_customer(app, "pausedcancel")
    sub_id = who["subscription_id"]
    page = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
    card = page.get_by_test_id("subscription")
    pause_in_ui(page, card, later(20))
    # A paused subscription skips the save flow: no link to it, a confirmation instead.
    expect(card.get_by_role("link", name="Cancel subscription")).to_have_count(0)

    card.get_by_role("button", name="Cancel subscription").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog.get_by_text("Cancel this subscription?")).to_be_visible()
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_have_count(0)
    assert subscription(db, sub_id)["status"] == "paused"

    card.get_by_role("button", name="Cancel subscription").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel subscription").click()
    expect(toast(page, "Your subscription has been cancelled.")).to_be_visible()
    expect(card.get_by_text("Cancelled", exact=True)).to_be_visible()
    row = subscription(db, sub_id)
    assert row["status"] == "canceled"
    assert row["canceled_at"] is not None


def test_reactivate_a_pending_cancellation(running_app, page_at, db):
    app = running_app
    maria = db.customer_id("maria@example.com")
    subs = db.rows("SELECT * FROM subscription WHERE customer_id = :c", c=maria)
    assert len(subs) == 1 and subs[0]["cancel_at_period_end"] == 1, subs
    page = portal_page(page_at, app, "maria@example.com", "/subscriptions", "Subscriptions")
    card = page.get_by_test_id("subscription")
    expect(card.get_by_text(re.compile(r"^Ends on \d\d \w+ \d{4}\."))).to_be_visible()
    expect(card.get_by_role("button", name="Change plan")).to_have_count(0)
    card.get_by_test_id("reactivate").click()
    expect(toast(page, "Your subscription is active.")).to_be_visible()
    expect(card.get_by_test_id("reactivate")).to_have_count(0)
    expect(card.get_by_text(re.compile(r"^Renews on "))).to_be_visible()
    expect(card.get_by_role("button", name="Change plan")).to_be_visible()
    row = subscription(db, subs[0]["id"])
    assert (row["status"], row["cancel_at_period_end"]) == ("active", 0)


def test_plan_change_at_period_end_then_keep_current_plan(running_app, page_at, db, screenshot_dir):
    app = running_app
    who = make_customer(app, "schedule")
    sub_id = who["subscription_id"]
    before = subscription(db, sub_id)
    invoices_before = db.scalar(
        "SELECT COUNT(*) FROM invoice WHERE customer_id = :c", c=who["customer_id"]
    )
    page = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
    card = page.get_by_test_id("subscription")
    card.get_by_role("button", name="Change plan").click()
    page.get_by_test_id("plan-option").filter(has_text="Pro (annual)").click()
    timings = page.get_by_test_id("timing-option")
    expect(timings).to_have_count(2)
    timings.filter(has_text="At the end of this period").click()
    summary = page.get_by_text(re.compile(r"^Nothing to pay today; from "))
    expect(summary).to_be_visible()
    period_end = before["current_period_end"]
    renews = datetime.fromisoformat(str(period_end)).strftime("%d %b %Y")
    expect(summary).to_have_text(f"Nothing to pay today; from {renews} $290.00/year.")
    page.screenshot(path=str(screenshot_dir / f"flows-plan-change-preview-{WIDTH}.png"))

    page.get_by_test_id("confirm-change").click()
    expect(toast(page, "Your change is scheduled for the end of the period.")).to_be_visible()
    pending = card.get_by_text(f"Changes to Pro (annual) on {renews}")
    expect(pending).to_be_visible()
    changes = db.rows(
        "SELECT sc.*, p.interval, p.amount FROM scheduledchange sc "
        "JOIN price p ON p.id = sc.new_price_id WHERE sc.subscription_id = :s",
        s=sub_id,
    )
    assert [(c["status"], c["interval"], c["amount"]) for c in changes] == [
        ("pending", "year", 29000)
    ]
    assert str(changes[0]["effective_at"]) == str(period_end)
    assert subscription(db, sub_id)["price_id"] == before["price_id"]  # nothing changed yet
    assert (
        db.scalar("SELECT COUNT(*) FROM invoice WHERE customer_id = :c", c=who["customer_id"])
        == invoices_before
    )

    card.get_by_role("button", name="Keep current plan").click()
    expect(toast(page, "The scheduled change was cancelled.")).to_be_visible()
    expect(pending).to_have_count(0)
    expect(card.get_by_role("button", name="Keep current plan")).to_have_count(0)
    assert (
        db.scalar("SELECT status FROM scheduledchange WHERE id = :i", i=changes[0]["id"])
        == "canceled"
    )
    after = subscription(db, sub_id)
    assert (after["price_id"], after["status"]) == (before["price_id"], "active")


# --- 2. the cancellation flow --------------------------------------------------------------------


def start_cancellation(page, app: RunningApp, sub_id: int, reason: str) -> None:
    """From /subscriptions: the cancel link, the survey with `reason`, on to the offers."""
    open_page(page, app, "/subscriptions", "Subscriptions")
    page.get_by_role("button", name="Cancel subscription").click()
    page.wait_for_url(re.compile(rf"/subscriptions/{sub_id}/cancel/?$"))
    expect(page.get_by_role("heading", name="Why are you leaving?")).to_be_visible()
    page.get_by_role("radio", name=reason).click()
    page.get_by_test_id("survey-continue").click()


def attempts(db: AppDB, customer_id: int) -> list[tuple[str, str]]:
    return [
        (a["reason"], a["outcome"])
        for a in db.rows(
            "SELECT * FROM cancellationattempt WHERE customer_id = :c ORDER BY id", c=customer_id
        )
    ]


def test_cancellation_discount_once_then_cancel_now(running_app, page_at, db, screenshot_dir):
    app = running_app
    who = make_customer(app, "discount")
    sub_id, customer_id = who["subscription_id"], who["customer_id"]
    page = new_page(page_at)
    sign_in_via_mailbox(page, app, who["email"])

    start_cancellation(page, app, sub_id, "It's too expensive")
    expect(page.get_by_role("heading", name="Before you go")).to_be_visible()
    discount = page.get_by_text(re.compile(r"^25% off your next 3 renewals: "))
    expect(discount).to_have_text(
        "25% off your next 3 renewals: $21.75 instead of $29.00 per month, $21.75 saved in "
        "total. Then $29.00 per month."
    )
    page.screenshot(path=str(screenshot_dir / f"flows-cancel-offers-{WIDTH}.png"), full_page=True)
    page.get_by_test_id("accept-discount").click()
    expect(page.get_by_text(re.compile(r"^Great, you're staying! 25% off"))).to_be_visible()

    row = subscription(db, sub_id)
    assert (row["status"], row["cancel_at_period_end"]) == ("active", 0)
    assert (row["discount_percent"], row["discount_cycles_remaining"]) == (25, 3)
    redemptions = db.rows(
        "SELECT r.*, o.percent_off, o.duration_cycles FROM retentionredemption r "
        "JOIN retentionoffer o ON o.id = r.offer_id WHERE r.customer_id = :c",
        c=customer_id,
    )
    assert [
        (r["subscription_id"], r["percent_off"], r["duration_cycles"]) for r in redemptions
    ] == [(sub_id, 25, 3)]
    assert attempts(db, customer_id) == [("too_expensive", "saved_discount")]
    open_page(page, app, "/subscriptions", "Subscriptions")
    expect(page.get_by_text("25% off for 3 more renewals")).to_be_visible()

    # A second attempt: the same reason offers no discount any more, and the customer can still
    # cancel, right now.
    start_cancellation(page, app, sub_id, "It's too expensive")
    expect(page.get_by_role("heading", name="Before you go")).to_be_visible()
    expect(page.get_by_role("heading", name="A cheaper plan")).to_be_visible()
    expect(page.get_by_role("heading", name="A discount to stay")).to_have_count(0)
    expect(page.get_by_test_id("accept-discount")).to_have_count(0)
    page.get_by_test_id("decline-offers").click()
    expect(page.get_by_role("heading", name="Cancel your subscription?")).to_be_visible()
    page.get_by_role("radio", name="Now").click()
    page.get_by_test_id("confirm-cancel").click()
    expect(page.get_by_text("Your subscription has been cancelled.")).to_be_visible()

    row = subscription(db, sub_id)
    assert row["status"] == "canceled" and row["ended_at"] is not None
    assert attempts(db, customer_id) == [
        ("too_expensive", "saved_discount"),
        ("too_expensive", "canceled"),
    ]
    assert (
        db.scalar("SELECT COUNT(*) FROM retentionredemption WHERE customer_id = :c", c=customer_id)
        == 1
    )
    open_page(page, app, "/subscriptions", "Subscriptions")
    expect(page.get_by_test_id("subscription").get_by_text("Cancelled", exact=True)).to_be_visible()


def test_cancellation_pause_instead(running_app, page_at, db):
    app = running_app
    who = make_customer(app, "pauseinstead")
    sub_id, customer_id = who["subscription_id"], who["customer_id"]
    page = new_page(page_at)
    sign_in_via_mailbox(page, app, who["email"])

    start_cancellation(page, app, sub_id, "I don't use it enough")
    expect(page.get_by_role("heading", name="Before you go")).to_be_visible()
    # "unused" routes to pause first; its own offer is 50% off one renewal.
    expect(page.get_by_text(re.compile(r"^50% off your next renewal: "))).to_be_visible()
    resume_on = later(20)
    page.get_by_label("Resume on").fill(resume_on)
    page.get_by_test_id("accept-pause").click()
    expect(
        page.get_by_text("Your subscription is paused. Billing has stopped until it resumes.")
    ).to_be_visible()

    row = subscription(db, sub_id)
    assert row["status"] == "paused" and str(row["resume_at"]).startswith(resume_on)
    assert (row["discount_percent"], row["cancel_at_period_end"]) == (0, 0)
    assert attempts(db, customer_id) == [("unused", "saved_pause")]
    assert not db.rows("SELECT * FROM retentionredemption WHERE customer_id = :c", c=customer_id)


# --- 3. paying an invoice ------------------------------------------------------------------------

INVOICE_LINES = [("Onboarding workshop", 45000), ("Extra build minutes (2,000)", 4000)]


def payments(db: AppDB, invoice_id: int) -> list[dict]:
    return db.rows("SELECT * FROM payment WHERE invoice_id = :i ORDER BY id", i=invoice_id)


def test_pay_open_invoice_from_its_page(running_app, page_at, db):
    app = running_app
    who = make_customer(app, "payer", plan=None, invoice_lines=INVOICE_LINES)
    invoice_id = who["invoice_id"]
    assert db.scalar("SELECT status FROM invoice WHERE id = :i", i=invoice_id) == "open"
    page = portal_page(page_at, app, who["email"], f"/invoices/{invoice_id}", "Invoice")
    expect(page.get_by_test_id("invoice-number")).to_have_text(who["invoice_number"])
    expect(page.locator("#card option:checked")).to_have_text("Visa •••• 4242")
    page.get_by_test_id("pay-now").click()
    expect(toast(page, "Payment received")).to_be_visible()
    expect(page.get_by_test_id("pay-now")).to_have_count(0)
    expect(page.get_by_text("paid", exact=True)).to_be_visible()

    assert db.scalar("SELECT status FROM invoice WHERE id = :i", i=invoice_id) == "paid"
    made = payments(db, invoice_id)
    assert [(p["status"], p["amount"], p["payment_method_id"]) for p in made] == [
        ("succeeded", 49000, who["cards"][0])
    ]
    receipts = db.rows("SELECT * FROM receipt WHERE invoice_id = :i", i=invoice_id)
    assert [(r["payment_id"], r["amount"], r["card_last4"]) for r in receipts] == [
        (made[0]["id"], 49000, "4242")
    ]
    expect(
        page.get_by_text(f"RCT-{receipts[0]['number']:06d} · $490.00 · Visa •••• 4242 · ")
    ).to_be_visible()


def test_declined_default_card_charges_nothing(running_app, page_at, db):
    app = running_app
    # As olga: a working card and a failing (insufficient funds) default card.
    who = make_customer(
        app,
        "declined",
        plan=None,
        cards=("4242424242424242", "4000000000009995"),
        invoice_lines=INVOICE_LINES,
    )
    invoice_id = who["invoice_id"]
    succeeded_charges = db.scalar("SELECT COUNT(*) FROM sandboxcharge WHERE status = 'succeeded'")
    page = portal_page(page_at, app, who["email"], f"/invoices/{invoice_id}", "Invoice")
    expect(page.locator("#card option:checked")).to_have_text("Visa •••• 9995")
    page.get_by_test_id("pay-now").click()
    expect(
        page.get_by_role("alert").filter(has_text="Your card has insufficient funds.")
    ).to_be_visible()
    expect(page.get_by_test_id("pay-now")).to_be_visible()  # still open, can try another card

    assert db.scalar("SELECT status FROM invoice WHERE id = :i", i=invoice_id) == "open"
    made = payments(db, invoice_id)
    assert [(p["status"], p["failure_code"]) for p in made] == [("failed", "insufficient_funds")]
    assert (
        db.scalar("SELECT COUNT(*) FROM sandboxcharge WHERE status = 'succeeded'")
        == succeeded_charges
    )


# --- 4. the invoice PDF --------------------------------------------------------------------------


def test_invoice_pdf_download(running_app, page_at, db):
    from pypdf import PdfReader

    app = running_app
    who = make_customer(app, "pdf", name="Ada Flows-Müller", plan=None, invoice_lines=INVOICE_LINES)
    page = portal_page(page_at, app, who["email"], f"/invoices/{who['invoice_id']}", "Invoice")
    with page.expect_download() as info:
        page.get_by_test_id("download-pdf").click()
    download = info.value
    assert download.suggested_filename == f"{who['invoice_number']}.pdf"
    with open(download.path(), "rb") as file:
        data = file.read()
    assert data.startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert who["invoice_number"] in text
    assert "Ada Flows-Müller" in text
    assert "$490.00" in text
    assert "Onboarding workshop" in text


# --- 5. cards -----------------------------------------------------------------------------------


def cards_of(db: AppDB, customer_id: int) -> list[dict]:
    return db.rows("SELECT * FROM paymentmethod WHERE customer_id = :c ORDER BY id", c=customer_id)


def spaced(number: str) -> str:
    return " ".join(re.findall(".{1,4}", number))


def assert_number_nowhere(page, frames: list[str], number: str, in_dom: bool = True) -> None:
    """Neither anything the server sent over the websocket (state deltas), the browser's storage
    nor (unless `in_dom` is False: the add-card page shows 4242 4242 4242 4242 as its example)
    the page holds the card number, with or without spaces."""
    received = "\n".join(frames)
    assert received, "no websocket frames were captured"
    storage = page.evaluate(
        "() => JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])"
    )
    html = page.content()
    for form in (number, spaced(number)):
        assert form not in received, f"{form} was sent back by the server"
        assert form not in storage, f"{form} is in browser storage"
        if in_dom:
            assert form not in html, f"{form} is in the page"


def test_cards_add_default_decline_remove_and_last_card(running_app, page_at, db):
    app = running_app
    who = make_customer(app, "cards", cards=("5555555555554444",))
    customer_id = who["customer_id"]
    page = new_page(page_at)
    frames: list[str] = []  # what the server sent
    sent: list[str] = []  # what the page sent

    def text(payload) -> str:
        return payload if isinstance(payload, str) else payload.decode("utf-8", "replace")

    def watch(ws) -> None:
        ws.on("framereceived", lambda payload: frames.append(text(payload)))
        ws.on("framesent", lambda payload: sent.append(text(payload)))

    page.on("websocket", watch)
    sign_in_via_mailbox(page, app, who["email"])
    expiry = f"11/{(datetime.now(UTC).year + 3) % 100:02d}"

    # Add 4242 4242 4242 4242.
    open_page(page, app, "/payment-methods/new", "Add a card")
    page.locator("#number").fill("4242 4242 4242 4242")
    page.locator("#expiry").fill(expiry)
    page.locator("#cvc").fill("123")
    page.get_by_role("button", name="Save card").click()
    page.wait_for_url(re.compile(r"/payment-methods/?$"))
    expect(toast(page, "Card added.")).to_be_visible()
    rows = page.get_by_test_id("card-row")
    expect(rows).to_have_count(2)
    visa_row = rows.filter(has_text="•••• 4242")
    expect(visa_row).to_contain_text(f"Expires {expiry[:2]}/20{expiry[3:]}")
    saved = cards_of(db, customer_id)
    assert [(c["brand"], c["last4"], c["is_default"]) for c in saved] == [
        ("mastercard", "4444", 1),
        ("visa", "4242", 0),
    ]
    # The number went to the server in the submit event and nowhere after that.
    assert any("4242 4242 4242 4242" in frame for frame in sent), "the capture saw no submit"
    assert_number_nowhere(page, frames, "4242424242424242")

    # Make it the default.
    visa_row.get_by_role("button", name="Make default").click()
    expect(toast(page, "Default card updated.")).to_be_visible()
    expect(visa_row.get_by_text("Default", exact=True)).to_be_visible()
    assert [(c["last4"], c["is_default"]) for c in cards_of(db, customer_id)] == [
        ("4444", 0),
        ("4242", 1),
    ]

    # A number the vault refuses: the error, no new card, and the number is nowhere.
    open_page(page, app, "/payment-methods/new", "Add a card")
    page.locator("#number").fill("4000000000000069")
    page.locator("#expiry").fill(expiry)
    page.locator("#cvc").fill("123")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_role("alert").filter(has_text="Your card has expired.")).to_be_visible()
    assert len(cards_of(db, customer_id)) == 2
    assert not db.rows("SELECT * FROM paymentmethod WHERE last4 = '0069'")
    expect(page.locator("#number")).to_have_value("")  # the form was reset
    assert_number_nowhere(page, frames, "4000000000000069")
    assert_number_nowhere(page, frames, "4242424242424242", in_dom=False)

    # Remove the other (non-default) card, confirming in the dialog.
    open_page(page, app, "/payment-methods", "Payment methods")
    rows = page.get_by_test_id("card-row")
    rows.filter(has_text="•••• 4444").get_by_test_id("remove-card").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog.get_by_text("Remove this card?")).to_be_visible()
    dialog.get_by_test_id("confirm-remove").click()
    expect(toast(page, "Card removed.")).to_be_visible()
    expect(rows).to_have_count(1)
    assert [(c["last4"], c["is_default"]) for c in cards_of(db, customer_id)] == [("4242", 1)]

    # The last card of a paying subscriber stays.
    rows.first.get_by_test_id("remove-card").click()
    page.get_by_role("alertdialog").get_by_test_id("confirm-remove").click()
    expect(toast(page, "This is your only card and you have a paid subscription")).to_be_visible()
    expect(rows).to_have_count(1)
    assert [(c["last4"], c["is_default"]) for c in cards_of(db, customer_id)] == [("4242", 1)]
    assert subscription(db, who["subscription_id"])["status"] == "active"


# --- 6. digital products -------------------------------------------------------------------------


def test_download_file_and_reveal_license_key(running_app, page_at, db):
    app = running_app
    zoe = db.customer_id("zoe@example.com")
    events_before = db.scalar("SELECT COUNT(*) FROM downloadevent WHERE customer_id = :c", c=zoe)
    page = portal_page(page_at, app, "zoe@example.com", "/downloads", "Downloads")

    # The handler answers with a signed /files/... URL opened in a new tab; the file arrives as
    # a download (reported on this page) and the tab closes itself.
    with page.expect_download() as info:
        page.get_by_test_id("download-file").click()
    download = info.value
    assert download.suggested_filename == "acme-cli-2.0-linux.tar.gz"
    assert re.search(rf"/files/\d+\.{zoe}\.\d+\.[\w-]+$", download.url), download.url
    with open(download.path(), "rb") as file:
        assert file.read().startswith(b"ACME CLI 2.0 demo archive\n")

    events = db.rows(
        "SELECT e.*, a.name FROM downloadevent e JOIN digitalasset a ON a.id = e.asset_id "
        "WHERE e.customer_id = :c ORDER BY e.id",
        c=zoe,
    )
    assert len(events) == events_before + 1
    assert events[-1]["name"] == "Acme CLI 2.0 (Linux)"
    page.get_by_role("button", name="Refresh").click()
    history = page.get_by_test_id("history-row")
    expect(history).to_have_count(len(events))
    expect(history.first).to_contain_text("Acme CLI 2.0 (Linux)")

    page.get_by_role("button", name="Reveal").click()
    key = page.get_by_test_id("license-key")
    expect(key).to_have_text(re.compile(r"^ACME-DEMO-\d{4}-\d{6}$"))
    shown = key.inner_text()
    assigned = db.rows(
        "SELECT k.key FROM licensekey k JOIN digitalasset a ON a.id = k.asset_id "
        "WHERE k.customer_id = :c AND a.kind = 'license'",
        c=zoe,
    )
    assert [row["key"] for row in assigned] == [shown]


# --- 7. profile and notification preferences -----------------------------------------------------


def test_profile_edit_invalid_country_and_notification_preference(running_app, page_at, db):
    app = running_app
    who = make_customer(app, "profile", plan=None)
    customer_id = who["customer_id"]

    def customer() -> dict:
        row = db.rows("SELECT * FROM customer WHERE id = :c", c=customer_id)[0]
        row["billing_address"] = json_value(row["billing_address"])
        return row

    page = portal_page(page_at, app, who["email"], "/profile", "Profile")
    page.locator("#name").fill("Renamed Flows Customer")
    page.locator("#billing_city").fill("Hamburg")
    page.get_by_test_id("save-profile").click()
    expect(toast(page, "Profile saved.")).to_be_visible()
    saved = customer()
    assert saved["name"] == "Renamed Flows Customer"
    assert saved["billing_address"] == {
        "line1": "1 Test Street",
        "line2": "",
        "city": "Hamburg",
        "postal_code": "10115",
        "state": "",
        "country": "DE",
    }
    expect(page.locator("#billing_city")).to_have_value("Hamburg")

    # An unknown country code: the error, and nothing of the form is saved (name included).
    page.locator("#name").fill("Should Not Be Saved")
    page.locator("#billing_country").fill("XY")
    page.get_by_test_id("save-profile").click()
    expect(
        page.get_by_role("alert").filter(
            has_text="Billing address: country must be a two-letter country code"
        )
    ).to_be_visible()
    unchanged = customer()
    assert unchanged["name"] == "Renamed Flows Customer"
    assert unchanged["billing_address"] == saved["billing_address"]

    def preferences() -> dict:
        return db.rows(
            "SELECT * FROM notificationpreference WHERE customer_id = :c", c=customer_id
        )[0]

    assert preferences()["invoice_reminders"] == 1
    open_page(page, app, "/notifications", "Notifications")
    reminders = page.get_by_test_id("preference").filter(has_text="Invoice reminders")
    box = reminders.locator("input[type=checkbox]")
    expect(box).to_be_checked()
    box.uncheck()
    page.get_by_test_id("save-preferences").click()
    expect(toast(page, "Preferences saved.")).to_be_visible()
    stored = preferences()
    assert (
        stored["invoice_reminders"],
        stored["receipts"],
        stored["renewal_notices"],
        stored["marketing"],
    ) == (0, 1, 1, 0)
    page.reload()
    wait_loaded(page)
    expect(
        page.get_by_test_id("preference")
        .filter(has_text="Invoice reminders")
        .locator("input[type=checkbox]")
    ).not_to_be_checked()


# --- 8. merchant presets and toggles -------------------------------------------------------------


@pytest.fixture(scope="module")
def flows_admin(running_app) -> tuple[str, str]:
    email = f"flows-admin-{secrets.token_hex(3)}@acme.example"
    password = "Flows-admin-" + secrets.token_urlsafe(12)
    remember_secret("password", password)
    out = portal_cli(
        running_app, "create-admin", "--email", email, "--password-stdin", stdin=password + "\n"
    )
    assert out.startswith(f"created owner {email} (id "), out
    return email, password


def settings_document(db: AppDB, merchant_id: int) -> dict:
    raw = db.scalar("SELECT document FROM portalsettings WHERE merchant_id = :m", m=merchant_id)
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def effective(document: dict) -> dict:
    from portal_app.services import features

    values = features.defaults()
    values.update({k: v for k, v in document.items() if k in features.FEATURES})
    return values


@contextmanager
def settings_restored(db: AppDB) -> Iterator[tuple[int, dict]]:
    """The merchant's settings as they were before, whatever happens in between: the test puts
    them back through the UI; if it could not, the stored document is written back."""
    merchant_id = db.scalar("SELECT id FROM merchant WHERE slug = 'acme'")
    snapshot = settings_document(db, merchant_id)
    try:
        yield merchant_id, snapshot
    finally:
        if effective(settings_document(db, merchant_id)) != effective(snapshot):
            db.execute(
                "UPDATE portalsettings SET document = :d WHERE merchant_id = :m",
                d=json.dumps(snapshot),
                m=merchant_id,
            )


def staff_settings_page(page_at, app: RunningApp, admin: tuple[str, str]):
    """Staff signed in through the merchant sign-in form, at Settings → Customer Portal."""
    page = new_page(page_at)
    sign_in_staff(page, app, *admin)
    open_page(page, app, "/merchant/settings/portal", "Settings → Customer Portal")
    return page


def wait_for_settings(db: AppDB, merchant_id: int, expected: dict[str, Any]) -> dict:
    """Poll the stored settings until `expected` is in effect (a toast from an earlier save may
    still be on screen, so the database, not the toast, says when a save is done)."""
    deadline = time.monotonic() + 15
    while True:
        now = effective(settings_document(db, merchant_id))
        if all(now[key] == value for key, value in expected.items()):
            return now
        if time.monotonic() > deadline:
            wrong = {key: now[key] for key, value in expected.items() if now[key] != value}
            raise AssertionError(f"settings not saved, still {wrong}")
        time.sleep(0.1)


def control(page, key: str):
    return page.locator(f"#setting-{key.replace('.', '-')}")


def expect_form_shows(page, values: dict[str, Any]) -> None:
    """The settings form shows these values (after a save or a preset, the form is remounted
    with the stored values: edits made before that would be lost)."""
    for key, value in values.items():
        if isinstance(value, bool):
            expect(control(page, key)).to_be_checked(checked=value)
        elif isinstance(value, str):
            expect(control(page, key)).to_have_value(value)


def preview_preset(page, key: str):
    page.get_by_test_id(f"preset-{key}").click()
    expect(page.get_by_test_id("apply-preset")).to_be_visible()
    return page.get_by_test_id("preset-diff-row")


def apply_preset(page, db: AppDB, merchant_id: int, key: str, label: str) -> None:
    from portal_app.services.features import PRESETS

    page.get_by_test_id("apply-preset").click()
    # The newest toast; an older one with the same text may still be on its way out.
    expect(toast(page, f"{label} preset applied.").first).to_be_visible()
    expect(page.get_by_test_id("apply-preset")).to_have_count(0)
    wait_for_settings(db, merchant_id, PRESETS[key])
    expect_form_shows(page, PRESETS[key])


def set_and_save(page, db: AppDB, merchant_id: int, values: dict[str, Any]) -> None:
    """Change fields of the settings form (checkbox: bool, select: str), save, and wait until
    they are stored."""
    for key, value in values.items():
        if isinstance(value, bool):
            control(page, key).set_checked(value)
        else:
            control(page, key).select_option(value)
    expect_form_shows(page, values)
    page.get_by_test_id("save-settings").click()
    wait_for_settings(db, merchant_id, values)
    expect_form_shows(page, values)


def restore_saas(page, db: AppDB, merchant_id: int, snapshot: dict) -> None:
    """The SaaS preset, then the demo merchant's own changes on top of it (what it had before)."""
    preview_preset(page, "saas")
    apply_preset(page, db, merchant_id, "saas", "SaaS")
    before = effective(snapshot)
    now = effective(settings_document(db, merchant_id))
    changed = {key: before[key] for key in before if now[key] != before[key]}
    assert all(isinstance(v, bool | str) for v in changed.values()), changed
    if changed:
        set_and_save(page, db, merchant_id, changed)
    assert effective(settings_document(db, merchant_id)) == before


def test_presets_and_toggles_shape_the_customer_portal(
    running_app, page_at, db, flows_admin, screenshot_dir
):
    app = running_app
    who = make_customer(app, "features")
    with settings_restored(db) as (merchant_id, snapshot):
        staff = staff_settings_page(page_at, app, flows_admin)
        diff = preview_preset(staff, "ecommerce")
        upgrade = diff.filter(has=staff.get_by_role("cell", name="Upgrade plan", exact=True))
        expect(upgrade).to_have_count(1)
        expect(upgrade.get_by_role("cell")).to_have_text(["Upgrade plan", "on", "off"])
        expect(
            diff.filter(
                has=staff.get_by_role("cell", name="Downgrade plan", exact=True)
            ).get_by_role("cell")
        ).to_have_text(["Downgrade plan", "on", "off"])
        staff.screenshot(
            path=str(screenshot_dir / f"flows-settings-preset-diff-{WIDTH}.png"), full_page=True
        )
        apply_preset(staff, db, merchant_id, "ecommerce", "E-commerce")
        now = effective(settings_document(db, merchant_id))
        assert (
            now["subscriptions.upgrade"],
            now["subscriptions.downgrade"],
            now["subscriptions.change_interval"],
            now["cancel.retention_offers"],
        ) == (False, False, False, False)

        # The customer's portal: every section is still on.
        customer = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
        nav = customer.locator("[aria-label='Account sections']")
        expect(nav.get_by_role("link", name="Invoices")).to_be_visible()

        # Invoices off through the settings form: gone from the nav, the page says so.
        set_and_save(staff, db, merchant_id, {"invoices.view": False})
        expect(toast(staff, "Saved 1 change.")).to_be_visible()
        open_page(customer, app, "/portal", "Overview")
        expect(nav.get_by_role("link", name="Subscriptions")).to_be_visible()
        expect(nav.get_by_role("link", name="Invoices")).to_have_count(0)
        open_page(customer, app, "/invoices", "Invoices")
        expect(customer.get_by_text(NOT_AVAILABLE)).to_be_visible()
        expect(customer.get_by_test_id("invoice-row")).to_have_count(0)

        # Back to how it was, through the UI.
        restore_saas(staff, db, merchant_id, snapshot)
        open_page(customer, app, "/invoices", "Invoices")
        expect(nav.get_by_role("link", name="Invoices")).to_be_visible()
        expect(customer.get_by_text(NOT_AVAILABLE)).to_have_count(0)


def test_ecommerce_preset_hides_change_plan(running_app, page_at, db, flows_admin):
    app = running_app
    who = make_customer(app, "noplanchange")
    with settings_restored(db) as (merchant_id, snapshot):
        staff = staff_settings_page(page_at, app, flows_admin)
        preview_preset(staff, "ecommerce")
        apply_preset(staff, db, merchant_id, "ecommerce", "E-commerce")
        customer = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
        card = customer.get_by_test_id("subscription")
        try:
            # What the merchant turned off is not offered...
            expect(card.get_by_role("button", name="Pause", exact=True)).to_be_visible()
            expect(card.get_by_role("button", name="Change plan")).to_have_count(0, timeout=3000)
        finally:
            restore_saas(staff, db, merchant_id, snapshot)


def test_an_unreadable_colour_is_refused_and_an_earlier_version_restored(
    running_app, page_at, db, flows_admin, screenshot_dir
):
    """#17: the colour picker refuses a brand colour white text can't be read on; History lists
    each save with its diff, and restoring the one before brings it back as a new version."""
    app = running_app
    with settings_restored(db) as (merchant_id, snapshot):
        staff = staff_settings_page(page_at, app, flows_admin)
        colour = control(staff, "branding.color")
        expect(colour).to_have_attribute("type", "color")
        kept = effective(snapshot)["branding.color"]
        colour.fill("#ffee00")
        staff.get_by_test_id("save-settings").click()
        expect(staff.get_by_text("#ffee00 is too light to read")).to_be_visible()
        assert effective(settings_document(db, merchant_id))["branding.color"] == kept
        colour.fill(kept)
        for name in ("History one", "History two"):
            control(staff, "branding.name").fill(name)
            staff.get_by_test_id("save-settings").click()
            wait_for_settings(db, merchant_id, {"branding.name": name})
            expect(control(staff, "branding.name")).to_have_value(name)
        versions = staff.get_by_test_id("settings-version")
        newest, earlier = versions.nth(0), versions.nth(1)
        expect(newest).to_contain_text("Portal name")
        expect(newest).to_contain_text("History two")
        expect(newest.get_by_role("button", name="Restore")).to_have_count(0)  # saved now
        number = earlier.get_attribute("data-version")
        staff.screenshot(
            path=str(screenshot_dir / f"flows-settings-history-{WIDTH}.png"), full_page=True
        )
        earlier.get_by_role("button", name="Restore").click()
        expect(staff.get_by_text(f"Restore version {number}?")).to_be_visible()
        staff.get_by_test_id("confirm-restore").click()
        expect(toast(staff, f"Version {number} restored").first).to_be_visible()
        wait_for_settings(db, merchant_id, {"branding.name": "History one"})
        expect(control(staff, "branding.name")).to_have_value("History one")
        expect(versions.nth(0)).to_contain_text(f"Restored version {number}")


def test_the_retry_schedule_is_edited_as_entries_not_a_comma_string(
    running_app, page_at, db, flows_admin
):
    """#17: a list setting is chips with an Add box: Enter adds (a bad entry is named at once),
    a chip's remove button takes it out, and Save stores what the chips show."""
    with settings_restored(db) as (merchant_id, _snapshot):
        staff = staff_settings_page(page_at, running_app, flows_admin)
        box = control(staff, "billing.retry_days")
        items = staff.get_by_test_id("item-billing.retry_days")
        expect(items).to_have_text(["1", "3", "5"])
        box.fill("0")
        box.press("Enter")
        expect(staff.get_by_text("Enter a whole number of days from 1 to 60.")).to_be_visible()
        box.fill("7")
        box.press("Enter")
        expect(items).to_have_text(["1", "3", "5", "7"])
        expect(box).to_have_value("")
        staff.get_by_role("button", name="Remove 5").click()
        expect(items).to_have_text(["1", "3", "7"])
        staff.get_by_test_id("save-settings").click()
        wait_for_settings(db, merchant_id, {"billing.retry_days": [1, 3, 7]})
        expect(items).to_have_text(["1", "3", "7"])


def test_reasons_are_reworded_reordered_and_added_then_read_so_in_the_cancellation_flow(
    running_app, page_at, db, flows_admin, screenshot_dir
):
    """#17: the survey's reasons are edited as words customers read (not keys): reworded in
    place, moved with the keyboard, added; the cancellation flow shows them in that order, and
    "Another reason" asks for the reason in words."""
    from portal_app.services.features import DEFAULT_REASONS

    app = running_app
    who = make_customer(app, "reasons")
    with settings_restored(db) as (merchant_id, _snapshot):
        staff = staff_settings_page(page_at, app, flows_admin)
        rows = staff.get_by_test_id("reason-row")
        expect(rows).to_have_count(8)
        first = rows.nth(0).get_by_role("textbox")
        expect(first).to_have_value("It's too expensive")
        first.fill("Costs too much")
        first.press("Tab")  # leaving the box keeps the words
        other = staff.get_by_role("button", name="Move Another reason up")
        for place in range(6, -1, -1):  # last → first, from the keyboard
            other.focus()
            staff.keyboard.press("Enter")
            expect(rows.nth(place).get_by_role("textbox")).to_have_value("Another reason")
        expect(staff.get_by_role("button", name="Move Another reason up")).to_be_disabled()
        add = control(staff, "cancel.reasons")
        add.fill("Too many emails")
        add.press("Enter")
        expect(rows).to_have_count(9)
        add.fill("too many emails")
        add.press("Enter")
        expect(staff.get_by_test_id("reason-error")).to_contain_text("in the list already")
        staff.get_by_role("button", name="Remove Some features are missing").click()
        expect(rows).to_have_count(8)
        staff.screenshot(
            path=str(screenshot_dir / f"flows-settings-reasons-{WIDTH}.png"), full_page=True
        )
        staff.get_by_test_id("save-settings").click()
        order = [
            "other",
            "too_expensive",
            "switched_service",
            "unused",
            "customer_service",
            "too_complex",
            "low_quality",
            "too_many_emails",
        ]
        wait_for_settings(db, merchant_id, {"cancel.reasons": order})
        assert effective(settings_document(db, merchant_id))["cancel.reason_labels"] == {
            "too_expensive": "Costs too much",
            "too_many_emails": "Too many emails",
        }

        customer = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
        customer.get_by_role("button", name="Cancel subscription").click()
        expect(customer.get_by_role("heading", name="Why are you leaving?")).to_be_visible()
        expect(customer.get_by_role("radio")).to_have_count(8)
        shown = customer.get_by_role("radiogroup").inner_text().split("\n")
        assert [line for line in shown if line.strip()] == [
            "Another reason",
            "Costs too much",
            "I'm switching to another service",
            "I don't use it enough",
            "Customer service was not good enough",
            "It's too complicated",
            "Quality was lower than expected",
            "Too many emails",
        ]
        customer.get_by_role("radio", name="Another reason").click()
        comment = customer.get_by_label("What is your reason? (optional)")
        expect(comment).to_be_visible()
        comment.fill("Moving abroad")
        customer.get_by_test_id("survey-continue").click()
        expect(customer.get_by_role("heading", name="Before you go")).to_be_visible()
        rows_of = db.rows(
            "SELECT reason, comment FROM cancellationattempt WHERE customer_id = :c",
            c=who["customer_id"],
        )
        assert [(r["reason"], r["comment"]) for r in rows_of] == [("other", "Moving abroad")]
        customer.get_by_role("button", name="Keep my subscription").first.click()

        staff.get_by_role("button", name="Use the built-in reasons").click()
        expect(rows.nth(0).get_by_role("textbox")).to_have_value("It's too expensive")
        staff.get_by_test_id("save-settings").click()
        wait_for_settings(db, merchant_id, {"cancel.reasons": DEFAULT_REASONS})


def test_a_settings_file_is_exported_then_imported_after_its_diff(
    running_app, page_at, db, flows_admin
):
    """#17: Export downloads every setting; importing an edited copy lists its changes first,
    and Apply stores them as one version."""
    with settings_restored(db) as (merchant_id, snapshot):
        staff = staff_settings_page(page_at, running_app, flows_admin)
        with staff.expect_download() as download:
            staff.get_by_test_id("export-settings").click()
        exported = json.loads(Path(download.value.path()).read_text())
        assert exported["format"] == "portal-settings/1"
        exported["settings"]["branding.name"] = "Imported from staging"
        dropzone = staff.get_by_test_id("settings-file-dropzone")
        dropzone.locator("input[type=file]").set_input_files(
            files=[
                {
                    "name": "portal-settings.json",
                    "mimeType": "application/json",
                    "buffer": json.dumps(exported).encode(),
                }
            ]
        )
        staff.get_by_test_id("settings-file-check").click()
        expect(staff.get_by_test_id("apply-import")).to_be_visible()
        row = staff.get_by_test_id("preset-diff-row").filter(has_text="Imported from staging")
        expect(row.get_by_role("cell")).to_have_text(
            ["Portal name", effective(snapshot)["branding.name"], "Imported from staging"]
        )
        assert effective(settings_document(db, merchant_id))["branding.name"] != (
            "Imported from staging"
        )
        staff.get_by_test_id("apply-import").click()
        wait_for_settings(db, merchant_id, {"branding.name": "Imported from staging"})
        expect(staff.get_by_test_id("settings-version").first).to_contain_text(
            "Imported a settings file"
        )


def test_the_merchants_support_contacts_and_footer_show_in_the_portal(
    running_app, page_at, db, flows_admin
):
    """#17 branding: a support email, a help page and footer text set in Settings are in every
    portal page's footer; a help page that is not https is refused."""
    app = running_app
    who = make_customer(app, "footer")
    with settings_restored(db) as (merchant_id, _snapshot):
        staff = staff_settings_page(page_at, app, flows_admin)
        control(staff, "branding.support_url").fill("http://acme.example/help")
        staff.get_by_test_id("save-settings").click()
        expect(staff.get_by_text("must be a page address starting with https://")).to_be_visible()
        values = {
            "branding.support_email": "help@acme.example",
            "branding.support_url": "https://acme.example/help",
            "branding.footer": "Acme Inc. · 1 Main Street, Springfield",
        }
        for key, value in values.items():
            control(staff, key).fill(value)
        staff.get_by_test_id("save-settings").click()
        wait_for_settings(db, merchant_id, values)
        customer = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
        footer = customer.locator("footer")
        expect(footer.get_by_test_id("support-email")).to_have_attribute(
            "href", "mailto:help@acme.example"
        )
        expect(footer.get_by_test_id("support-link")).to_have_attribute(
            "href", "https://acme.example/help"
        )
        expect(footer.get_by_test_id("portal-footer-text")).to_have_text(values["branding.footer"])


def _logo_file(name: str, mime: str, data: bytes) -> list[dict]:
    return [{"name": name, "mimeType": mime, "buffer": data}]


def test_an_uploaded_logo_is_made_safe_and_shown_in_the_portal_header(
    running_app, page_at, db, flows_admin, screenshot_dir
):
    """#17 branding: a logo is uploaded (not typed as a URL); a file that is no image is refused
    with why; an SVG loses its script and shows in the customer's header; Remove takes it away."""
    app = running_app
    who = make_customer(app, "logo")
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40" onload="alert(1)">'
        b'<script>alert(2)</script><rect width="120" height="40" fill="#4f46e5"/>'
        b'<text x="10" y="28" font-size="22" fill="#fff">Acme</text></svg>'
    )
    with settings_restored(db) as (merchant_id, _snapshot):
        staff = staff_settings_page(page_at, app, flows_admin)
        upload = staff.get_by_test_id("logo-dropzone").locator("input[type=file]")
        upload.set_input_files(files=_logo_file("logo.png", "image/png", b"\x89PNG not a png"))
        staff.get_by_test_id("logo-save").click()
        expect(staff.get_by_test_id("logo-error")).to_contain_text("could not be read")
        assert effective(settings_document(db, merchant_id))["branding.logo"] == ""
        upload.set_input_files(files=_logo_file("logo.svg", "image/svg+xml", svg))
        staff.get_by_test_id("logo-save").click()
        preview = staff.get_by_test_id("logo-preview")
        expect(preview).to_be_visible()
        stored = effective(settings_document(db, merchant_id))["branding.logo"]
        assert stored.startswith("data:image/svg+xml;base64,")
        drawn = base64.b64decode(stored.split(",", 1)[1])
        assert b"script" not in drawn and b"onload" not in drawn and b"Acme" in drawn
        expect(staff.get_by_test_id("settings-version").first).to_contain_text("uploaded SVG")

        customer = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
        header_logo = customer.locator(f"img[src^='/brand/{merchant_id}/logo?v=']")
        expect(header_logo).to_be_visible()
        customer.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=header_logo.element_handle()
        )
        customer.screenshot(path=str(screenshot_dir / f"flows-portal-logo-{WIDTH}.png"))

        staff.get_by_role("button", name="Remove logo").click()
        wait_for_settings(db, merchant_id, {"branding.logo": ""})
        expect(staff.get_by_test_id("logo-preview")).to_have_count(0)
        open_page(customer, app, "/subscriptions", "Subscriptions")
        expect(customer.locator("img[src^='/brand/']")).to_have_count(0)


# --- layout defects seen in the screenshots ------------------------------------------------------


def test_subscription_action_buttons_are_spaced(running_app, page_at):
    who = make_customer(running_app, "spacing")
    page = portal_page(page_at, running_app, who["email"], "/subscriptions", "Subscriptions")
    card = page.get_by_test_id("subscription")
    change = card.get_by_role("button", name="Change plan").bounding_box()
    pause = card.get_by_role("button", name="Pause", exact=True).bounding_box()
    assert change and pause
    assert pause["x"] - (change["x"] + change["width"]) >= 4


def test_portal_sections_are_a_navigation_landmark(running_app, page_at):
    who = make_customer(running_app, "landmark")
    page = portal_page(page_at, running_app, who["email"], "/portal", "Overview")
    nav = page.get_by_role("navigation", name="Account sections")
    expect(nav.get_by_role("link", name="Subscriptions")).to_be_visible()


# --- keyboard only ----------------------------------------------------------------------------


def tab_to(page, target, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab until `target` has the focus; fails if it is not reachable by keyboard."""
    handle = target.element_handle()
    for _ in range(limit):
        if page.evaluate("(el) => document.activeElement === el", handle):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"{target} is not reachable with Tab in {limit} presses")


def test_keyboard_only_sign_in_pause_and_resume(running_app, page_at, db):
    """Sign-in form, the link's confirmation, pausing with a date and resuming: Tab, typing,
    Enter and Escape only: no mouse click."""
    app = running_app
    who = make_customer(app, "keyboard")
    sub_id = who["subscription_id"]
    page = new_page(page_at)

    page.goto(f"{app.base_url}/login")
    tab_to(page, page.locator("#email"))
    page.keyboard.type(who["email"])
    page.keyboard.press("Enter")
    page.get_by_test_id("login-sent").wait_for()
    link = newest_link_in_mailbox(page, app, who["email"])
    page.goto(link)
    tab_to(page, page.get_by_role("button", name="Sign in"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/portal/?$"))
    page.get_by_test_id("greeting").wait_for()
    wait_loaded(page)

    # The account sections are reachable and followable by keyboard.
    nav = page.get_by_role("navigation", name="Account sections")
    tab_to(page, nav.get_by_role("link", name="Subscriptions"))
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Subscriptions", exact=True).wait_for()
    wait_loaded(page)
    card = page.get_by_test_id("subscription")

    # Escape closes the pause dialog without changing anything.
    tab_to(page, card.get_by_role("button", name="Pause", exact=True))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Pause your subscription")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert subscription(db, sub_id)["status"] == "active"

    tab_to(page, card.get_by_role("button", name="Pause", exact=True))
    page.keyboard.press("Enter")
    date_input = dialog.locator("#resume_on")
    tab_to(page, date_input)
    resume_on = later(12)
    year, month, day = resume_on.split("-")
    page.keyboard.type(f"{month}{day}{year}")  # Chromium's date field: mm dd yyyy, en-US
    expect(date_input).to_have_value(resume_on)
    tab_to(page, dialog.get_by_role("button", name="Pause subscription"))
    page.keyboard.press("Enter")
    expect(toast(page, "Your subscription is paused. Billing has stopped.")).to_be_visible()
    assert subscription(db, sub_id)["status"] == "paused"

    tab_to(page, card.get_by_role("button", name="Resume now"), backwards=True)
    page.keyboard.press("Enter")
    expect(toast(page, "Welcome back! Your subscription is active again.")).to_be_visible()
    assert subscription(db, sub_id)["status"] == "active"
