"""The merchant's view of the audit trail: filtered, paginated, exported as CSV that spreadsheet
programs cannot execute (cells starting with = + - @ are escaped)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from portal_app.models import AuditEvent
from portal_app.services.paging import rows_and_total

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # "customer:12", "merchant:3", "system", or a type alone
    action: str = ""  # prefix, e.g. "subscription." or "auth.sign_in"
    customer_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _query(merchant_id: int, filters: AuditFilter):
    query = select(AuditEvent).where(AuditEvent.merchant_id == merchant_id)
    if filters.actor:
        kind, _, ident = filters.actor.partition(":")
        query = query.where(AuditEvent.actor_type == kind)
        if ident:
            query = query.where(AuditEvent.actor_id == ident)
    if filters.action:
        query = query.where(AuditEvent.action.startswith(filters.action, autoescape=True))
    if filters.customer_id is not None:
        query = query.where(AuditEvent.customer_id == filters.customer_id)
    if filters.since is not None:
        query = query.where(AuditEvent.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.created_at < filters.until)
    return query


def page(
    session: Session, merchant_id: int, filters: AuditFilter, page_number: int, size: int = 50
) -> tuple[list[AuditEvent], int]:
    query = _query(merchant_id, filters)
    return rows_and_total(
        session, query, AuditEvent.seq.desc(), skip=(page_number - 1) * size, limit=size
    )


def safe_cell(value) -> str:
    """Prefix a quote so a spreadsheet shows the text instead of evaluating it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


CSV_COLUMNS = [
    "seq",
    "created_at",
    "actor_type",
    "actor_id",
    "customer_id",
    "action",
    "target_type",
    "target_id",
    "result",
    "ip",
    "user_agent",
    "before",
    "after",
    "hash",
]


def export_csv(
    session: Session, merchant_id: int, filters: AuditFilter, limit: int = 100_000
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rows = session.exec(_query(merchant_id, filters).order_by(AuditEvent.seq).limit(limit))
    for event in rows:
        values = {
            **{column: getattr(event, column) for column in CSV_COLUMNS},
            "created_at": event.created_at.isoformat(),
            "before": json.dumps(event.before, sort_keys=True) if event.before else "",
            "after": json.dumps(event.after, sort_keys=True) if event.after else "",
        }
        writer.writerow([safe_cell(values[column]) for column in CSV_COLUMNS])
    return buffer.getvalue()
