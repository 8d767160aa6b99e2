"""Staff → Checkouts: the merchant's checkout sessions (all, open, completed, expired), newest
first, and "Create a checkout link" for a plan and billing cycle or a product sold once, an
email, an optional trial length and an allow-listed page to return to. Thin: the list is
services/merchant_checkouts_view.py's, the link `checkout.create_by_staff`'s (which validates
again and audits). Reading needs "viewer", creating a link "support". A double click's second
submit is ignored (`resubmitted`)."""

from __future__ import annotations

import reflex as rx

from portal_app.services import checkout, merchant_checkouts_view
from portal_app.services.errors import PortalError
from portal_app.services.merchant_checkouts_view import CheckoutListRow, LinkChoice
from portal_app.state import paging
from portal_app.state.guard import PrivateState, current, guarded, read, write
from portal_app.state.merchant_catalog_editor import field, posted, resubmitted, whole
from portal_app.state.paging import PagedList

CHECKOUT_FILTER_LABELS = {
    "all": "All",
    "open": "Open",
    "completed": "Completed",
    "expired": "Expired",
}


class MerchantCheckoutsState(PagedList, PrivateState):
    rows: list[CheckoutListRow] = []
    status: str = "all"
    loaded: bool = False
    choices: list[LinkChoice] = []  # what a link can sell
    link_error: str = ""
    created_link: str = ""  # the link just created, to copy and send
    form_version: int = 0  # remounts the form after a link is created

    def _load_page(self) -> None:
        found = read(merchant_checkouts_view.checkouts_page, status=self.status, page=self.page)
        self._show_rows(found)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.status, self.link_error, self.created_link = "all", "", ""
        self.choices = read(merchant_checkouts_view.link_choices)
        self._first_page()

    show = paging.show_filter(merchant_checkouts_view.STATUS_FILTERS, "staff", staff_role="viewer")

    go_to_page = paging.go_to_page("staff", staff_role="viewer")

    @rx.event
    @guarded("staff", staff_role="support", error="link_error")
    def create_link(self, form_data: dict):
        form = posted(form_data)
        if resubmitted(form, self.form_version):  # a double click's second submit
            return None
        self.link_error, self.created_link = "", ""
        chosen = merchant_checkouts_view.parse_choice(field(form, "item"))
        email, success_url = field(form, "email"), field(form, "success_url")
        if not isinstance(email, str) or not isinstance(success_url, str):
            raise PortalError("Email and return page must be text.")
        checkout_id = write(
            checkout.create_by_staff,
            staff_id=current().staff_id,
            email=email,
            trial_days=whole(form, "trial_days", "Trial days"),
            success_url=success_url,
            **chosen,
        )
        self.created_link = merchant_checkouts_view.checkout_link(checkout_id)
        self.form_version += 1
        self.status = "all"
        self._first_page()
        return rx.toast.success("Checkout link created. Copy it and send it to the buyer.")
