"""What the dev mailbox page shows: the latest outbox messages, unsealed. Only
`state/dev_mailbox.py` calls it, after `portal_app.dev_mailbox` admitted the connection."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from portal_app import formatting
from portal_app.db import read_scope
from portal_app.models import OutboxEmail
from portal_app.services import sealing


@dataclass
class MailRow:
    id: str = ""
    to: str = ""  # read as message["to"] in the page: `.to` is a Var method
    subject: str = ""
    body: str = ""
    kind: str = ""
    status: str = ""
    when: str = ""


def latest(limit: int = 30) -> list[MailRow]:
    """The newest `limit` messages, in their own read-only unit of work (a public page)."""
    with read_scope() as session:
        rows = session.exec(select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(limit))
        return [
            MailRow(
                id=str(row.id),
                to=row.to_address,
                subject=row.subject,
                body=sealing.unseal(row.body),
                kind=row.kind,
                status=row.status,
                when=formatting.iso_minute_utc(row.created_at),
            )
            for row in rows
        ]
