"""Staff views of money and mail in the production build: the invoices page with the overdue
filter and its totals, the payments page, the mailbox (sealed sign-in mail never shown, failed mail
retried) and "preview as customer" opening the portal in a new tab as the stand-in customer.
Every page is checked against the server's database; screenshots at 1280 and 375 px."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    ROOT,
    STAFF_COOKIE,
    AppDB,
    RunningApp,
    cookie_in,
    remember_secret,
    sign_in_staff,
    sqlite_utc,
    token_of,
)

pytestmark = pytest.mark.browser

WIDTHS = (1280, 375)
PREVIEW_EMAIL = "preview@portal-preview.invalid"
SEALED_KINDS = "('magic_link', 'email_change')"


def staff_page(page_at, app: RunningApp, staff, width: int):
    """A page signed in through the merchant sign-in form, on the dashboard."""
    page = page_at(width)
    sign_in_staff(page, app, staff.email, staff.password)
    page.get_by_test_id("merchant-heading").wait_for()
    return page


def merchant(db: AppDB) -> dict:
    return db.rows("SELECT id, clock_offset_seconds FROM merchant WHERE slug = 'acme'")[0]


def merchant_now(db: AppDB) -> datetime:
    """The demo merchant's clock (its test clock may run ahead of real time)."""
    return datetime.now(UTC) + timedelta(seconds=merchant(db)["clock_offset_seconds"])


def fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "page scrolls sideways"


def counted(count: int, noun: str) -> str:
    return f"1 {noun}" if count == 1 else f"{count} {noun}s"


