"""Staff views of money and mail: invoices (open, overdue, paid, void, all) with what is
outstanding, payments, the outbox with delivery status, and "preview as customer". Thin: every
handler is staff-only, validates what the browser sent and calls the services; rows are copied
into plain strings."""

from __future__ import annotations

import reflex as rx

from portal_app.db import session_scope
from portal_app.services import portal_preview
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import CLOCK, PrivateState, current, guarded


class PortalPreviewState(PrivateState):
    """Settings → Customer Portal's "Preview as customer". The one-time link goes straight to
    the browser in the event that opens the new tab; it is never kept in state."""

    opened: bool = False

    @rx.event
    @guarded("staff", staff_role="support")
    def open_preview(self):
        who = current()
        with session_scope() as session:
            link = portal_preview.issue_preview_link(
                session, CLOCK, configured_gateway(), merchant_id=who.merchant_id, actor=who.actor
            )
        self.opened = True
        opened = rx.redirect(link.url, is_external=True)
        return [opened, rx.toast.info(link.note)] if link.note else opened
