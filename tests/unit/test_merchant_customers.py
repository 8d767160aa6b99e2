"""Staff customer list and record; customer-scoped ids; portal link for support."""

import pytest
from sqlmodel import Session

from portal_app.services import customers, magic_links
from portal_app.services.errors import NotFound
from portal_app.state import MerchantCustomersState
from portal_app.state.guard import CLOCK
from tests import factories
from tests.statekit import call, root_with, run
from tests.unit.helpers_staff import a_customer_calls


def test_search_and_pages(session, clock, catalog):
    for i in range(30):
        factories.make_customer(session, clock, catalog.merchant, f"user{i:02d}@example.com")
    factories.make_customer(session, clock, catalog.merchant, "pct%odd_name@example.com")
    rows, total = customers.search(session, catalog.merchant.id, "", 1, size=25)
    assert total == 31 and len(rows) == 25
    rows, total = customers.search(session, catalog.merchant.id, "USER1", 1)
    assert total == 10 and all("user1" in c.email for c in rows)
    assert customers.search(session, catalog.merchant.id, "%", 1)[1] == 1  # literal, not LIKE
    assert customers.search(session, catalog.merchant.id, "_", 1)[1] == 1


def test_record_is_scoped_to_the_merchant(session, clock, catalog):
    other = factories.make_catalog(session, clock, slug="other")
    stranger = factories.make_customer(session, clock, other.merchant, "x@example.com")
    with pytest.raises(NotFound):
        customers.record(session, catalog.merchant.id, stranger.id)


def test_staff_sees_a_customer_and_makes_a_portal_link(app_db):
    bob = app_db["bob"]

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        state = await root.get_state(MerchantCustomersState)
        await call(root, MerchantCustomersState, "search", {"q": "bob"})
        listed = [row["email"] for row in state.rows]
        state.record = {"id": str(bob.id)}
        await call(root, MerchantCustomersState, "create_portal_link")
        return listed, state._portal_link  # held in a backend var until shown (test_staff_acting)

    listed, link = run(scenario())
    assert listed == ["bob@example.com"]
    token = link.split("token=")[1]
    with Session(app_db["engine"]) as session:
        row = magic_links.peek_token(session, CLOCK, token)
        assert row.customer_id == bob.id and row.purpose == "portal_link"


def test_customers_cannot_list_customers(app_db):
    result, state = a_customer_calls(app_db, MerchantCustomersState, "search", {"q": ""})
    assert "/merchant/login" in str(result) and state.rows == []