def usd(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def toast(page, text: str):
    return page.locator("[data-sonner-toast]").filter(has_text=text)


_SIGN_IN_MAIL = r"""
import json, sys
from sqlmodel import select
from portal_app.clock import SystemClock
from portal_app.db import session_scope
from portal_app.models import Customer, Merchant
from portal_app.services import audit, magic_links
email = sys.argv[1]
clock = SystemClock()
with session_scope() as session:
    merchant_id = session.exec(select(Merchant.id).where(Merchant.slug == "acme")).one()
    customer = Customer(merchant_id=merchant_id, email=email, name="Mailbox Test",
                        created_at=clock.now())
    session.add(customer)
    session.flush()
    token = magic_links.request_login_link(session, clock, merchant_id=merchant_id, email=email,
                                    return_to="/portal", actor=audit.Actor("system", "tests"))
print(json.dumps({"token": token}))
"""


def queue_sign_in_mail(app: RunningApp, email: str) -> str:
    """A new customer asks for a sign-in link (the real service, with the server's secret);
    returns the link's token, which the mailbox must never show."""
    done = subprocess.run(
        [sys.executable, "-c", _SIGN_IN_MAIL, email],
        cwd=ROOT,
        env=app.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return remember_secret("link_token", json.loads(done.stdout.strip().splitlines()[-1])["token"])


# --- invoices and payments -----------------------------------------------------------------------


def test_invoices_with_the_overdue_filter_and_payments(
    running_app, page_at, db, staff_admin, screenshot_dir
):
    app = running_app
    merchant_id = merchant(db)["id"]
    for width in WIDTHS:
        page = staff_page(page_at, app, staff_admin, width)
        page.get_by_role("link", name="Overdue invoices").click()
        page.wait_for_url(re.compile(r"/merchant/invoices/?\?status=overdue$"))
        expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()
        expect(page.get_by_test_id("filter-overdue")).to_have_attribute("aria-pressed", "true")

        now = sqlite_utc(merchant_now(db))
        overdue = db.rows(
            "SELECT i.number, i.total, c.name FROM invoice i"
            " JOIN customer c ON c.id = i.customer_id"
            " WHERE i.merchant_id = :m AND i.status = 'open' AND i.due_at < :now"
            " AND c.email != :p ORDER BY i.due_at, i.id",
            m=merchant_id,
            now=now,
            p=PREVIEW_EMAIL,
        )
        assert overdue, "the demo merchant has overdue invoices (ada, olga)"
        expect(page.get_by_test_id("invoice-count")).to_have_text(counted(len(overdue), "invoice"))
        rows = page.get_by_test_id("invoice-row")
        expect(rows).to_have_count(min(len(overdue), 20))
        first = rows.first
        expect(first).to_contain_text(f"INV-{overdue[0]['number']:06d}")
        expect(first).to_contain_text(overdue[0]["name"])
        expect(first).to_contain_text(usd(overdue[0]["total"]))
        expect(first.get_by_role("cell").last).to_have_text(re.compile(r"^(<1|\d+)$"))
        expect(page.get_by_test_id("total-overdue")).to_contain_text(
            counted(len(overdue), "invoice")
        )
        overdue_sum = sum(r["total"] for r in overdue)
        expect(page.get_by_test_id("total-overdue")).to_contain_text(usd(overdue_sum))
        ada = next(r for r in overdue if r["name"] == "Ada Lovelace")
        expect(rows.filter(has_text="Ada Lovelace")).to_contain_text(f"INV-{ada['number']:06d}")

        fits(page, width)
        page.screenshot(
            path=screenshot_dir / f"merchant-invoices-overdue-{width}.png", full_page=True
        )

        # Sorted by due date, oldest first; one click reverses it.
        expect(page.get_by_role("columnheader", name=re.compile("Due date"))).to_have_attribute(
            "aria-sort", "ascending"
        )
        page.get_by_test_id("sort-due").click()
        expect(page.get_by_role("columnheader", name=re.compile("Due date"))).to_have_attribute(
            "aria-sort", "descending"
        )
        expect(rows.first).to_contain_text(f"INV-{overdue[-1]['number']:06d}")

        # "All" pages through every finalized invoice, 20 at a time.
        everything = db.scalar(
            "SELECT COUNT(*) FROM invoice i JOIN customer c ON c.id = i.customer_id"
            " WHERE i.merchant_id = :m AND i.status != 'draft' AND c.email != :p",
            m=merchant_id,
            p=PREVIEW_EMAIL,
        )
        page.get_by_test_id("filter-all").click()
        expect(page.get_by_test_id("invoice-count")).to_have_text(counted(everything, "invoice"))
        expect(rows).to_have_count(min(everything, 20))
        pages = -(-everything // 20)
        expect(page.get_by_text(f"Page 1 of {pages}")).to_be_visible()
        if pages > 1:
            page.get_by_role("button", name="Next").click()
            expect(page.get_by_text(f"Page 2 of {pages}")).to_be_visible()
            expect(rows).to_have_count(min(everything - 20, 20))

        # Payments: newest first, with card, invoice and customer.
        page.goto(f"{app.base_url}/merchant/payments")
        expect(page.get_by_role("heading", name="Payments", exact=True)).to_be_visible()
        payments = db.rows(
            "SELECT p.status, i.number, c.name FROM payment p"
            " JOIN invoice i ON i.id = p.invoice_id JOIN customer c ON c.id = p.customer_id"
            " WHERE p.merchant_id = :m AND c.email != :p ORDER BY p.id DESC",
            m=merchant_id,
            p=PREVIEW_EMAIL,
        )
        expect(page.get_by_test_id("payment-count")).to_have_text(counted(len(payments), "payment"))
        payment_rows = page.get_by_test_id("payment-row")
        expect(payment_rows).to_have_count(min(len(payments), 20))
        expect(payment_rows.first).to_contain_text(f"INV-{payments[0]['number']:06d}")
        expect(payment_rows.first).to_contain_text(payments[0]["name"])
        expect(payment_rows.first).to_contain_text(re.compile(r"•••• \d{4}"))
        failed = [p for p in payments if p["status"] == "failed"]
        page.get_by_test_id("filter-failed").click()
        expect(page.get_by_test_id("payment-count")).to_have_text(counted(len(failed), "payment"))
        if failed:
            expect(payment_rows.first).to_contain_text("failed")
        fits(page, width)
        page.screenshot(path=screenshot_dir / f"merchant-payments-{width}.png", full_page=True)


# --- the mailbox ---------------------------------------------------------------------------------


def test_mailbox_hides_sign_in_links_and_retries_failed_mail(
    running_app, page_at, db, staff_admin, screenshot_dir
):
    app = running_app
    merchant_id = merchant(db)["id"]
    email = f"mailbox-{secrets.token_hex(3)}@example.com"
    token = queue_sign_in_mail(app, email)
    failed_id = db.scalar(
        "SELECT id FROM outboxemail WHERE merchant_id = :m AND status = 'queued'"
        f" AND kind NOT IN {SEALED_KINDS} ORDER BY id LIMIT 1",
        m=merchant_id,
    )
    assert failed_id is not None, "the demo merchant has queued receipts"
    # As if the mail run had failed five times (test-only write: no SMTP server here).
    db.execute(
        "UPDATE outboxemail SET status = 'failed', attempts = 5,"
        " last_error = 'ConnectionRefusedError' WHERE id = :i",
        i=failed_id,
    )
    failed_subject = db.scalar("SELECT subject FROM outboxemail WHERE id = :i", i=failed_id)
    retryable = db.scalar(
        "SELECT COUNT(*) FROM outboxemail WHERE merchant_id = :m AND status = 'failed'"
        f" AND kind NOT IN {SEALED_KINDS}",
        m=merchant_id,
    )
    plural = "message is" if retryable == 1 else "messages are"
    start = db.max_audit_id()

    for width in WIDTHS:
        page = staff_page(page_at, app, staff_admin, width)
        page.get_by_role("link", name="Mailbox").click()
        page.wait_for_url(re.compile(r"/merchant/mailbox/?$"))
        expect(page.get_by_role("heading", name="Mailbox", exact=True)).to_be_visible()
        total = db.scalar("SELECT COUNT(*) FROM outboxemail WHERE merchant_id = :m", m=merchant_id)
        expect(page.get_by_test_id("mail-count")).to_have_text(counted(total, "message"))
        mine = page.get_by_test_id("mail-row").filter(has_text=email)
        expect(mine).to_have_count(1)
        expect(mine).to_contain_text("magic link")
        expect(mine.get_by_test_id("sealed")).to_have_text("sealed")
        expect(mine.get_by_role("button", name=re.compile("^View"))).to_have_count(0)
        html = page.content()
        assert token not in html and "/auth/verify" not in html and "sealed:v1:" not in html

        # An ordinary message can be read.
        page.get_by_role("button", name=re.compile("^View message")).first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_test_id("mail-body")).not_to_be_empty()
        fits(page, width)
        page.wait_for_timeout(400)  # the dialog's opening animation
        page.screenshot(path=screenshot_dir / f"merchant-mailbox-message-{width}.png")
        dialog.get_by_role("button", name="Close").click()
        expect(dialog).to_have_count(0)

        page.get_by_test_id("filter-failed").click()
        if width == WIDTHS[0]:
            failed_row = page.get_by_test_id("mail-row").filter(has_text=failed_subject)
            expect(failed_row).to_contain_text("5 attempts")
            expect(failed_row).to_contain_text("ConnectionRefusedError")
            expect(page.get_by_test_id("retry-failed")).to_have_text(f"Retry failed ({retryable})")
            page.screenshot(path=screenshot_dir / f"merchant-mailbox-{width}.png", full_page=True)
            page.get_by_test_id("retry-failed").click()
            page.get_by_test_id("confirm-retry").click()
            expect(toast(page, f"{retryable} {plural} queued again.")).to_be_visible()
            still_failed = db.scalar(
                "SELECT COUNT(*) FROM outboxemail WHERE merchant_id = :m AND status = 'failed'",
                m=merchant_id,
            )  # expired sign-in links are not retried
            expect(page.get_by_test_id("mail-count")).to_have_text(counted(still_failed, "message"))
            expect(page.get_by_test_id("retry-failed")).to_be_disabled()
            row = db.rows("SELECT status, attempts FROM outboxemail WHERE id = :i", i=failed_id)
            assert row == [{"status": "queued", "attempts": 0}]
            events = db.audit_since(start, "outbox.retry_failed")
            assert len(events) == 1 and events[0]["actor_type"] == "merchant"
            assert events[0]["after"]["count"] == retryable
            assert failed_id in events[0]["after"]["ids"]
        elif not db.scalar(
            "SELECT COUNT(*) FROM outboxemail WHERE merchant_id = :m AND status = 'failed'",
            m=merchant_id,
        ):
            expect(page.get_by_text("No messages match this filter.")).to_be_visible()
            fits(page, width)
            page.screenshot(path=screenshot_dir / f"merchant-mailbox-{width}.png", full_page=True)
        else:
            fits(page, width)
            page.screenshot(path=screenshot_dir / f"merchant-mailbox-{width}.png", full_page=True)


# --- preview as customer -------------------------------------------------------------------------


def test_preview_as_customer_opens_the_portal_in_a_new_tab(
    running_app, page_at, db, staff_admin, screenshot_dir
):
    app = running_app
    merchant_id = merchant(db)["id"]
    real_customers = {
        r["id"] for r in db.rows("SELECT id FROM customer WHERE email != :p", p=PREVIEW_EMAIL)
    }
    cheapest = db.rows(
        "SELECT pl.name FROM price pr JOIN plan pl ON pl.id = pr.plan_id"
        " JOIN merchant m ON m.id = pr.merchant_id"
        " WHERE pr.merchant_id = :m AND pr.active AND pl.active AND pr.interval = 'month'"
        " AND pr.currency = m.default_currency ORDER BY pr.amount, pr.id LIMIT 1",
        m=merchant_id,
    )[0]
    start = db.max_audit_id()
    for width in WIDTHS:
        page = staff_page(page_at, app, staff_admin, width)
        staff_sid = cookie_in(page.context, STAFF_COOKIE)["value"]
        page.get_by_role("link", name="Portal settings").click()
        expect(page.get_by_role("heading", name="Preview as customer")).to_be_visible()
        with page.context.expect_page() as opened:
            page.get_by_test_id("preview-as-customer").click()
        preview = opened.value
        preview.wait_for_load_state()
        assert "/auth/verify?token=" in preview.url
        remember_secret("link_token", token_of(preview.url))
        expect(preview.get_by_text(f"Continue as {PREVIEW_EMAIL}")).to_be_visible()
        expect(page.get_by_test_id("preview-opened")).to_be_visible()
        assert "token=" not in page.content()  # the one-time link is not on the dashboard
        fits(page, width)
        page.screenshot(path=screenshot_dir / f"merchant-preview-button-{width}.png")

        preview.set_viewport_size({"width": width, "height": 900})
        preview.get_by_role("button", name="Sign in").click()
        preview.wait_for_url(re.compile(r"/portal/?$"))
        expect(preview.get_by_test_id("greeting")).to_have_text("Hello, Preview customer")
        preview.screenshot(
            path=screenshot_dir / f"merchant-preview-portal-{width}.png", full_page=True
        )
        # A demo customer's portal: one subscription, on the cheapest monthly plan.
        preview.goto(f"{app.base_url}/subscriptions")
        subscription_cards = preview.get_by_test_id("subscription")
        expect(subscription_cards).to_have_count(1)
        expect(subscription_cards.first).to_contain_text(cheapest["name"])
        fits(preview, width)
        preview.screenshot(
            path=screenshot_dir / f"merchant-preview-subscriptions-{width}.png", full_page=True
        )

        # The new tab holds a customer session for the stand-in, never for a real customer.
        cookie = remember_secret("session_id", cookie_in(preview.context)["value"])
        assert cookie != staff_sid
        session = db.session_row(cookie)
        stand_in = db.rows(
            "SELECT id, email, merchant_id FROM customer WHERE id = :c", c=session["customer_id"]
        )[0]
        assert session["role"] == "customer"
        assert (stand_in["email"], stand_in["merchant_id"]) == (PREVIEW_EMAIL, merchant_id)
        assert stand_in["id"] not in real_customers

    # One stand-in for both previews; its creation and each link are audited as the staff's.
    assert db.scalar("SELECT COUNT(*) FROM customer WHERE email = :p", p=PREVIEW_EMAIL) == 1
    # One test card and one subscription, made at the first preview only.
    for table in ("subscription", "paymentmethod"):
        assert (
            db.scalar(f"SELECT COUNT(*) FROM {table} WHERE customer_id = :c", c=stand_in["id"]) == 1
        )
    made = db.audit_since(start, "subscription.create")
    assert [(e["actor_type"], e["customer_id"]) for e in made] == [("merchant", stand_in["id"])]
    created = db.audit_since(start, "portal_preview.customer_created")
    links = db.audit_since(start, "portal_link.create")
    assert [(e["actor_type"], e["customer_id"]) for e in created] == [("merchant", stand_in["id"])]
    assert [(e["actor_type"], e["customer_id"]) for e in links] == [
        ("merchant", stand_in["id"])
    ] * 2

    # The dashboard neither lists nor counts the stand-in.
    page = staff_page(page_at, app, staff_admin, 1280)
    shown = db.scalar(
        "SELECT COUNT(*) FROM customer WHERE merchant_id = :m AND email != :p",
        m=merchant_id,
        p=PREVIEW_EMAIL,
    )
    card = page.locator(".rt-Card").filter(has=page.get_by_text("Customers", exact=True))
    expect(card).to_contain_text(str(shown))
    page.goto(f"{app.base_url}/merchant/customers")
    page.get_by_role("textbox", name="Search customers").fill("preview")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("0 customers")).to_be_visible()


def test_preview_leaves_the_dashboard_signed_in(running_app, page_at, db, staff_admin):
    """Staff and customers have separate cookies: redeeming the preview link in the new tab
    signs the stand-in in next to the staff session, not instead of it, and each "Sign out"
    ends only its own side."""
    app = running_app
    page = staff_page(page_at, app, staff_admin, 1280)
    staff_sid = cookie_in(page.context, STAFF_COOKIE)["value"]
    page.get_by_role("link", name="Portal settings").click()
    expect(page.get_by_text("You stay signed in to the dashboard.", exact=False)).to_be_visible()
    with page.context.expect_page() as opened:
        page.get_by_test_id("preview-as-customer").click()
    preview = opened.value
    preview.wait_for_load_state()
    remember_secret("link_token", token_of(preview.url))
    preview.get_by_role("button", name="Sign in").click()
    preview.wait_for_url(re.compile(r"/portal/?$"))
    expect(preview.get_by_test_id("greeting")).to_have_text("Hello, Preview customer")

    # Both cookies now, the staff one untouched; each names a session of its own role.
    customer_sid = remember_secret("session_id", cookie_in(page.context)["value"])
    assert cookie_in(page.context, STAFF_COOKIE)["value"] == staff_sid != customer_sid
    assert db.session_row(staff_sid)["role"] == "staff"
    assert db.session_row(customer_sid)["role"] == "customer"
    assert db.session_row(staff_sid)["revoked_at"] is None

    # The dashboard tab still works: on its open socket, and after a full reload.
    page.get_by_role("link", name="Overview", exact=True).click()
    page.wait_for_url(re.compile(r"/merchant/?$"))
    expect(page.get_by_test_id("merchant-heading")).to_have_text("Acme Cloud dashboard")
    page.reload()
    expect(page.get_by_test_id("merchant-heading")).to_have_text("Acme Cloud dashboard")
    expect(page.get_by_text(f"Signed in as {staff_admin.email}")).to_be_visible()
    assert re.search(r"/merchant/?$", page.url), page.url
    # And so does the portal tab.
    preview.reload()
    expect(preview.get_by_test_id("greeting")).to_have_text("Hello, Preview customer")

    # Signing out of the dashboard leaves the portal tab signed in …
    page.locator("form[action='/auth/staff/logout'] button").click()
    page.wait_for_url(re.compile(r"/merchant/login/?\?reason=signed_out"))
    assert cookie_in(page.context, STAFF_COOKIE) is None
    assert cookie_in(page.context)["value"] == customer_sid
    assert db.session_row(staff_sid)["revoked_at"] is not None
    assert db.session_row(customer_sid)["revoked_at"] is None
    preview.reload()
    expect(preview.get_by_test_id("greeting")).to_have_text("Hello, Preview customer")

    # … and signing out of the portal ends the customer session only.
    preview.locator("form[action='/auth/logout'] button").click()
    preview.wait_for_url(re.compile(r"/login/?\?reason=signed_out"))
    assert cookie_in(page.context) is None
    assert db.session_row(customer_sid)["revoked_at"] is not None
    page.goto(f"{app.base_url}/merchant")
    page.wait_for_url(re.compile(r"/merchant/login/?\?reason=missing"))
    expect(page.get_by_test_id("merchant-heading")).to_have_count(0)
