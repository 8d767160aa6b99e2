"""How the portal writes dates, times and prices: one place for every screen, mail and service.

Each function reproduces, character for character, what the copies it replaces produced (the
patterns are named below, one per kind of screen). Every date/time function takes a `datetime`
(or `date`) or None and returns "" for None. Values are written as they are (the app keeps UTC;
the "UTC" suffix is text, nothing is converted). Money amounts are integer minor units, formatted
by `money.format_money`."""

from __future__ import annotations

from datetime import date as _date_type
from datetime import datetime as _datetime_type

from portal_app.money import format_money

# The formats, by name, so a caller that needs the pattern itself (a chart axis) can read it.
DATE = "%d %b %Y"  # 05 Mar 2026: the customer's dates
DATETIME = "%d %b %Y %H:%M UTC"  # 05 Mar 2026 14:07 UTC: "as of", sessions, downloads
ISO_DATE = "%Y-%m-%d"  # 2026-03-05: staff tables
ISO_MINUTE = "%Y-%m-%d %H:%M"  # 2026-03-05 14:07: staff tables
ISO_MINUTE_UTC = "%Y-%m-%d %H:%M UTC"  # 2026-03-05 14:07 UTC: staff list, dev mailbox
ISO_SECOND = "%Y-%m-%d %H:%M:%S"  # 2026-03-05 14:07:09: the audit log
MONTH_KEY = "%Y-%m"  # 2026-03: analytics month keys
MONTH = "%b %Y"  # Mar 2026: analytics month labels


def _written(value: _date_type | _datetime_type | None, pattern: str) -> str:
    return value.strftime(pattern) if value else ""


def date(value: _date_type | _datetime_type | None) -> str:
    """ "05 Mar 2026"; "" for None."""
    return _written(value, DATE)


def datetime_(value: _datetime_type | None) -> str:
    """ "05 Mar 2026 14:07 UTC"; "" for None."""
    return _written(value, DATETIME)


def iso_date(value: _date_type | _datetime_type | None) -> str:
    """ "2026-03-05"; "" for None."""
    return _written(value, ISO_DATE)


def iso_minute(value: _datetime_type | None) -> str:
    """ "2026-03-05 14:07"; "" for None."""
    return _written(value, ISO_MINUTE)


def iso_minute_utc(value: _datetime_type | None) -> str:
    """ "2026-03-05 14:07 UTC"; "" for None."""
    return _written(value, ISO_MINUTE_UTC)


def iso_second(value: _datetime_type | None) -> str:
    """ "2026-03-05 14:07:09"; "" for None."""
    return _written(value, ISO_SECOND)


def month_key(value: _date_type | _datetime_type | None) -> str:
    """ "2026-03"; "" for None."""
    return _written(value, MONTH_KEY)


def month(value: _date_type | _datetime_type | None) -> str:
    """ "Mar 2026"; "" for None."""
    return _written(value, MONTH)


def price(amount: int, currency: str, interval: str | None = None) -> str:
    """ "€9.00", or with an interval "€9.00/month" (the interval as stored: month | year)."""
    money = format_money(amount, currency)
    return f"{money}/{interval}" if interval else money


def price_of(row) -> str:
    """`price` of a row with `amount`, `currency` and `interval` (a `Price`)."""
    return price(row.amount, row.currency, row.interval)


def sums(by_currency: dict[str, int], separator: str = " · ") -> str:
    """Per-currency amounts side by side, in order of currency code ("€80.00 · $1,200.00"); never
    added across currencies. "" for no amounts."""
    return separator.join(
        format_money(amount, currency) for currency, amount in sorted(by_currency.items())
    )
