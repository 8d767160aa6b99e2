"""A support member's one-time portal link, end to end: shown once on the customer page (gone
after a reload), the portal it opens carries the staff-acting banner and no email controls."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import (
    STAFF_COOKIE,
    add_session_cookie,
    redeem_over_http,
    staff_sign_in_over_http,
)


def test_support_link_is_shown_once_and_opens_a_marked_session(
    page_at, running_app, staff_admin, db
):
    app = running_app
    customer_id = db.customer_id("nikos@example.com")
    staff = page_at(1280)
    add_session_cookie(
        staff.context, app, staff_sign_in_over_http(app, staff_admin), name=STAFF_COOKIE
    )
    staff.goto(f"{app.base_url}/merchant/customers/{customer_id}")
    staff.get_by_test_id("create-portal-link").click()
    field = staff.get_by_test_id("portal-link")
    expect(field).to_be_visible()
    staff.wait_for_function(
        "document.getElementById('portal-link').value.includes('token=')", timeout=20_000
    )
    link = field.input_value()
    staff.reload()
    staff.get_by_test_id("create-portal-link").wait_for()
    expect(staff.get_by_test_id("portal-link")).to_be_hidden()
    assert staff.get_by_test_id("portal-link").input_value() == ""
    assert link.split("token=")[1] not in staff.content()

    portal = page_at(375)
    add_session_cookie(portal.context, app, redeem_over_http(app, link))
    portal.goto(f"{app.base_url}/profile")
    expect(portal.get_by_test_id("staff-acting-banner")).to_contain_text(staff_admin.email)
    expect(portal.get_by_test_id("email-locked")).to_be_visible()
    expect(portal.get_by_placeholder("you@example.com")).to_have_count(0)
