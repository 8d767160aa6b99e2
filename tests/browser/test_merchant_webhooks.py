"""Webhooks in the dashboard, clicked through against a real local receiver: an owner adds an
endpoint (the secret shown once), sends a test event that the worker's job delivers signed (the
`standardwebhooks` library verifies it), sees the delivery with its code, replays it (same
webhook-id), filters, rotates the secret and deletes the endpoint behind confirmations. Also
the page at 375 px."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from standardwebhooks import Webhook

from tests.browser.conftest import new_owner, portal_cli, remember_secret, sign_in_staff
from tests.browser.test_portal_flows import new_page, open_page, toast
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def owner(running_app) -> tuple[str, str]:
    return new_owner(running_app, "hook-owner", "Owner-")


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def test_add_test_replay_rotate_and_delete_an_endpoint(
    running_app, page_at, owner, receiver, screenshot_dir
):
    app = running_app
    page = new_page(page_at)
    sign_in_staff(page, app, *owner)
    open_page(page, app, "/merchant/webhooks", "Webhooks")
    page.locator("#hook-url").fill(receiver.url)
    page.locator("#hook-description").fill("Test receiver")
    page.get_by_test_id("create-endpoint").click()
    secret = page.get_by_test_id("endpoint-secret").inner_text().strip()
    remember_secret("webhook_secret", secret)
    assert secret.startswith("whsec_")
    page.get_by_test_id("secret-done").click()
    expect(page.get_by_test_id("endpoint-secret")).to_have_count(0)
    row = page.get_by_test_id("endpoint-row").filter(has_text=receiver.url)
    expect(row).to_contain_text("All events")
    expect(row).to_contain_text("Enabled")
    assert secret not in page.content()

    row.get_by_test_id("send-test").click()
    expect(toast(page, "Test event queued")).to_be_visible()
    assert "1 delivered" in portal_cli(app, "deliver-webhooks")
    (got,) = receiver.received
    event = Webhook(secret).verify(got.body, got.headers)
    assert event["type"] == "endpoint.test"

    row.get_by_test_id("show-deliveries").click()
    delivery = page.get_by_test_id("delivery-row").first
    expect(delivery).to_contain_text("endpoint.test")
    expect(delivery).to_contain_text("Succeeded")
    expect(delivery.get_by_test_id("delivery-code")).to_have_text("200")
    delivery.get_by_test_id("replay").click()
    expect(toast(page, "queued again")).to_be_visible()
    assert "1 delivered" in portal_cli(app, "deliver-webhooks")
    assert len(receiver.received) == 2 and receiver.ids()[0] == receiver.ids()[1]
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("delivery-row")).to_have_count(2)
    page.locator("#filter-status").select_option("failed")
    expect(page.get_by_test_id("deliveries-empty")).to_be_visible()
    page.locator("#filter-status").select_option("succeeded")
    expect(page.get_by_test_id("delivery-row")).to_have_count(2)
    page.screenshot(path=str(screenshot_dir / "webhooks-1280.png"), full_page=True)

    row.get_by_test_id("rotate").click()
    page.get_by_test_id("confirm-endpoint").click()
    rotated = page.get_by_test_id("endpoint-secret").inner_text().strip()
    remember_secret("webhook_secret", rotated)
    assert rotated.startswith("whsec_") and rotated != secret
    page.get_by_test_id("secret-done").click()
    row.get_by_test_id("send-test").click()
    expect(toast(page, "Test event queued")).to_be_visible()
    portal_cli(app, "deliver-webhooks")
    last = receiver.received[-1]
    assert Webhook(rotated).verify(last.body, last.headers)["type"] == "endpoint.test"
    assert Webhook(secret).verify(last.body, last.headers)  # the old one signs for 24 h too
    assert json.loads(last.body)["data"]["endpoint_id"]

    phone = page_at(375, 800)
    sign_in_staff(phone, app, *owner)
    open_page(phone, app, "/merchant/webhooks", "Webhooks")
    expect(phone.get_by_test_id("endpoint-row").first).to_be_visible()
    overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a 375px screen"
    phone.screenshot(path=str(screenshot_dir / "webhooks-375.png"), full_page=True)

    row.get_by_test_id("delete-endpoint").click()
    page.get_by_role("button", name="Cancel").click()  # backing out keeps it
    expect(row).to_be_visible()
    row.get_by_test_id("delete-endpoint").click()
    page.get_by_test_id("confirm-endpoint").click()
    expect(toast(page, "Endpoint deleted")).to_be_visible()
    expect(page.get_by_test_id("endpoint-row").filter(has_text=receiver.url)).to_have_count(0)
