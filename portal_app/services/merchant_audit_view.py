"""Staff → Audit log, read for the screen: one page of events as display rows, the chain's
status since the checkpoint, the refusals of the last day, one step of the full check, and the
CSV export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.services import audit, audit_log, refusals
from portal_app.services.paging import Page, page_count

PAGE_SIZE = 50  # audit_log.page's


class AuditRow(TypedDict):
    seq: str
    when: str
    actor: str  # "customer:12", or the type alone
    action: str
    target: str
    result: str
    ip: str


class RefusedRow(TypedDict):
    minute: str
    action: str
    rule: str
    key: str  # a hint of the refused key, never the key
    count: str


@dataclass(frozen=True)
class AuditView:
    found: Page  # rows: AuditRow; `page` as asked
    chain: audit.ChainReport  # verified from the checkpoint, not saved (see `save_checkpoint`)
    refused: list[RefusedRow]


def audit_page(
    session: Session, clock: Clock, *, merchant_id: int, filters: audit_log.AuditFilter, page: int
) -> AuditView:
    events, total = audit_log.page(session, merchant_id, filters, page, PAGE_SIZE)
    rows: list[AuditRow] = [
        {
            "seq": str(e.seq),
            "when": formatting.iso_second(e.created_at),
            "actor": f"{e.actor_type}:{e.actor_id}" if e.actor_id else e.actor_type,
            "action": e.action,
            "target": f"{e.target_type} {e.target_id}".strip(),
            "result": e.result,
            "ip": e.ip,
        }
        for e in events
    ]
    refused: list[RefusedRow] = [
        {
            "minute": formatting.iso_minute(t.minute),
            "action": t.action,
            "rule": t.rule,
            "key": t.key_hint,
            "count": str(t.count),
        }
        for t in refusals.recent(session, clock, merchant_id, limit=50)
    ]
    return AuditView(
        found=Page(rows, total, page, page_count(total, PAGE_SIZE)),
        chain=audit.verify_recent(session, clock, merchant_id, save=False),
        refused=refused,
    )


def chain_step(
    session: Session, clock: Clock, *, merchant_id: int, after_seq: int, prev_hash: str, limit: int
) -> audit.ChainReport:
    """One step of the full check: `limit` events after `after_seq` (whose hash is `prev_hash`)."""
    return audit.verify_segment(session, merchant_id, after_seq, prev_hash, limit)


def export_csv(
    session: Session, clock: Clock, *, merchant_id: int, filters: audit_log.AuditFilter
) -> str:
    return audit_log.export_csv(session, merchant_id, filters)
