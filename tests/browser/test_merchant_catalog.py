"""Merchant staff edit the catalog in the browser and customers see the result in the portal: a
new plan with monthly and annual prices among the plan-change choices, a retention offer in the
cancellation flow for its reason, an uploaded file granted to the plan under Downloads. Then a
price change (the subscriber keeps the old price), and the plan archived and the offer turned off
through the page, so later test files see the demo catalog as seeded.

Every step is checked against the server's database. The plan goes in above Business (tier 3), so
switching to it from Pro is an upgrade the demo merchant allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    ROOT,
    STAFF_COOKIE,
    AppDB,
    RunningApp,
    add_session_cookie,
    fresh_client_ip,
    http_request,
    sign_in_staff,
)
from tests.browser.test_portal_flows import make_customer, open_page, start_cancellation, toast

pytestmark = pytest.mark.browser

WIDTH, PHONE = 1280, 375
PLAN = "Scale"
OFFER = "Quality promise"
ASSET = "Scale handbook"
QUALITY = "Quality was lower than expected"
HANDBOOK = b"%PDF-1.4\n% Scale handbook for browser tests\n"


def staff_page(page_at, app: RunningApp, staff_admin, width: int = WIDTH):
    """Staff signed in through the merchant sign-in form, on the dashboard."""
    page = page_at(width, client_ip=fresh_client_ip())
    sign_in_staff(page, app, staff_admin.email, staff_admin.password)
    return page


def catalog_rows(db: AppDB) -> dict:
    plan = db.rows("SELECT * FROM plan WHERE name = :n", n=PLAN)
    offer = db.rows("SELECT * FROM retentionoffer WHERE name = :n", n=OFFER)
    asset = db.rows("SELECT * FROM digitalasset WHERE name = :n", n=ASSET)
    return {"plan": plan, "offer": offer, "asset": asset}


def plan_row(page):
    return page.get_by_test_id("catalog-plan").filter(has_text=PLAN)


def test_staff_catalog_changes_reach_the_portal(
    running_app, page_at, db, staff_admin, sign_in_api, screenshot_dir
):
    app = running_app
    merchant_id = db.scalar("SELECT id FROM merchant WHERE slug = 'acme'")
    audit_start = db.max_audit_id()
    try:
        _scenario(app, page_at, db, staff_admin, sign_in_api, screenshot_dir, merchant_id)
    finally:
        # Whatever happened, later test files get the seeded catalog back.
        db.execute("UPDATE plan SET active = :f WHERE name = :n", f=False, n=PLAN)
        db.execute("UPDATE retentionoffer SET active = :f WHERE name = :n", f=False, n=OFFER)
    staff_events = db.rows(
        "SELECT action FROM auditevent WHERE id > :a AND actor_type = 'merchant' "
        "AND merchant_id = :m ORDER BY id",
        a=audit_start,
        m=merchant_id,
    )
    actions = [row["action"] for row in staff_events]
    for action in (
        "catalog.plan.create",
        "retention_offer.create",
        "asset.create",
        "asset.grants",
        "catalog.price.create",
        "catalog.plan.archive",
        "retention_offer.disable",
    ):
        assert actions.count(action) == 1, (action, actions)


def _scenario(app, page_at, db, staff_admin, sign_in_api, screenshot_dir, merchant_id):
    page = staff_page(page_at, app, staff_admin)
    page.get_by_role("link", name="Catalog").click()
    page.wait_for_url(re.compile(r"/merchant/catalog/?$"))
    page.get_by_role("heading", name="Catalog", exact=True).wait_for()
    # Acme Cloud, and the demo's two one-time products (sticker pack, CLI licence)
    expect(page.get_by_test_id("catalog-product")).to_have_count(3)
    expect(page.get_by_test_id("catalog-plan")).to_have_count(3)  # Starter, Pro, Business
    expect(page.get_by_test_id("catalog-offer")).to_have_count(2)

    # --- a plan with monthly and annual prices; a bad amount first --------------------------
    page.locator("#plan-name").fill(PLAN)
    page.locator("#plan-features").fill("50 projects\nPhone support")
    page.locator("#plan-monthly").fill("59.999")
    page.locator("#plan-annual").fill("590.00")
    page.get_by_test_id("create-plan").click()
    problem = page.get_by_role("alert").filter(has_text="Monthly price: enter an amount like")
    expect(problem).to_have_text("Monthly price: enter an amount like $29.00.")
    assert catalog_rows(db)["plan"] == []
    page.locator("#plan-monthly").fill("59.00")
    page.get_by_test_id("create-plan").click()
    expect(toast(page, f'Plan "{PLAN}" created.')).to_be_visible()
    row = plan_row(page)
    expect(row).to_contain_text("$59.00/month · $590.00/year")
    expect(row).to_contain_text("50 projects · Phone support")
    [plan] = catalog_rows(db)["plan"]
    assert (plan["tier"], plan["active"], plan["merchant_id"]) == (3, 1, merchant_id)
    prices = db.rows("SELECT * FROM price WHERE plan_id = :p ORDER BY interval", p=plan["id"])
    assert [(p["interval"], p["amount"], p["currency"], p["active"]) for p in prices] == [
        ("month", 5900, "USD", 1),
        ("year", 59000, "USD", 1),
    ]
    monthly_price_id = prices[0]["id"]

    # --- a retention offer for one reason ---------------------------------------------------
    page.locator("#offer-name").fill(OFFER)
    page.locator("#offer-percent-off").fill("40")
    page.locator("#offer-duration-cycles").fill("2")
    page.locator("#offer-reason-low_quality").check()
    page.get_by_test_id("create-offer").click()
    expect(toast(page, f'Offer "{OFFER}" created.')).to_be_visible()
    offer_row = page.get_by_test_id("catalog-offer").filter(has_text=OFFER)
    expect(offer_row).to_contain_text("40% off 2 renewals")
    expect(offer_row).to_contain_text(QUALITY)
    route = page.get_by_test_id("offer-route").filter(has_text=QUALITY)
    expect(route).to_contain_text(OFFER)
    [offer] = catalog_rows(db)["offer"]
    assert (offer["percent_off"], offer["duration_cycles"], offer["active"]) == (40, 2, 1)

    # --- a file: uploaded privately, then granted to the plan -------------------------------
    dropzone = page.get_by_test_id("asset-dropzone")
    dropzone.locator("input[type=file]").set_input_files(
        files=[{"name": "scale-handbook.pdf", "mimeType": "application/pdf", "buffer": HANDBOOK}]
    )
    expect(page.get_by_test_id("selected-file")).to_have_text("Selected: scale-handbook.pdf")
    page.get_by_test_id("upload-file").click()
    staged = page.get_by_test_id("staged-file")
    expect(staged).to_contain_text("Uploaded scale-handbook.pdf")
    page.locator("#file-name").fill(ASSET)
    page.get_by_test_id("create-file").click()
    expect(toast(page, f'"{ASSET}" created.')).to_be_visible()
    asset_row = page.get_by_test_id("catalog-asset").filter(has_text=ASSET)
    expect(asset_row).to_contain_text("Not granted to any plan")
    [asset] = catalog_rows(db)["asset"]
    stored = Path(app.env["PORTAL_FILES_DIR"]) / asset["file_path"]
    assert stored.read_bytes() == HANDBOOK and asset["file_size"] == len(HANDBOOK)
    assert not list((ROOT / "uploaded_files").rglob("scale-handbook*"))
    status, _, _ = http_request(f"{app.base_url}/_upload/scale-handbook.pdf")
    assert status == 404  # nothing of it under Reflex's public upload folder

    page.get_by_role("button", name=f"Plans that grant {ASSET}").click()
    dialog = page.get_by_test_id("catalog-editor")
    expect(dialog).to_contain_text(f'Plans that grant "{ASSET}"')
    dialog.get_by_label(f"Acme Cloud · {PLAN}").check()
    dialog.get_by_test_id("save-editor").click()
    expect(toast(page, "Granted to 1 plan.")).to_be_visible()
    expect(asset_row).to_contain_text(PLAN)
    grants = db.rows("SELECT plan_id FROM assetgrant WHERE asset_id = :a", a=asset["id"])
    assert [g["plan_id"] for g in grants] == [plan["id"]]

    page.screenshot(path=str(screenshot_dir / f"merchant-catalog-{WIDTH}.png"), full_page=True)
    phone = page_at(PHONE)
    cookie = next(c for c in page.context.cookies() if c["name"] == STAFF_COOKIE)
    add_session_cookie(phone.context, app, cookie["value"], STAFF_COOKIE)
    open_page(phone, app, "/merchant/catalog", "Catalog")
    expect(plan_row(phone)).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE
    phone.screenshot(path=str(screenshot_dir / f"merchant-catalog-{PHONE}.png"), full_page=True)

    # --- a customer on Pro sees the plan, switches to it, gets the file ---------------------
    who = make_customer(app, "catalog")
    sub_id = who["subscription_id"]
    customer = page_at(WIDTH)
    add_session_cookie(customer.context, app, sign_in_api(who["email"]))
    open_page(customer, app, "/subscriptions", "Subscriptions")
    customer.get_by_role("button", name="Change plan").click()
    options = customer.get_by_test_id("plan-option")
    expect(options.filter(has_text=f"{PLAN} (monthly)")).to_contain_text("$59.00/month")
    expect(options.filter(has_text=f"{PLAN} (annual)")).to_contain_text("$590.00/year")
    options.filter(has_text=f"{PLAN} (monthly)").click()
    now = customer.get_by_test_id("timing-option").filter(has_text="Now, with proration")
    if now.count():
        now.click()
    expect(customer.get_by_test_id("preview-summary")).to_be_visible()
    customer.get_by_test_id("confirm-change").click()
    expect(toast(customer, "Your plan has changed.")).to_be_visible()
    sub = db.rows("SELECT * FROM subscription WHERE id = :s", s=sub_id)[0]
    assert (sub["price_id"], sub["plan_id"]) == (monthly_price_id, plan["id"])

    open_page(customer, app, "/downloads", "Downloads")
    expect(customer.get_by_text(ASSET)).to_be_visible()
    with customer.expect_download() as info:
        customer.get_by_test_id("download-file").click()
    download = info.value
    assert download.suggested_filename == "scale-handbook.pdf"
    with open(download.path(), "rb") as file:
        assert file.read() == HANDBOOK
    customer.screenshot(path=str(screenshot_dir / f"catalog-customer-downloads-{WIDTH}.png"))

    # --- the offer in the cancellation flow, for its reason ---------------------------------
    start_cancellation(customer, app, sub_id, QUALITY)
    expect(customer.get_by_role("heading", name="Before you go")).to_be_visible()
    discount = customer.get_by_text(re.compile(r"^40% off your next 2 renewals: "))
    expect(discount).to_have_text(
        "40% off your next 2 renewals: $35.40 instead of $59.00 per month, $47.20 saved in "
        "total. Then $59.00 per month."
    )
    customer.screenshot(
        path=str(screenshot_dir / f"catalog-customer-offer-{WIDTH}.png"), full_page=True
    )
    customer.get_by_role("button", name="Keep my subscription").click()
    attempt = db.rows(
        "SELECT reason, outcome FROM cancellationattempt WHERE subscription_id = :s", s=sub_id
    )
    assert [a["reason"] for a in attempt] == ["low_quality"]

    # --- a new monthly price: the subscriber keeps theirs -----------------------------------
    page.get_by_role("button", name=f"Prices of {PLAN}").click()
    dialog = page.get_by_test_id("catalog-editor")
    expect(dialog.get_by_test_id("editor-price")).to_have_count(2)
    dialog.locator("#price-interval").select_option("month")
    dialog.locator("#price-amount").fill("69.00")
    dialog.get_by_test_id("save-editor").click()
    expect(toast(page, "New price $69.00/month on sale.")).to_be_visible()
    old = dialog.get_by_test_id("editor-price").filter(has_text="$59.00/month")
    expect(old).to_contain_text("1 subscriber")
    expect(old).to_contain_text("Archived")
    page.screenshot(path=str(screenshot_dir / f"merchant-catalog-prices-{WIDTH}.png"))
    dialog.get_by_role("button", name="Close").click()
    expect(row).to_contain_text("$69.00/month · $590.00/year")
    expect(row).to_contain_text("Earlier prices: $59.00/month kept by 1 subscriber")
    old_price = db.rows("SELECT * FROM price WHERE id = :p", p=monthly_price_id)[0]
    assert (old_price["amount"], old_price["active"]) == (5900, 0)
    assert db.scalar("SELECT price_id FROM subscription WHERE id = :s", s=sub_id) == (
        monthly_price_id
    )

    # --- archive the plan (after a confirmation) and turn the offer off ---------------------
    row.get_by_role("button", name=f"Archive plan {PLAN}").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text(f'Archive plan "{PLAN}"?')
    expect(confirm).to_contain_text("1 current subscriber keeps it at their price.")
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_have_count(0)
    assert db.scalar("SELECT active FROM plan WHERE id = :p", p=plan["id"]) == 1
    row.get_by_role("button", name=f"Archive plan {PLAN}").click()
    page.get_by_test_id("confirm-archive").click()
    expect(toast(page, "Archived.")).to_be_visible()
    expect(row).to_contain_text("Archived")
    assert db.scalar("SELECT active FROM plan WHERE id = :p", p=plan["id"]) == 0

    offer_row.get_by_role("button", name=f"Turn off offer {OFFER}").click()
    expect(toast(page, f'Offer "{OFFER}" is off')).to_be_visible()
    expect(route).to_contain_text("No discount")
    assert db.scalar("SELECT active FROM retentionoffer WHERE id = :o", o=offer["id"]) == 0

    # The subscriber still has the plan, at the price they signed up for; others can't choose it.
    open_page(customer, app, "/subscriptions", "Subscriptions")
    card = customer.get_by_test_id("subscription")
    expect(card).to_contain_text(f"{PLAN} (monthly)")
    expect(card).to_contain_text("$59.00/month")
    other = make_customer(app, "catalog-other")
    other_page = page_at(WIDTH)
    add_session_cookie(other_page.context, app, sign_in_api(other["email"]))
    open_page(other_page, app, "/subscriptions", "Subscriptions")
    other_page.get_by_role("button", name="Change plan").click()
    expect(other_page.get_by_test_id("plan-option").first).to_be_visible()
    expect(other_page.get_by_test_id("plan-option").filter(has_text=PLAN)).to_have_count(0)
