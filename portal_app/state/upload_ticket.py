"""The single-use ticket every staff upload carries.

Uploads come over Reflex's upload endpoint, which runs the handler with the headers of the last
socket event of the client token the request names, not the upload request's own. So an upload
must also carry the ticket this state handed to the signed-in page over its socket: a client
that only knows the token has never seen it (connecting with the token wipes the state, ticket
included). Mixed into the catalog's file upload and the customer import."""

from __future__ import annotations

import hmac
import secrets

import reflex as rx

from portal_app.services.errors import PortalError
from portal_app.state.guard import current

EXPIRED = "This upload form has expired. Reload the page and try again."


class UploadTicketMixin(rx.State, mixin=True):
    upload_ticket: str = ""
    _upload_ticket: str = ""
    _ticket_session: int = 0

    def _new_ticket(self) -> None:
        self._upload_ticket = self.upload_ticket = secrets.token_urlsafe(24)
        self._ticket_session = current().session_row_id

    def _use_ticket(self, ticket, refusal: type[PortalError]) -> None:
        """Spend the ticket (whatever happens next, a new one is handed out) or raise
        `refusal(EXPIRED)` when `ticket` is not the one this session was given."""
        expected, bound = self._upload_ticket, self._ticket_session
        self._new_ticket()
        if (
            not isinstance(ticket, str)
            or not expected
            or not hmac.compare_digest(ticket.encode(), expected.encode())
            or bound != current().session_row_id
        ):
            raise refusal(EXPIRED)
