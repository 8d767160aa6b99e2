"""Staff: the customer list (search, pages) and one customer's record, with a portal link."""

from __future__ import annotations

import reflex as rx

from portal_app.services import auth, merchant_customers_view, portal_links
from portal_app.services.merchant_customers_view import CustomerListRow, CustomerRecordView
from portal_app.state import paging
from portal_app.state.guard import PrivateState, current, guarded, read, write
from portal_app.state.paging import PagedList

PORTAL_LINK_FIELD = "portal-link"  # the id of the page's read-only field that shows the link


class MerchantCustomersState(PagedList, PrivateState):
    rows: list[CustomerListRow] = []
    query: str = ""
    record: CustomerRecordView = {}
    # A support link is a credential: it waits in a backend var (never sent as state, never
    # kept), is handed to the browser once by `reveal_portal_link` and forgotten.
    _portal_link: str = ""
    portal_link_note: str = ""  # what the shown link is for; "" while none is shown
    loaded: bool = False

    def _load_page(self) -> None:
        found = read(merchant_customers_view.customer_page, query=self.query, page=self.page)
        self._show_rows(found)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self._portal_link, self.portal_link_note, self.record = "", "", {}
        customer_id = self.router.page.params.get("id", "")
        if customer_id.isdigit():
            self._open(int(customer_id))
        else:
            self.query = ""
            self._first_page()

    @rx.event
    @guarded("staff", staff_role="viewer")
    def search(self, form_data: dict):
        self.query = str(form_data.get("q", ""))[:100]
        self._first_page()

    go_to_page = paging.go_to_page("staff", staff_role="viewer")

    def _open(self, customer_id: int) -> None:
        self.record = read(merchant_customers_view.customer_record, customer_id=customer_id)

    @rx.event
    @guarded("staff", staff_role="support")
    def create_portal_link(self):
        """A one-time link that opens this customer's portal as this staff member acting for
        them (support): banner, audited under the member, no email or sign-in changes."""
        token = write(
            portal_links.issue_support_link,
            customer_id=int(self.record.get("id", 0) or 0),
            acting_staff_id=current().staff_id,
        )
        self._portal_link, self.portal_link_note = token, ""
        return MerchantCustomersState.reveal_portal_link

    @rx.event
    @guarded("staff", staff_role="support")
    def reveal_portal_link(self):
        """Show the new link once, straight into the page's read-only field (an event, not a
        state var), then forget it; a second call has nothing to show."""
        link, self._portal_link = self._portal_link, ""
        if not link:
            self.portal_link_note = ""
            return rx.toast.info("That link was already shown. Create a new one if you need it.")
        minutes = int(auth.PORTAL_LINK_TTL.total_seconds() // 60)
        self.portal_link_note = (
            f"Shown once and not kept: copy it now. It opens {self.record.get('email', '')}'s "
            f"portal as you, works once and expires in {minutes} minutes."
        )
        return rx.set_value(PORTAL_LINK_FIELD, link)
