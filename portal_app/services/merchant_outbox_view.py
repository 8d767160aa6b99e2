"""Staff → Mailbox, read for the screen: one page of the outbox as display rows with the counts
per delivery status, and one opened message (a sealed one's body is never read)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.services import outbox_admin
from portal_app.services.paging import Page


class OutboxListRow(TypedDict):
    id: str
    to: str
    kind: str  # words: "magic link"
    subject: str
    status: str
    attempts: str
    error: str
    created: str
    sent: str
    sealed: str  # "yes" | ""


class OpenedMessage(TypedDict, total=False):  # {} while no message is open
    id: str
    to: str
    subject: str
    kind: str
    status: str
    sealed: str  # "yes" | ""
    body: str  # outbox_admin.SEALED_TEXT for a sealed message


@dataclass(frozen=True)
class OutboxView:
    found: Page  # rows: OutboxListRow
    counts: dict[str, int]  # per delivery status
    retryable: int  # failed messages "Retry failed" would queue again


def _kind(kind: str) -> str:
    return kind.replace("_", " ")


def _sealed(sealed: bool) -> str:
    return "yes" if sealed else ""


def _row(r: outbox_admin.OutboxRow) -> OutboxListRow:
    return {
        "id": str(r.id),
        "to": r.to_address,
        "kind": _kind(r.kind),
        "subject": r.subject,
        "status": r.status,
        "attempts": str(r.attempts),
        "error": r.last_error,
        "created": formatting.iso_minute(r.created_at),
        "sent": formatting.iso_minute(r.sent_at),
        "sealed": _sealed(r.sealed),
    }


def outbox_page(
    session: Session, clock: Clock, *, merchant_id: int, status: str, page: int
) -> OutboxView:
    found = outbox_admin.list_outbox(session, merchant_id, status=status, page=page)
    return OutboxView(
        found=Page([_row(r) for r in found.rows], found.total, found.page, found.pages),
        counts=outbox_admin.status_counts(session, merchant_id),
        retryable=outbox_admin.retryable_count(session, merchant_id),
    )


def opened_message(
    session: Session, clock: Clock, *, merchant_id: int, email_id: int
) -> OpenedMessage:
    row, body = outbox_admin.message(session, merchant_id, int(email_id))
    return {
        "id": str(row.id),
        "to": row.to_address,
        "subject": row.subject,
        "kind": _kind(row.kind),
        "status": row.status,
        "sealed": _sealed(row.sealed),
        "body": body,
    }
