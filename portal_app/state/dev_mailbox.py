"""The dev mailbox: the outbox shown in the browser so the demo works without a mail server.
Off unless PORTAL_DEV_MAILBOX=1, and even then it answers only a direct connection from this
machine (portal_app.dev_mailbox): it shows sign-in links, so it must never be a way in."""

from __future__ import annotations

import asyncio
import logging
import time

import reflex as rx

from portal_app import dev_mailbox
from portal_app.services import dev_mailbox_view
from portal_app.services.dev_mailbox_view import MailRow

log = logging.getLogger(__name__)
_WARN_EVERY = 60.0  # seconds: a refused visitor cannot flood the log
_last_warning = [float("-inf")]


class MailboxState(rx.State):
    enabled: bool = False
    # This connection may read it: from this machine, straight to the server, through no proxy.
    local: bool = False
    messages: list[MailRow] = []

    @rx.event
    async def load(self):
        """Public only in development and only to a direct local connection (see module
        docstring); anyone else gets no messages."""
        self.enabled = dev_mailbox.enabled()
        headers = self.router.headers.raw_headers
        client_ip = self.router.session.client_ip
        self.local = self.enabled and dev_mailbox.direct_local_connection(headers, client_ip)
        if self.enabled and not self.local and _may_warn():
            log.warning(
                "dev mailbox refused a connection that is not a direct local one (client %s, "
                "proxy headers: %s)",
                client_ip or "?",
                ", ".join(dev_mailbox.forwarding_headers(headers)) or "none",
            )
        self.messages = await asyncio.to_thread(dev_mailbox_view.latest) if self.local else []


def _may_warn() -> bool:
    now = time.monotonic()
    if now - _last_warning[0] < _WARN_EVERY:
        return False
    _last_warning[0] = now
    return True
