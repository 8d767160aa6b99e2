"""Query shapes several services share: how many rows match, and a customer's own row by an id
that came from a browser. (One page of rows with its total: `paging.rows_and_total`.)"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.services.errors import NotFound

Row = TypeVar("Row")


def count_rows(session: Session, model: Any, *where: Any) -> int:
    """How many rows of `model` match `where` (one COUNT statement)."""
    return session.exec(select(sa.func.count()).select_from(model).where(*where)).one()


def find_for_customer(
    session: Session, model: type[Row], customer_id: int, row_id: int
) -> Row | None:
    """The row with this id if it is the customer's; someone else's id finds nothing."""
    return session.exec(
        select(model).where(model.id == row_id, model.customer_id == customer_id)
    ).first()


def get_for_customer(
    session: Session, model: type[Row], customer_id: int, row_id: int, what: str
) -> Row:
    """The customer's own row; someone else's id is "not found", like a missing one."""
    row = find_for_customer(session, model, customer_id, row_id)
    if row is None:
        raise NotFound(f"{what} not found.")
    return row
