"""The merchant's analytics page, signed in as staff: every figure it shows (MRR per month, new
and churned, pauses and resumes, cancellation reasons, the retention funnel and save rate) equals
the same figure worked out here from the running app's database: a forward replay of the raw
subscription rows and audit events (tests/unit/test_analytics.py's oracle) and plain counts of
the cancellation-flow rows. Screenshots at 1280 and 375 px.

Three fresh customers go through the cancellation flow first (through the services, in a
subprocess with the server's environment), so every section has data: one cancels at period end
(too expensive) and one pauses instead (unused), both after being shown the offers, and one leaves
without answering."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from portal_app.money import format_money
from portal_app.services.features import DEFAULT_REASON_LABELS
from tests.browser.conftest import (
    AppDB,
    RunningApp,
    add_session_cookie,
    app_python,
    fresh_client_ip,
    sign_in_staff,
    sqlite_utc,
)
from tests.browser.test_portal_flows import make_customer, wait_loaded
from tests.unit.test_analytics import oracle

pytestmark = pytest.mark.browser

_FLOWS = r"""
import json
import sys
from datetime import timedelta

from portal_app.clock import SystemClock
from portal_app.db import session_scope
from portal_app.services import audit, cancellation

clock = SystemClock()
for step in json.loads(sys.argv[1]):
    with session_scope() as session:
        customer_id = step["customer_id"]
        ids = {"customer_id": customer_id, "actor": audit.Actor.customer(customer_id)}
        attempt = cancellation.start(session, clock, subscription_id=step["subscription_id"], **ids)
        ids["attempt_id"] = attempt.id
        if step["reason"]:
            cancellation.answer_survey(session, clock, reason=step["reason"], **ids)
        if step["end"] != "abandon":  # as the page does: the offers, noted as shown
            found = cancellation.offers(
                session, clock, customer_id=customer_id, attempt_id=attempt.id
            )
            cancellation.record_offers_shown(session, clock, offers=found, **ids)
        if step["end"] == "cancel":
            cancellation.confirm_cancel(session, clock, at_period_end=True, **ids)
        elif step["end"] == "pause":
            resume_at = clock.now() + timedelta(days=20)
            cancellation.accept_pause(session, clock, resume_at=resume_at, **ids)
        else:
            cancellation.abandon(session, clock, **ids)
print("done")
"""


def _through_the_cancellation_flow(app: RunningApp) -> None:
    steps = []
    for tag, plan, reason, end in (
        ("analytics-annual", ("Pro", "year"), "too_expensive", "cancel"),
        ("analytics-pause", ("Pro", "month"), "unused", "pause"),
        ("analytics-leave", ("Business", "month"), "", "abandon"),
    ):
        who = make_customer(app, tag, plan=plan)
        steps.append(
            {
                "customer_id": who["customer_id"],
                "subscription_id": who["subscription_id"],
                "reason": reason,
                "end": end,
            }
        )
    done = app_python(app, ["-c", _FLOWS, json.dumps(steps)])
    assert done.returncode == 0, done.stderr[-3000:]


# --- the figures, worked out from the database ---------------------------------------------------


def _months(now: datetime) -> list[tuple[str, str, datetime]]:
    """(key, label, first instant) of the 12 calendar months up to `now`, oldest first."""
    found, year, month = [], now.year, now.month
    for _ in range(12):
        start = datetime(year, month, 1, tzinfo=UTC)
        found.append((start.strftime("%Y-%m"), start.strftime("%b %Y"), start))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return found[::-1]


def _percent(part: int, whole: int) -> str:
    if whole == 0:
        return "n/a"
    value = (Decimal(part * 100) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
    return f"{value}%"


def _expected(db: AppDB) -> dict:
    merchant = db.rows("SELECT id, clock_offset_seconds FROM merchant WHERE slug = 'acme'")[0]
    now = datetime.now(UTC) + timedelta(seconds=merchant["clock_offset_seconds"])
    months = _months(now)
    keys = [key for key, _, _ in months]
    with Session(db.engine) as session:
        replay = oracle(session, merchant["id"], keys, now)
    assert list(replay["mrr"]) == ["USD"], "the demo merchant bills in USD only"
    since = sqlite_utc(months[0][2])
    attempts = db.rows(
        "SELECT reason, outcome, offers_shown FROM cancellationattempt WHERE merchant_id = :m "
        "AND created_at >= :since",
        m=merchant["id"],
        since=since,
    )
    saved = sum(a["outcome"].startswith("saved_") for a in attempts)
    canceled = sum(a["outcome"] == "canceled" for a in attempts)
    by_reason: dict[str, list] = {}
    for a in attempts:
        by_reason.setdefault(a["reason"], []).append(a["outcome"])
    reasons = {}
    for reason, outcomes in by_reason.items():
        kept = sum(o.startswith("saved_") for o in outcomes)
        lost = outcomes.count("canceled")
        label = DEFAULT_REASON_LABELS.get(reason, reason) if reason else "No reason given"
        reasons[label] = [str(len(outcomes)), str(lost), str(kept), _percent(kept, kept + lost)]
    return {
        "months": [label for _, label, _ in months],
        "mrr": [format_money(amount, "USD") for amount in replay["mrr"]["USD"]],
        "subscriptions": [str(n) for n in replay["subscriptions"]["USD"]],
        "new": [str(n) for n in replay["new"]],
        "churned": [str(n) for n in replay["churned"]],
        "pauses": [str(n) for n in replay["pauses"]],
        "resumes": [str(n) for n in replay["resumes"]],
        "funnel": {
            "Started": len(attempts),
            "Answered the survey": sum(bool(a["reason"]) for a in attempts),
            "Shown an offer": sum(bool(a["offers_shown"]) for a in attempts),
            "Accepted an offer": saved,
            "Cancelled": canceled,
            "Left, kept the plan": sum(a["outcome"] == "abandoned" for a in attempts),
            "Not finished": sum(a["outcome"] == "started" for a in attempts),
        },
        "save_rate": _percent(saved, saved + canceled),
        "reasons": reasons,
    }


# --- the page -----------------------------------------------------------------------------------


def _texts(page, testid: str) -> list[str]:
    return [t.strip() for t in page.get_by_test_id(testid).all_inner_texts()]


def _row_headers(page, row_testid: str) -> list[str]:
    return [t.strip() for t in page.get_by_test_id(row_testid).locator("th").all_inner_texts()]


def _shown(page) -> dict:
    reasons = {}
    for row in page.get_by_test_id("reason-row").all():
        cells = [t.strip() for t in row.locator("td").all_inner_texts()]
        reasons[row.locator("th").inner_text().strip()] = cells
    return {
        "months": _row_headers(page, "mrr-row"),
        "mrr": _texts(page, "mrr-amount"),
        "subscriptions": _texts(page, "mrr-subscriptions"),
        "new": _texts(page, "movement-new"),
        "churned": _texts(page, "movement-churned"),
        "pauses": _texts(page, "pause-count"),
        "resumes": _texts(page, "resume-count"),
        "funnel": dict(
            zip(_texts(page, "funnel-stage"), map(int, _texts(page, "funnel-count")), strict=True)
        ),
        "save_rate": page.get_by_test_id("save-rate").inner_text().strip(),
        "reasons": reasons,
    }


def _open_analytics(page, app: RunningApp, staff) -> None:
    """Staff sign-in form, then the dashboard's "Analytics" link."""
    sign_in_staff(page, app, staff.email, staff.password)
    page.get_by_role("link", name="Analytics", exact=True).click()
    page.wait_for_url(re.compile(r"/merchant/analytics/?$"))
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    page.get_by_test_id("section-mrr").wait_for()
    wait_loaded(page)


