"""Click through the customer portal's pages on demo data as a signed-in customer, at desktop
and phone width, with screenshots of every page."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.browser

PAGES = [
    ("/portal", "Overview"),
    ("/subscriptions", "Subscriptions"),
    ("/invoices", "Invoices"),
    ("/payment-methods", "Payment methods"),
    ("/payment-methods/new", "Add a card"),
    ("/downloads", "Downloads"),
    ("/profile", "Profile"),
    ("/notifications", "Notifications"),
    ("/subscriptions/6/cancel", "Cancel subscription"),
]


def _magic_link(page, base_url: str, email: str) -> str:
    page.goto(f"{base_url}/login?next=/portal")
    page.fill("#email", email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_text("a sign-in link is on its way").wait_for()
    page.goto(f"{base_url}/dev/mailbox")
    body = page.get_by_test_id("mail-body").filter(has_text="sign in").first.inner_text()
    return re.search(r"https?://\S+/auth/verify\?token=\S+", body).group(0)


def _sign_in(page, base_url: str, email: str) -> None:
    link = _magic_link(page, base_url, email)
    page.goto(link.replace(re.match(r"https?://[^/]+", link).group(0), base_url))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/portal.*"), wait_until="commit")
    page.get_by_test_id("greeting").wait_for()


@pytest.mark.parametrize("width", [1280, 375])
def test_every_portal_page_renders(page_at, running_app, screenshot_dir, width):
    page = page_at(width)
    _sign_in(page, running_app.base_url, "maria@example.com")
    for path, heading in PAGES:
        page.goto(f"{running_app.base_url}{path}")
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        try:
            page.wait_for_function("() => !document.querySelector('[aria-label=\"Loading\"]')")
        except Exception as exc:
            raise AssertionError(f"{path} kept loading: {page.inner_text('body')[:400]}") from exc
        name = path.strip("/").replace("/", "-") or "home"
        page.screenshot(path=str(screenshot_dir / f"portal-{name}-{width}.png"), full_page=True)
        # at phone width nothing is wider than the screen
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width + 1, f"{path} is {overflow}px wide at {width}px"


def test_subscription_change_shows_an_itemised_preview(page_at, running_app):
    page = page_at(1280)
    _sign_in(page, running_app.base_url, "zoe@example.com")
    page.goto(f"{running_app.base_url}/subscriptions")
    page.get_by_role("button", name="Change plan").click()
    page.get_by_test_id("plan-option").filter(has_text="Business (monthly)").click()
    summary = page.get_by_test_id("preview-summary")
    summary.wait_for()
    assert re.search(
        r"You will be charged \$[\d.,]+ today; from \d\d \w+ \d{4} \$99\.00/month",
        summary.inner_text(),
    )
    engine = sa.create_engine(running_app.db_url)
    with engine.connect() as conn:
        before = conn.execute(sa.text("select count(*) from invoice")).scalar()
    page.get_by_test_id("confirm-change").click()
    page.get_by_text("Your plan has changed.").wait_for()
    with engine.connect() as conn:
        after = conn.execute(sa.text("select count(*) from invoice")).scalar()
        plan = conn.execute(
            sa.text(
                "select p.name from subscription s join plan p on p.id = s.plan_id "
                "join customer c on c.id = s.customer_id where c.email = 'zoe@example.com'"
            )
        ).scalar()
    assert after == before + 1 and plan == "Business"
