"""`state.paging`: the PagedList mixin and its guarded `go_to_page`, on small probe states
(defined here, so the app's handler inventory does not list them), called the way Reflex calls
handlers, with and without a session cookie."""

from __future__ import annotations

import reflex as rx

from portal_app.components.pager import pager
from portal_app.services.paging import Page, clamp_page, offset, page_count
from portal_app.state import paging
from portal_app.state.guard import PrivateState
from portal_app.state.paging import PagedList
from tests.statekit import call, root_with, run

ITEMS = [f"item {n}" for n in range(1, 24)]  # 23 items: 5 pages of 5
SIZE = 5


def _page_of(page: int) -> Page:
    """What a service returns: the asked page clamped to the pages there are."""
    shown = clamp_page(page, len(ITEMS), SIZE)
    start = offset(shown, SIZE)
    return Page(ITEMS[start : start + SIZE], len(ITEMS), shown, page_count(len(ITEMS), SIZE))


class PagingProbeState(PagedList, PrivateState):
    rows: list[str] = []
    loads: int = 0

    def _load_page(self) -> None:
        found = _page_of(self.page)
        self.rows = list(found.rows)
        self.loads += 1
        self._set_page(found)

    go_to_page = paging.go_to_page("staff", staff_role="viewer")


class PagingCustomerProbeState(PagedList, PrivateState):
    """A customer list whose service returns (rows, total), like the customer's invoices."""

    rows: list[str] = []

    def _load_page(self) -> None:
        start = offset(self.page, SIZE)
        self.rows = ITEMS[start : start + SIZE]
        self._set_total(len(ITEMS), SIZE)

    go_to_page = paging.go_to_page("customer", feature="invoices.view")


class _ViewerPaging(PagedList, mixin=True):
    """A mixin can carry the built handler too: Reflex copies it onto each state."""

    go_to_page = paging.go_to_page("staff", staff_role="viewer")


class PagingFromMixinProbeState(_ViewerPaging, PrivateState):
    rows: list[str] = []

    def _load_page(self) -> None:
        found = _page_of(self.page)
        self.rows = list(found.rows)
        self._set_page(found)


def test_the_page_vars_come_from_the_mixin_and_reach_the_browser():
    for cls in (PagingProbeState, PagingCustomerProbeState, PagingFromMixinProbeState):
        assert {"page", "pages", "total"} <= set(cls.base_vars), cls.__name__
        assert "go_to_page" in cls.event_handlers, cls.__name__
    assert "_load_page" not in PagingProbeState.event_handlers


def test_go_to_page_is_guarded_with_the_states_own_arguments():
    staff = PagingProbeState.event_handlers["go_to_page"].fn
    assert staff._portal_guard == ("staff", None) and staff._portal_staff_role == "viewer"
    customer = PagingCustomerProbeState.event_handlers["go_to_page"].fn
    assert customer._portal_guard == ("customer", "invoices.view")
    assert customer._portal_staff_role is None
    from_mixin = PagingFromMixinProbeState.event_handlers["go_to_page"].fn
    assert from_mixin._portal_guard == ("staff", None)
    assert from_mixin._portal_staff_role == "viewer"


def test_a_staff_handler_without_a_staff_role_fails_at_import():
    try:
        paging.go_to_page("staff")
    except ValueError as exc:
        assert "staff_role" in str(exc)
    else:
        raise AssertionError("a staff go_to_page without staff_role was built")


def test_go_to_page_loads_and_clamps(app_db):
    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        state = await root.get_state(PagingProbeState)
        seen = []
        await call(root, PagingProbeState, "go_to_page", 1)  # first load: one page known
        seen.append((state.page, state.pages, state.total, state.rows[0], state.loads))
        await call(root, PagingProbeState, "go_to_page", 3)
        seen.append((state.page, state.rows[0]))
        await call(root, PagingProbeState, "go_to_page", 99)
        seen.append((state.page, state.rows[0]))
        await call(root, PagingProbeState, "go_to_page", -4)
        seen.append((state.page, state.rows[0]))
        await call(root, PagingProbeState, "go_to_page", "5")  # the browser's number as text
        seen.append((state.page, state.rows))
        return seen

    first, third, beyond, below, last = run(scenario())
    assert first == (1, 5, 23, "item 1", 1)
    assert third == (3, "item 11")
    assert beyond == (5, "item 21")  # clamped to the last page
    assert below == (1, "item 1")
    assert last == (5, ["item 21", "item 22", "item 23"])


def test_a_malformed_page_is_refused_and_changes_nothing(app_db):
    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, PagingProbeState, "go_to_page", 2)
        await call(root, PagingProbeState, "go_to_page", 2)
        result = await call(root, PagingProbeState, "go_to_page", "x")
        state = await root.get_state(PagingProbeState)
        return result, state.page, state.loads

    result, page, loads = run(scenario())
    assert "not valid" in str(result) and page == 2 and loads == 2


def test_without_a_session_nothing_loads(app_db):
    async def scenario():
        root = root_with(None)
        result = await call(root, PagingProbeState, "go_to_page", 2)
        state = await root.get_state(PagingProbeState)
        return result, state.rows, state.loads

    result, rows, loads = run(scenario())
    assert "/merchant/login" in str(result) and rows == [] and loads == 0


def test_the_roles_do_not_cross(app_db):
    async def scenario():
        customer_root = root_with(app_db["sessions"]["alice@example.com"])
        staff_root = root_with(staff_sid=app_db["sessions"]["staff"])
        as_customer = await call(customer_root, PagingProbeState, "go_to_page", 2)
        as_staff = await call(staff_root, PagingCustomerProbeState, "go_to_page", 2)
        customer_seen = (await customer_root.get_state(PagingProbeState)).rows
        staff_seen = (await staff_root.get_state(PagingCustomerProbeState)).rows
        return as_customer, as_staff, customer_seen, staff_seen

    as_customer, as_staff, customer_seen, staff_seen = run(scenario())
    assert "/merchant/login" in str(as_customer) and customer_seen == []
    assert "/login" in str(as_staff) and staff_seen == []


def test_a_customer_list_from_a_bare_count(app_db):
    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        state = await root.get_state(PagingCustomerProbeState)
        await call(root, PagingCustomerProbeState, "go_to_page", 1)
        first = (state.page, state.pages, state.total, state.rows[0])
        await call(root, PagingCustomerProbeState, "go_to_page", 9)
        return first, (state.page, state.rows[0])

    first, last = run(scenario())
    assert first == (1, 5, 23, "item 1")
    assert last == (5, "item 21")


def test_a_handler_carried_by_a_mixin_works_too(app_db):
    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, PagingFromMixinProbeState, "go_to_page", 1)
        await call(root, PagingFromMixinProbeState, "go_to_page", 4)
        state = await root.get_state(PagingFromMixinProbeState)
        anonymous = await call(root_with(None), PagingFromMixinProbeState, "go_to_page", 2)
        return state.page, state.rows[0], anonymous

    page, first_row, anonymous = run(scenario())
    assert (page, first_row) == (4, "item 16")
    assert "/merchant/login" in str(anonymous)


def test_the_pager_renders_for_a_paged_state():
    rendered = str(pager(PagingProbeState))
    assert "Previous" in rendered and "Next" in rendered
    # the event is named as for a handler written in the class: <state's full name>.go_to_page
    assert f'"{PagingProbeState.get_full_name()}.go_to_page"' in rendered
    assert isinstance(pager(PagingFromMixinProbeState), rx.Component)
