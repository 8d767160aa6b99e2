"""Numbered pages for a list state: the `page` / `pages` / `total` vars, filling them from a
`services.paging.Page`, and the guarded `go_to_page` handler that `components.pager` calls.

    class MerchantPaymentsState(PagedList, PrivateState):
        rows: list[PaymentListRow] = []
        loaded: bool = False

        def _load_page(self) -> None:           # reads self.page, fills rows and the page vars
            found = read(merchant_payments_view.payments_page, status=self.status, page=self.page)
            self._show_rows(found)

        go_to_page = paging.go_to_page("staff", staff_role="viewer")

`show = paging.show_filter(FILTERS, "staff", staff_role="viewer")` is the filter tabs' handler.
The handlers are built per state because each declares its own guard (role, feature, staff role:
tests/unit/test_handler_inventory.py reviews them); the mixin carries what is the same."""

from __future__ import annotations

import reflex as rx

from portal_app.services.errors import PortalError
from portal_app.services.paging import Page, page_count
from portal_app.state.guard import guarded


class PagedList(rx.State, mixin=True):
    """Mix in before the state's base (`class X(PagedList, PrivateState)`)."""

    page: int = 1
    pages: int = 1
    total: int = 0

    def _load_page(self) -> None:
        """Show `self.page`: read it and set the rows and page vars (each state's own)."""
        raise NotImplementedError(f"{type(self).__name__} defines _load_page")

    def _set_page(self, found: Page) -> None:
        """The page vars from a service's `Page` (its `page` is already clamped)."""
        self.total, self.page, self.pages = found.total, found.page, found.pages

    def _show_rows(self, found: Page) -> None:
        """A service's `Page` on screen: its rows in the state's own `rows`, the page vars, and
        the state's `loaded` set."""
        self.rows = found.rows
        self._set_page(found)
        self.loaded = True

    def _set_total(self, total: int, size: int) -> None:
        """`total` and `pages` from a bare count, for services that return (rows, total);
        `page` stays as it is (set it first, or clamp it after, as the state did)."""
        self.total, self.pages = total, page_count(total, size)

    def _go_to(self, page: int) -> None:
        """What `go_to_page(n)` does: n brought into 1..pages (as known from the last load),
        then loaded. A state whose service clamps after reading may override this."""
        self.page = max(1, min(int(page), self.pages))
        self._load_page()

    def _first_page(self) -> None:
        """Page 1, loaded: what a new filter, sort or search shows."""
        self.page = 1
        self._load_page()


def go_to_page(role: str, feature: str | None = None, *, staff_role: str | None = None):
    """The `go_to_page(page)` event handler for a `PagedList` state, behind
    `guarded(role, feature, staff_role=...)`: assign it in the class body,
    `go_to_page = paging.go_to_page("staff", staff_role="viewer")`. A page number that is not a
    number is the guard's "not valid" refusal."""

    def go_to_page(self, page: int):
        self._go_to(int(page))

    go_to_page.__qualname__ = "PagedList.go_to_page"
    return rx.event(guarded(role, feature, staff_role=staff_role)(go_to_page))


def show_filter(allowed, role: str, feature: str | None = None, *, staff_role: str | None = None):
    """The `show(status)` event handler of a `PagedList` state's filter tabs: one of `allowed`
    (anything else is refused: "That filter is not available."), shown from page 1."""

    def show(self, status: str):
        text = str(status)
        if text not in allowed:
            raise PortalError("That filter is not available.")
        self.status = text
        self._first_page()

    show.__qualname__ = "PagedList.show"
    return rx.event(guarded(role, feature, staff_role=staff_role)(show))
