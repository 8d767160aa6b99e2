"""Staff pages through their states: a member of the app_db merchant with a role, and that
member's browser tab on a page."""

from __future__ import annotations

from portal_app.state.guard import CLOCK
from tests import factories
from tests.statekit import call, root_with, run


def staff_as(app_db, role: str) -> str:
    """The session id of a new staff member of the app_db merchant with this role."""
    return factories.staff_with_role(app_db["engine"], CLOCK, app_db["merchant"], role)


async def staff_page(staff_sid: str, state_cls, *handlers: str):
    """A tab signed in as that staff member, after the named handlers ran on the page's state
    ("open", "load"): the tab's root and the page's state."""
    root = root_with(staff_sid=staff_sid)
    for handler in handlers:
        await call(root, state_cls, handler)
    return root, await root.get_state(state_cls)


def viewer_is_refused(app_db, state_cls, form: dict):
    """A viewer opens an admins-only page, then submits its create form and loads it: access
    denied and both handlers answer "it needs Admin". The page's state, for what it shows."""
    viewer = staff_as(app_db, "viewer")

    async def scenario():
        root, state = await staff_page(viewer, state_cls, "open")
        created = await call(root, state_cls, "create", dict(form))
        loaded = await call(root, state_cls, "load")
        return state, str(created), str(loaded)

    state, created, loaded = run(scenario())
    assert state.access == "denied"
    assert "it needs Admin" in created and "it needs Admin" in loaded
    return state


def staff_root(app_db):
    """A tab signed in as the app_db merchant's staff member."""
    return root_with(staff_sid=app_db["sessions"]["staff"])


def app_product_id(app_db) -> int:
    """The id of the app_db merchant's product."""
    from sqlmodel import Session, select

    from portal_app.models import Product

    with Session(app_db["engine"]) as session:
        return session.exec(
            select(Product.id).where(Product.merchant_id == app_db["merchant"].id)
        ).one()


def a_customer_calls(app_db, state_cls, handler: str, *args):
    """Alice, a customer, calls a staff page's handler: its answer, and the page's state."""

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        result = await call(root, state_cls, handler, *args)
        return result, await root.get_state(state_cls)

    return run(scenario())
