"""The REST API's front doors in the dashboard, clicked through: an owner creates a scoped API key
on Developers (the secret shown once), the key works against /api/v1 and shows its last use,
then is revoked behind a confirmation and refused at once; Customers → Import checks a CSV
(problems listed by line, nothing written) and imports a clean one; a plan's entitlements
edited in the catalog show on the pricing page. Also the Developers page at 375 px."""

from __future__ import annotations

import json
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import http_request, new_owner, remember_secret, sign_in_staff
from tests.browser.test_portal_flows import new_page, open_page, toast

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def owner(running_app) -> tuple[str, str]:
    return new_owner(running_app, "dev-owner", "Owner-")


def _api(app, key: str, path: str) -> int:
    status, _, _ = http_request(
        f"{app.base_url}/api/v1{path}", headers={"Authorization": f"Bearer {key}"}
    )
    return status


def test_create_use_and_revoke_an_api_key(running_app, page_at, db, owner, screenshot_dir):
    app = running_app
    page = new_page(page_at)
    sign_in_staff(page, app, *owner)
    open_page(page, app, "/merchant/developers", "Developers")
    name = f"Backend {secrets.token_hex(3)}"
    page.locator("#key-name").fill(name)
    page.locator("#scope-customers").select_option("write")
    page.locator("#scope-invoices").select_option("none")
    page.get_by_test_id("create-key").click()
    secret = page.get_by_test_id("new-key").inner_text().strip()
    remember_secret("api_key", secret)
    assert secret.startswith("sk_portal_")
    page.get_by_test_id("new-key-done").click()
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    row = page.get_by_test_id("key-row").filter(has_text=name)
    expect(row).to_contain_text("Customers: read and write")
    expect(row).not_to_contain_text("Invoices")
    expect(row).to_contain_text("Never")
    assert secret not in page.content()  # gone from the page once the dialog closed

    assert _api(app, secret, "/customers?limit=1") == 200
    assert _api(app, secret, "/invoices") == 403  # no invoices permission
    open_page(page, app, "/merchant/developers", "Developers")
    expect(row).not_to_contain_text("Never")  # its last use is shown

    row.get_by_test_id("revoke-key").click()
    page.get_by_role("button", name="Cancel").click()  # backing out keeps the key
    assert _api(app, secret, "/customers?limit=1") == 200
    row.get_by_test_id("revoke-key").click()
    page.get_by_test_id("confirm-revoke-key").click()
    expect(toast(page, "Key revoked")).to_be_visible()
    expect(row).to_contain_text("Revoked")
    assert _api(app, secret, "/customers?limit=1") == 401
    page.screenshot(path=str(screenshot_dir / "developers-1280.png"), full_page=True)

    phone = page_at(375, 800)
    sign_in_staff(phone, app, *owner)
    open_page(phone, app, "/merchant/developers", "Developers")
    expect(phone.get_by_test_id("key-row").first).to_be_visible()
    overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a 375px screen"
    phone.screenshot(path=str(screenshot_dir / "developers-375.png"), full_page=True)


def test_import_customers_from_csv(running_app, page_at, db, owner, screenshot_dir):
    app = running_app
    page = new_page(page_at)
    sign_in_staff(page, app, *owner)
    open_page(page, app, "/merchant/customers", "Customers")
    page.get_by_test_id("import-link").click()
    page.get_by_role("heading", name="Import customers", exact=True).wait_for()
    tag = secrets.token_hex(3)
    good = f"imp-{tag}@example.com"
    bad = f"email,name\nnot-an-address,X\n{good},Imported {tag}\n".encode()
    dropzone = page.get_by_test_id("import-dropzone")
    dropzone.locator("input[type=file]").set_input_files(
        files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": bad}]
    )
    page.get_by_test_id("import-check").click()
    expect(page.get_by_test_id("import-problems")).to_contain_text("1 problems")
    expect(page.get_by_test_id("import-problem")).to_contain_text("email is not a valid address")
    expect(page.get_by_test_id("import-run")).to_have_count(0)
    assert db.scalar("SELECT count(*) FROM customer WHERE email = :e", e=good) == 0

    fixed = f"email,name,external_id\n{good},Imported {tag},imp-{tag}\n".encode()
    dropzone.locator("input[type=file]").set_input_files(
        files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": fixed}]
    )
    page.get_by_test_id("import-check").click()
    expect(page.get_by_test_id("import-summary")).to_contain_text("Would import 1 rows")
    page.get_by_test_id("import-run").click()
    expect(page.get_by_test_id("import-summary")).to_contain_text("Imported 1 rows")
    assert db.scalar("SELECT external_id FROM customer WHERE email = :e", e=good) == f"imp-{tag}"
    page.screenshot(path=str(screenshot_dir / "import-1280.png"), full_page=True)


def test_plan_entitlements_edited_in_the_catalog_show_on_pricing(
    running_app, page_at, db, owner, screenshot_dir
):
    app = running_app
    page = new_page(page_at)
    sign_in_staff(page, app, *owner)
    open_page(page, app, "/merchant/catalog", "Catalog")
    page.get_by_role("button", name="Edit plan Business").click()
    dialog = page.get_by_test_id("catalog-editor")
    field = dialog.locator("textarea[name=entitlements]")
    expect(field).to_have_value("projects: 1000\ncli_downloads: true\nsso: true")
    field.fill("projects: 1000\ncli_downloads: true\nsso: true\nseats: 50")
    dialog.get_by_test_id("save-editor").click()
    expect(toast(page, 'Plan "Business" saved.')).to_be_visible()
    stored = db.scalar("SELECT entitlements FROM plan WHERE name = 'Business'")
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored["seats"] == 50

    pricing = new_page(page_at)
    pricing.goto(f"{app.base_url}/")
    card = pricing.get_by_test_id("plan-entitlements").filter(has_text="Seats: 50")
    expect(card).to_have_text("Projects: 1000 · CLI downloads · SSO · Seats: 50")
