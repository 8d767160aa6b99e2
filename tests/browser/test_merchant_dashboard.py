"""The merchant dashboard clicked through by signed-in staff: every business-type preset (its diff
before applying, its settings after, what disappears from the customer portal), an invalid
setting (clear error, nothing saved), the audit-log CSV export (formula cells escaped) and the
demo merchant's test clock (renewals happen, the report matches the database).

Moving the demo merchant's clock forward changes every demo customer's billing period, which the
other test files do not expect: the clock test runs against a server of its own (`own_app`, a
freshly migrated and seeded database), so the files may run in any order."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import AppDB, fresh_client_ip, new_owner, sign_in_staff
from tests.browser.test_portal_flows import (
    effective,
    make_customer,
    new_page,
    open_page,
    portal_page,
    preview_preset,
    restore_saas,
    settings_document,
    settings_restored,
    staff_settings_page,
    toast,
    wait_for_settings,
)

pytestmark = pytest.mark.browser

PRESET_LABELS = {
    "saas": "SaaS",
    "ecommerce": "E-commerce",
    "membership": "Membership",
    "b2b": "B2B",
}


@pytest.fixture(scope="module")
def admin(running_app) -> tuple[str, str]:
    """One staff account for this file, made by the CLI."""
    return new_owner(running_app, "dashboard-admin", "Dashboard-")


@pytest.fixture(scope="module")
def own_db(own_app) -> Iterator[AppDB]:
    handle = AppDB(own_app)
    yield handle
    handle.engine.dispose()


@pytest.fixture(scope="module")
def own_admin(own_app) -> tuple[str, str]:
    """A staff account on the clock test's own server."""
    return new_owner(own_app, "clock-admin", "Clock-")


