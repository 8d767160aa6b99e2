"""Settings → Customer Portal's "Preview as customer" (staff, support and up)."""

from __future__ import annotations

import reflex as rx

from portal_app.services import portal_preview
from portal_app.state.guard import PrivateState, guarded, write


class PortalPreviewState(PrivateState):
    """Settings → Customer Portal's "Preview as customer". The one-time link goes straight to
    the browser in the event that opens the new tab; it is never kept in state."""

    opened: bool = False

    @rx.event
    @guarded("staff", staff_role="support")
    def open_preview(self):
        link = write(portal_preview.issue_preview_link)
        self.opened = True
        opened = rx.redirect(link.url, is_external=True)
        return [opened, rx.toast.info(link.note)] if link.note else opened
