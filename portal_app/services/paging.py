"""Numbered pages: how many pages a count makes, and one page of rows with its total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select


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


def rows_and_total(
    session: Session, query: Any, *order_by: Any, skip: int, limit: int
) -> tuple[list, int]:
    """`limit` rows of `query` in `order_by` order after skipping `skip`, and how many rows the
    query matches in all (two statements)."""
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(*order_by).offset(skip).limit(limit)).all()
    return list(rows), total
