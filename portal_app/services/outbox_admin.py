"""The merchant's outbox as staff see it (the mailbox of a portal without an SMTP server): what was
queued, sent or failed, and a retry for the failed ones.

Bodies that carry a sign-in or email-change link are sign-in secrets: they are never read out of
the database here, for listing or for showing; staff see "sealed" instead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import OutboxEmail
from portal_app.services import audit, mailer, sealing
from portal_app.services.errors import NotFound, PortalError
from portal_app.services.paging import Page, clamp_page, offset, page_count
from portal_app.services.queries import count_rows

PAGE_SIZE = 20
OUTBOX_FILTERS = ("all", "queued", "sent", "failed")
SEALED_TEXT = "sealed"


class OutboxError(PortalError):
    code = "outbox_error"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    to_address: str
    kind: str
    subject: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    sent_at: datetime | None
    sealed: bool


def _sealed_expression():
    """True for rows whose body is (or was) a sign-in secret, decided in SQL so the body of such
    a row never leaves the database."""
    return sa.or_(
        OutboxEmail.kind.in_(sorted(mailer.SEALED_KINDS)),
        OutboxEmail.body.startswith(sealing.PREFIX, autoescape=True),
    )


_COLUMNS = (
    OutboxEmail.id,
    OutboxEmail.to_address,
    OutboxEmail.kind,
    OutboxEmail.subject,
    OutboxEmail.status,
    OutboxEmail.attempts,
    OutboxEmail.last_error,
    OutboxEmail.created_at,
    OutboxEmail.sent_at,
)


def _row(r, sealed: bool) -> OutboxRow:
    return OutboxRow(
        id=r.id,
        to_address=r.to_address,
        kind=r.kind,
        subject=r.subject,
        status=r.status,
        attempts=r.attempts,
        last_error=r.last_error or "",
        created_at=r.created_at,
        sent_at=r.sent_at,
        sealed=bool(sealed),
    )


def list_outbox(
    session: Session, merchant_id: int, *, status: str = "all", page: int = 1, size: int = PAGE_SIZE
) -> Page:
    """One page of the merchant's outbox, newest first; no bodies."""
    if status not in OUTBOX_FILTERS:
        raise OutboxError(f"Unknown mailbox filter {status!r}.")
    conditions = [OutboxEmail.merchant_id == merchant_id]
    if status != "all":
        conditions.append(OutboxEmail.status == status)
    total = count_rows(session, OutboxEmail, *conditions)
    shown = clamp_page(page, total, size)
    found = session.exec(
        select(*_COLUMNS, _sealed_expression().label("sealed"))
        .where(*conditions)
        .order_by(OutboxEmail.id.desc())
        .offset(offset(shown, size))
        .limit(size)
    ).all()
    rows = [_row(r, r.sealed) for r in found]
    return Page(rows=rows, total=total, page=shown, pages=page_count(total, size))


def status_counts(session: Session, merchant_id: int) -> dict[str, int]:
    """How many messages of the merchant are queued, sent and failed (one grouped statement)."""
    found = session.exec(
        select(OutboxEmail.status, sa.func.count())
        .where(OutboxEmail.merchant_id == merchant_id)
        .group_by(OutboxEmail.status)
    ).all()
    counts = {"queued": 0, "sent": 0, "failed": 0}
    counts.update({status: int(n) for status, n in found})
    return counts


def message(session: Session, merchant_id: int, email_id: int) -> tuple[OutboxRow, str]:
    """One message of this merchant and its body; a sealed message's body is `SEALED_TEXT` and is
    not read from the database at all."""
    found = session.exec(
        select(*_COLUMNS, _sealed_expression().label("sealed")).where(
            OutboxEmail.id == int(email_id), OutboxEmail.merchant_id == merchant_id
        )
    ).first()
    if found is None:
        raise NotFound("Message not found.")
    row = _row(found, found.sealed)
    if row.sealed:
        return row, SEALED_TEXT
    body = session.exec(select(OutboxEmail.body).where(OutboxEmail.id == row.id)).one()
    if sealing.is_sealed(body):  # belt and braces: the SQL test above already said no
        return row, SEALED_TEXT
    return row, body


def retry_failed(session: Session, clock: Clock, *, merchant_id: int, actor: audit.Actor) -> int:
    """Queue the merchant's failed messages again, with a fresh set of delivery attempts; returns
    how many. Sign-in and email-change links are not retried: they expired long ago (the customer
    asks for a new one). Audited; nothing to retry is a refusal that changes nothing."""
    retried = [
        row[0]
        for row in session.execute(
            sa.update(OutboxEmail)
            .where(
                OutboxEmail.merchant_id == merchant_id,
                OutboxEmail.status == "failed",
                sa.not_(_sealed_expression()),
            )
            .values(status="queued", attempts=0)
            .returning(OutboxEmail.id)
        ).all()
    ]
    if not retried:
        raise OutboxError("There are no failed messages to retry.", code="nothing_to_retry")
    retried.sort()
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="outbox.retry_failed",
        target_type="outbox",
        target_id=merchant_id,
        after={"count": len(retried), "ids": retried[:100]},
    )
    return len(retried)


def retryable_count(session: Session, merchant_id: int) -> int:
    """Failed messages that `retry_failed` would queue again."""
    return count_rows(
        session,
        OutboxEmail,
        OutboxEmail.merchant_id == merchant_id,
        OutboxEmail.status == "failed",
        sa.not_(_sealed_expression()),
    )