def test_analytics_show_the_figures_of_the_database(
    running_app, page_at, db, staff_admin, screenshot_dir
):
    app = running_app
    _through_the_cancellation_flow(app)
    page = page_at(1280, client_ip=fresh_client_ip())
    _open_analytics(page, app, staff_admin)
    shown = _shown(page)
    expected = _expected(db)
    assert shown == expected

    # What the three flows above must have put there, whatever else the database holds.
    assert expected["funnel"]["Started"] >= 3 and expected["pauses"][-1] != "0"
    assert expected["funnel"]["Shown an offer"] >= 2
    assert _texts(page, "funnel-stage")[:3] == ["Started", "Answered the survey", "Shown an offer"]
    for label in ("It's too expensive", "I don't use it enough", "No reason given"):
        assert label in shown["reasons"]
    expect(page.get_by_test_id("summary-mrr")).to_have_text(expected["mrr"][-1])
    expect(page.get_by_test_id("summary-save-rate")).to_have_text(expected["save_rate"])
    expect(page.get_by_test_id("summary-new")).to_have_text(expected["new"][-1])
    expect(page.get_by_test_id("summary-churned")).to_have_text(expected["churned"][-1])
    # Each section with data draws its chart (an SVG from recharts) next to the table.
    for section in ("mrr", "movements", "reasons", "funnel", "pauses"):
        chart = page.get_by_test_id(f"section-{section}").locator("svg.recharts-surface")
        expect(chart.first).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "merchant-analytics-1280.png"), full_page=True)

    page.set_viewport_size({"width": 375, "height": 900})
    page.reload()
    page.get_by_test_id("section-mrr").wait_for()
    wait_loaded(page)
    expect(page.get_by_test_id("save-rate")).to_have_text(expected["save_rate"])
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 375 px"
    chart = page.get_by_test_id("section-mrr").locator("svg.recharts-surface").first
    assert chart.bounding_box()["width"] <= 375
    page.screenshot(path=str(screenshot_dir / "merchant-analytics-375.png"), full_page=True)


def test_customers_cannot_open_analytics(running_app, page_at, sign_in_api):
    """A customer session is not a staff session: the page sends them to the staff sign-in."""
    app = running_app
    who = make_customer(app, "analytics-nosy", plan=None)
    page = page_at(1280, client_ip=fresh_client_ip())
    add_session_cookie(page.context, app, sign_in_api(who["email"]))
    page.goto(f"{app.base_url}/merchant/analytics")
    page.wait_for_url(re.compile(r"/merchant/login"))
    expect(page.get_by_test_id("section-mrr")).to_have_count(0)
