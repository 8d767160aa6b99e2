"""The dev mailbox: the outbox shown in the browser so the demo works without a mail server.
Off unless PORTAL_DEV_MAILBOX=1 (it shows sign-in links: never enable it in production)."""

from __future__ import annotations

import asyncio
import os

import reflex as rx
from sqlmodel import select

from portal_app.db import read_scope
from portal_app.models import OutboxEmail
from portal_app.services import sealing


def dev_mailbox_enabled() -> bool:
    return os.environ.get("PORTAL_DEV_MAILBOX") == "1"


class MailboxState(rx.State):
    enabled: bool = False
    messages: list[dict[str, str]] = []

    @rx.event
    async def load(self):
        """Public only in development (see module docstring); refuses when not enabled."""
        self.enabled = dev_mailbox_enabled()
        self.messages = await asyncio.to_thread(_latest) if self.enabled else []


def _latest(limit: int = 30) -> list[dict[str, str]]:
    with read_scope() as session:
        rows = session.exec(select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(limit))
        return [
            {
                "id": str(row.id),
                "to": row.to_address,
                "subject": row.subject,
                "body": sealing.unseal(row.body),
                "kind": row.kind,
                "status": row.status,
                "when": row.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            }
            for row in rows
        ]
