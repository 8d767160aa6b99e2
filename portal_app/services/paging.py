"""Numbered pages for staff lists: how many pages a count makes, and one page of rows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    rows: list
    total: int  # rows matching the filter, on all pages
    page: int  # the page shown: the one asked for, clamped to 1..pages
    pages: int


def page_count(total: int, size: int) -> int:
    return max(1, -(-total // size))


def clamp_page(page: int, total: int, size: int) -> int:
    """A page number from a browser, brought into 1..pages (an empty list has one page)."""
    return min(max(int(page), 1), page_count(total, size))


def offset(page: int, size: int) -> int:
    return (page - 1) * size
