"""What a staff member's role allows, as the dashboard shows it: the header names the role, and
a role that can't use a control doesn't see it (or sees it disabled, for the settings values).
The server check is what counts (tests/unit/test_staff_roles.py); here: a demoted admin's next
Save is refused with a toast, and the page then hides the button without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, new_owner, sign_in_staff
from tests.browser.test_portal_flows import new_page, open_page, toast

pytestmark = pytest.mark.browser

SETTINGS = ("/merchant/settings/portal", "Settings → Customer Portal")


def _member(app: RunningApp, db, role: str) -> tuple[str, str]:
    """A member of `role`: create-admin makes an owner, then the role an owner would set."""
    email, password = new_owner(app, role, "Member-")
    assert db.execute("UPDATE staffuser SET role = :r WHERE email = :e", r=role, e=email) == 1
    return email, password


def _signed_in(page_at, app: RunningApp, email: str, password: str):
    page = new_page(page_at)
    sign_in_staff(page, app, email, password)
    return page


def test_a_viewer_sees_everything_and_no_write_control(page_at, running_app, db):
    page = _signed_in(page_at, running_app, *_member(running_app, db, "viewer"))
    open_page(page, running_app, *SETTINGS)
    expect(page.get_by_test_id("staff-role")).to_have_text("Role: Viewer")
    expect(page.get_by_test_id("staff-role-summary")).to_contain_text("change nothing")
    expect(page.get_by_test_id("read-only-note")).to_contain_text("needs Admin or Owner")
    expect(page.get_by_test_id("setting-subscriptions.pause").locator("input")).to_be_disabled()
    for hidden in ("save-settings", "apply-preset", "preview-as-customer"):
        expect(page.get_by_test_id(hidden)).to_have_count(0)
    expect(page.locator("[data-testid^=preset-]")).to_have_count(0)

    open_page(page, running_app, "/merchant/catalog", "Catalog")
    expect(page.get_by_test_id("read-only-note")).to_be_visible()
    for hidden in ("create-product", "create-plan", "create-offer", "upload-file"):
        expect(page.get_by_test_id(hidden)).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile(r"^(Edit|Archive|Prices)"))).to_have_count(0)

    open_page(page, running_app, "/merchant/audit", "Audit log")
    expect(page.get_by_test_id("export-csv")).to_have_count(0)
    open_page(page, running_app, "/merchant/mailbox", "Mailbox")
    expect(page.get_by_test_id("retry-failed")).to_have_count(0)
    open_page(page, running_app, "/merchant/billing", "Billing clock")
    expect(page.get_by_role("button", name="Run the billing clock now")).to_have_count(0)
    page.close()


def test_support_may_preview_but_not_save(page_at, running_app, db):
    page = _signed_in(page_at, running_app, *_member(running_app, db, "support"))
    open_page(page, running_app, *SETTINGS)
    expect(page.get_by_test_id("staff-role")).to_have_text("Role: Support")
    expect(page.get_by_test_id("preview-as-customer")).to_be_visible()
    expect(page.get_by_test_id("save-settings")).to_have_count(0)
    page.close()


def test_an_admin_demoted_mid_page_is_refused_and_the_page_follows(page_at, running_app, db):
    email, password = _member(running_app, db, "admin")
    page = _signed_in(page_at, running_app, email, password)
    open_page(page, running_app, *SETTINGS)
    expect(page.get_by_test_id("staff-role")).to_have_text("Role: Admin")
    save = page.get_by_test_id("save-settings")
    expect(save).to_be_visible()
    open_page(page, running_app, "/merchant/audit", "Audit log")
    expect(page.get_by_test_id("export-csv")).to_be_visible()
    open_page(page, running_app, *SETTINGS)

    db.execute("UPDATE staffuser SET role = 'viewer' WHERE email = :e", e=email)
    save.click()  # the page still shows the button: the server decides
    expect(toast(page, "Your role (Viewer) can't do this; it needs Admin.")).to_be_visible()
    expect(save).to_have_count(0)
    expect(page.get_by_test_id("staff-role")).to_have_text("Role: Viewer")
    page.close()