def _shown(value) -> str:
    """How the diff table shows a setting's value (independent of the page's own code)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _expected_diff(current: dict, preset: dict) -> list[list[str]]:
    from portal_app.services.features import FEATURES

    return [
        [FEATURES[key].label, _shown(current[key]), _shown(value)]
        for key, value in preset.items()
        if current[key] != value
    ]


# What each preset switches off (or on) and where a customer would see it on /subscriptions.
PRESET_EFFECTS = {
    "saas": {"Pause": False, "Change plan": True},
    "ecommerce": {"Pause": True, "Change plan": False},
    "membership": {"Pause": True, "Change plan": True},
    "b2b": {"Pause": False, "Change plan": True, "Cancel subscription": False},
}


def test_each_preset_shows_its_diff_then_shapes_the_portal(
    running_app, page_at, db, admin, screenshot_dir
):
    from portal_app.services.features import PRESETS

    app = running_app
    who = make_customer(app, "presets")
    assert set(PRESET_EFFECTS) == set(PRESETS)
    with settings_restored(db) as (merchant_id, snapshot):
        staff = staff_settings_page(page_at, app, admin)
        customer = portal_page(page_at, app, who["email"], "/subscriptions", "Subscriptions")
        for key in ("membership", "saas", "b2b", "ecommerce"):
            before = effective(settings_document(db, merchant_id))
            expected = _expected_diff(before, PRESETS[key])
            rows = preview_preset(staff, key)
            expect(rows).to_have_count(len(expected))
            shown = [row.get_by_role("cell").all_inner_texts() for row in rows.all()]
            assert sorted(shown) == sorted(expected), key
            # Nothing is saved by looking at the diff.
            assert effective(settings_document(db, merchant_id)) == before
            if key == "b2b":
                staff.screenshot(
                    path=str(screenshot_dir / "dashboard-preset-diff-1280.png"), full_page=True
                )

            staff.get_by_test_id("apply-preset").click()
            expect(toast(staff, f"{PRESET_LABELS[key]} preset applied.").first).to_be_visible()
            after = wait_for_settings(db, merchant_id, PRESETS[key])
            unchanged = {k: v for k, v in before.items() if k not in PRESETS[key]}
            assert {k: after[k] for k in unchanged} == unchanged

            open_page(customer, app, "/subscriptions", "Subscriptions")
            card = customer.get_by_test_id("subscription")
            expect(card).to_have_count(1)
            for label, visible in PRESET_EFFECTS[key].items():
                button = card.get_by_role("button", name=label, exact=True)
                expect(button).to_have_count(1 if visible else 0)
        restore_saas(staff, db, merchant_id, snapshot)


def test_invalid_setting_gets_a_clear_error_and_saves_nothing(running_app, page_at, db, admin):
    app = running_app
    with settings_restored(db) as (merchant_id, _snapshot):
        staff = staff_settings_page(page_at, app, admin)
        before = settings_document(db, merchant_id)
        audit_before = db.max_audit_id()
        field = staff.locator("#setting-security-idle_timeout_minutes")
        field.fill("0")
        # A valid change in the same form is not saved either: saving is all or nothing.
        staff.locator("#setting-subscriptions-pause").set_checked(
            not effective(before)["subscriptions.pause"]
        )
        staff.get_by_test_id("save-settings").click()
        error = staff.get_by_role("alert").filter(has_text="idle")
        expect(error).to_be_visible()
        assert re.search(r"\d", error.inner_text()), "the error names the allowed range"
        staff.wait_for_timeout(500)
        assert settings_document(db, merchant_id) == before
        assert db.audit_since(audit_before, "settings.update") == []


FORMULA_AGENT = '=HYPERLINK("http://evil.example","click")'


def test_audit_log_filter_and_csv_export(running_app, browser, db, admin):
    app = running_app
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        user_agent=FORMULA_AGENT,
        extra_http_headers={"X-Forwarded-For": fresh_client_ip()},
        accept_downloads=True,
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        sign_in_staff(page, app, *admin)
        open_page(page, app, "/merchant/audit", "Audit log")
        expect(page.get_by_test_id("chain-status")).to_contain_text("Audit chain intact (")

        page.locator("input[name=action]").fill("auth.sign_in")
        page.get_by_role("button", name="Filter").click()
        merchant_id = db.scalar("SELECT id FROM merchant WHERE slug = 'acme'")
        expected = db.rows(
            "SELECT seq, actor_type, user_agent FROM auditevent "
            "WHERE merchant_id = :m AND action LIKE 'auth.sign_in%' ORDER BY seq",
            m=merchant_id,
        )
        with page.expect_download() as download_info:
            page.get_by_test_id("export-csv").click()
        download = download_info.value
        assert download.suggested_filename == "audit-log.csv"
        text = Path(download.path()).read_text(encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
    finally:
        context.close()

    # The export holds the filtered events, all of them (not one page), in order.
    assert [int(r["seq"]) for r in rows][: len(expected)] == [e["seq"] for e in expected]
    assert {r["action"] for r in rows} == {"auth.sign_in"}
    mine = [r for r in rows if FORMULA_AGENT in r["user_agent"]]
    assert mine, "this staff sign-in is in the export"
    # A spreadsheet shows the cell as text instead of evaluating it.
    assert all(r["user_agent"] == "'" + FORMULA_AGENT for r in mine)
    assert not [r for r in rows for v in r.values() if v[:1] in ("=", "+", "-", "@")]


def _acme(db: AppDB) -> dict:
    return db.rows("SELECT id, clock_offset_seconds FROM merchant WHERE slug = 'acme'")[0]


def _as_utc(value) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_test_clock_moves_time_and_renews(own_app, page_at, own_db, own_admin, screenshot_dir):
    app, db = own_app, own_db
    merchant = _acme(db)
    renewals_before = db.scalar(
        "SELECT COUNT(*) FROM invoice WHERE merchant_id = :m AND billing_reason = "
        "'subscription_cycle'",
        m=merchant["id"],
    )
    page = new_page(page_at)
    sign_in_staff(page, app, *own_admin)
    open_page(page, app, "/merchant/billing", "Billing clock")
    shown_before = page.get_by_text(re.compile(r"^Merchant time: ")).inner_text()

    page.get_by_test_id("advance-30").click()
    report = page.get_by_test_id("clock-report")
    expect(report).to_be_visible(timeout=120_000)
    page.screenshot(path=str(screenshot_dir / "dashboard-test-clock-1280.png"), full_page=True)
    renewed = int(re.match(r"(\d+) renewals", report.inner_text()).group(1))

    after = _acme(db)
    assert after["clock_offset_seconds"] - merchant["clock_offset_seconds"] == 30 * 86400
    expect(page.get_by_text(re.compile(r"^Merchant time: "))).not_to_have_text(shown_before)
    renewals_after = db.scalar(
        "SELECT COUNT(*) FROM invoice WHERE merchant_id = :m AND billing_reason = "
        "'subscription_cycle'",
        m=merchant["id"],
    )
    assert renewed > 0
    assert renewals_after - renewals_before == renewed
    # Caught up: no billable subscription of the merchant is still due at the merchant's time.
    merchant_now = datetime.now(UTC) + timedelta(seconds=after["clock_offset_seconds"])
    due = [
        row
        for row in db.rows(
            "SELECT id, current_period_end FROM subscription WHERE merchant_id = :m "
            "AND status = 'active' AND cancel_at_period_end = :f",
            m=merchant["id"],
            f=False,
        )
        if _as_utc(row["current_period_end"]) <= merchant_now - timedelta(minutes=5)
    ]
    assert due == [], json.dumps(due, default=str)
