"""`portal_app.formatting` writes dates, times and prices exactly as the copies it replaces did.
Each case is checked against literal expected text and, while an old copy can still be
imported, against that copy's own output (so the two cannot drift apart during the move)."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from portal_app import formatting
from portal_app.money import format_money

MORNING = datetime(2026, 3, 5, 9, 7, 4, tzinfo=UTC)
EVENING = datetime(2026, 12, 31, 23, 59, 59)  # naive, as SQLite returns it
SAMPLES = [MORNING, EVENING, date(2026, 1, 2), None]


def _old_copy(*places: str):
    """The first old copy that still imports ("module:function"), else None."""
    for place in places:
        module_name, name = place.split(":")
        try:
            module = importlib.import_module(module_name)
        except Exception:  # moved, renamed or mid-refactor: the literal checks still run
            continue
        found = getattr(module, name, None)
        if callable(found):
            return found
    return None


# (the new function, expected text for each of SAMPLES, the old copies before and after
# their modules were renamed)
CASES = {
    "date": (
        formatting.date,
        ["05 Mar 2026", "31 Dec 2026", "02 Jan 2026", ""],
        [
            "portal_app.state.subs:_date",
            "portal_app.state.subscriptions:_date",
            "portal_app.state.billing_docs:_date",
            "portal_app.state.invoices:_date",
            "portal_app.state.portal:_date",
            "portal_app.state.portal_home:_date",
        ],
    ),
    "iso_date": (
        formatting.iso_date,
        ["2026-03-05", "2026-12-31", "2026-01-02", ""],
        [
            "portal_app.state.merchant_billing_views:_day",
            "portal_app.state.merchant_invoices:_day",
            "portal_app.state.merchant_customers:_when",
        ],
    ),
    "iso_minute": (
        formatting.iso_minute,
        ["2026-03-05 09:07", "2026-12-31 23:59", "2026-01-02 00:00", ""],
        [
            "portal_app.state.merchant_billing_views:_minute",
            "portal_app.state.merchant_payments:_minute",
            "portal_app.state.merchant_mailbox:_minute",
        ],
    ),
    "iso_minute_utc": (
        formatting.iso_minute_utc,
        ["2026-03-05 09:07 UTC", "2026-12-31 23:59 UTC", "2026-01-02 00:00 UTC", ""],
        ["portal_app.state.merchant_staff:_when"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_dates_read_as_before(name):
    new, expected, places = CASES[name]
    for value, text in zip(SAMPLES, expected, strict=True):
        assert new(value) == text, (name, value)
    old = _old_copy(*places)
    if old is not None:
        for value in SAMPLES:
            assert new(value) == old(value), (name, old.__module__, value)


def test_inline_formats_read_as_before():
    """The copies written inline (`x.strftime(...)` where the value is never None)."""
    assert formatting.datetime_(MORNING) == MORNING.strftime("%d %b %Y %H:%M UTC")
    assert formatting.datetime_(MORNING) == "05 Mar 2026 09:07 UTC"
    assert formatting.datetime_(None) == ""
    assert formatting.iso_second(MORNING) == MORNING.strftime("%Y-%m-%d %H:%M:%S")
    assert formatting.iso_second(EVENING) == "2026-12-31 23:59:59"
    assert formatting.iso_minute(MORNING) == MORNING.strftime("%Y-%m-%d %H:%M")
    assert formatting.iso_minute_utc(MORNING) == MORNING.strftime("%Y-%m-%d %H:%M UTC")
    assert formatting.month_key(MORNING) == "2026-03" == MORNING.strftime("%Y-%m")
    assert formatting.month(MORNING) == "Mar 2026" == MORNING.strftime("%b %Y")
    assert formatting.date(MORNING) == MORNING.strftime("%d %b %Y")


def test_analytics_months_read_as_before():
    from portal_app.services.analytics import Month

    month = Month(start=MORNING, end=EVENING, as_of=EVENING)
    assert formatting.month_key(month.start) == month.key
    assert formatting.month(month.start) == month.label


@pytest.mark.parametrize(
    ("amount", "currency", "interval", "expected"),
    [
        (900, "EUR", "month", "€9.00/month"),
        (9000, "USD", "year", "$90.00/year"),
        (123456, "USD", None, "$1,234.56"),
        (500, "JPY", "month", "¥500/month"),
        (0, "GBP", "", "£0.00"),
        (-250, "EUR", None, "-€2.50"),
    ],
)
def test_prices_read_as_before(amount, currency, interval, expected):
    assert formatting.price(amount, currency, interval) == expected
    inline = (
        f"{format_money(amount, currency)}/{interval}"
        if interval
        else format_money(amount, currency)
    )
    assert formatting.price(amount, currency, interval) == inline


def test_a_price_row_reads_as_catalog_admin_labels_it():
    from portal_app.services.catalog_admin import PriceRow

    price = SimpleNamespace(amount=2900, currency="EUR", interval="year")
    assert formatting.price_of(price) == "€29.00/year"
    assert formatting.price_of(price) == PriceRow(price=price, subscribers=0).label


def test_sums_read_as_the_staff_invoice_totals():
    sums = {"USD": 120000, "EUR": 8000}
    assert formatting.sums(sums) == "€80.00 · $1,200.00"
    assert formatting.sums({}) == ""
    old = _old_copy(
        "portal_app.state.merchant_billing_views:_sums", "portal_app.state.merchant_invoices:_sums"
    )
    if old is not None:
        assert formatting.sums(sums) == old(sums)
