"""Staff management clicked through: an owner invites a member from the Staff page, the member
opens the link from the dev mailbox, sets a password and lands in the dashboard (and can sign in
with it later); the link does not work twice. The owner disables the member, and the member's
open dashboard tab is signed out at its next action. Also: the page at 375 px, and a non-owner
sees "Only owners manage staff"."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    RunningApp,
    StaffLogin,
    http_request,
    new_owner,
    remember_secret,
    sign_in_staff,
    staff_cookie_value,
    staff_sign_in_over_http,
)
from tests.browser.test_portal_flows import new_page, open_page, toast

pytestmark = pytest.mark.browser

INVITE_LINK = re.compile(r"https?://[^\s\"'<>]+/auth/staff/invite\?token=([A-Za-z0-9_\-%]+)")


@pytest.fixture(scope="module")
def owner(running_app) -> tuple[str, str]:
    """An owner for this file, made by the CLI (create-admin makes owners)."""
    return new_owner(running_app, "staff-owner", "Owner-")


def _dashboard(page_at, app: RunningApp, email: str, password: str, path: str, heading: str):
    page = new_page(page_at)
    sign_in_staff(page, app, email, password)
    open_page(page, app, path, heading)
    return page


def _invite_link(page, app: RunningApp, email: str) -> str:
    """The link in the newest invitation to `email`, read in the dev mailbox the way the
    developer at the demo reads it (its own context: no proxy headers)."""
    context = page.context.browser.new_context()
    try:
        mailbox = context.new_page()
        mailbox.set_default_timeout(20_000)
        mailbox.goto(f"{app.base_url}/dev/mailbox")
        mail = (
            mailbox.get_by_test_id("mail")
            .filter(has_text="staff_invite")
            .filter(has_text=f"To: {email}")
            .first
        )
        mail.wait_for()
        match = INVITE_LINK.search(mail.get_by_test_id("mail-body").inner_text())
    finally:
        context.close()
    assert match, "the invitation carries no /auth/staff/invite link"
    remember_secret("link_token", match.group(1))
    return match.group(0)


def _row(page, email: str):
    return page.get_by_test_id("staff-row").filter(has_text=email)


def test_invite_accept_sign_in_then_disable_signs_the_open_tab_out(
    running_app, page_at, db, owner, screenshot_dir
):
    app = running_app
    member_email = f"new-member-{secrets.token_hex(3)}@acme.example"
    member_password = remember_secret("password", "Member-" + secrets.token_urlsafe(12))
    staff_page = _dashboard(page_at, app, *owner, "/merchant/staff", "Staff")

    # Invite: a bad address first (clear error, nothing sent), then the real one.
    staff_page.locator("#invite-email").fill("not-an-email@")
    staff_page.locator("#invite-email").evaluate("e => e.setAttribute('type', 'text')")
    staff_page.get_by_test_id("send-invite").click()
    expect(staff_page.get_by_test_id("invite-error")).to_contain_text("valid email")
    staff_page.locator("#invite-email").fill(member_email)
    staff_page.locator("#invite-role").select_option("support")
    staff_page.get_by_test_id("send-invite").click()
    expect(toast(staff_page, f"Invitation sent to {member_email}.").first).to_be_visible()
    expect(_row(staff_page, member_email)).to_contain_text("Invited")
    assert db.scalar("SELECT COUNT(*) FROM staffuser WHERE email = :e", e=member_email) == 0

    # The member opens the link, sets a password and lands in the dashboard.
    link = _invite_link(staff_page, app, member_email)
    member = new_page(page_at)
    member.goto(link)
    expect(member.get_by_role("heading", name=re.compile("^Join "))).to_be_visible()
    member.locator("#invite-password").fill(member_password)
    member.locator("#invite-confirm").fill(member_password + "typo")
    member.get_by_role("button", name="Set password and sign in").click()
    expect(member.get_by_role("alert")).to_contain_text("don't match")
    member.locator("#invite-password").fill(member_password)
    member.locator("#invite-confirm").fill(member_password)
    member.get_by_role("button", name="Set password and sign in").click()
    member.wait_for_url(re.compile(r"/merchant/?$"))
    expect(member.get_by_test_id("merchant-heading")).to_be_visible()
    expect(member.get_by_text(f"Signed in as {member_email}")).to_be_visible()
    member_sid = remember_secret("session_id", staff_cookie_value(member))
    assert db.session_row(member_sid)["revoked_at"] is None
    rows = db.rows("SELECT role, disabled_at FROM staffuser WHERE email = :e", e=member_email)
    assert rows == [{"role": "support", "disabled_at": None}]

    # The link works once: a second use says so and makes no second account.
    again = new_page(page_at)
    again.goto(link)
    expect(again.get_by_role("heading", name="This invitation can't be used")).to_be_visible()
    assert db.scalar("SELECT COUNT(*) FROM staffuser WHERE email = :e", e=member_email) == 1
    # The password they chose signs them in (a second session).
    second_sid = staff_sign_in_over_http(app, StaffLogin(member_email, member_password))

    # A support member is not an owner: the Staff page says so and shows no one.
    member.goto(f"{app.base_url}/merchant/staff")
    expect(member.get_by_test_id("staff-owners-only")).to_be_visible()
    expect(member.get_by_test_id("staff-row")).to_have_count(0)
    member.goto(f"{app.base_url}/merchant")
    expect(member.get_by_test_id("merchant-heading")).to_be_visible()

    # The owner sees the new member, with their two sessions, and disables them.
    open_page(staff_page, app, "/merchant/staff", "Staff")
    row = _row(staff_page, member_email)
    expect(row).to_contain_text("Active")
    expect(row.get_by_test_id("role-select")).to_have_value("support")
    row.get_by_test_id("show-sessions").click()
    expect(staff_page.get_by_test_id("staff-session")).to_have_count(2)
    staff_page.keyboard.press("Escape")
    expect(staff_page.get_by_test_id("sessions-dialog")).to_have_count(0)
    row.get_by_test_id("disable-member").click()
    dialog = staff_page.get_by_role("alertdialog")
    expect(dialog).to_contain_text(f"Disable {member_email}?")
    staff_page.screenshot(path=str(screenshot_dir / "staff-disable-confirm-1280.png"))
    dialog.get_by_test_id("confirm-staff-action").click()
    expect(toast(staff_page, "Disabled; 2 sessions ended.").first).to_be_visible()
    expect(_row(staff_page, member_email)).to_contain_text("Disabled")
    for sid in (member_sid, second_sid):
        assert db.session_row(sid)["revoked_reason"] == "disabled"

    # The member's open tab is signed out at its next action.
    member.get_by_role("navigation", name="Dashboard sections").get_by_role(
        "link", name="Customers"
    ).click()
    member.wait_for_url(re.compile(r"/merchant/login/?\?reason=disabled"))
    # ... and can't sign in again.
    status, headers, _ = http_request(
        f"{app.base_url}/auth/staff/login",
        "POST",
        f"email={member_email}&password={member_password}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": app.base_url},
    )
    assert status == 303 and headers["location"] == ["/merchant/login?error=1"]


def test_staff_page_at_375_px_by_keyboard(running_app, page_at, owner, screenshot_dir):
    app = running_app
    page = page_at(375, 800)
    sign_in_staff(page, app, *owner)
    open_page(page, app, "/merchant/staff", "Staff")
    expect(page.get_by_test_id("staff-row").first).to_be_visible()
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a 375px screen"
    # The invite form by keyboard: type the address, Tab to the role and back, Enter submits.
    page.locator("#invite-email").focus()
    page.keyboard.type(f"kbd-{secrets.token_hex(3)}@acme.example")
    page.keyboard.press("Tab")
    expect(page.locator("#invite-role")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(toast(page, "Invitation sent to kbd-").first).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "staff-375.png"), full_page=True)
