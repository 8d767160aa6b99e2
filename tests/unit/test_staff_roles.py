"""Staff roles at the state layer: a member's forged call of a handler above their role is
refused, changes nothing and is audited naming the handler; the same call by the role it needs
works; the role is read from the database at every call, so a demotion holds at the next click.

Calls go through Reflex's handler path with the member's own cookie (tests/statekit.py), the
way a raw socket client would send them: no page hides anything here."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from portal_app.models import AuditEvent, LoginToken, Merchant, Product, RefusalTally, StaffUser
from portal_app.services import audit, staff_auth, staff_roles
from portal_app.state import MerchantCustomersState, MerchantSettingsState, SessionState
from portal_app.state.guard import CLOCK, current, guarded
from portal_app.state.merchant_billing import MerchantBillingState
from portal_app.state.merchant_catalog import MerchantCatalogState
from portal_app.state.merchant_home import MerchantState
from portal_app.state.merchant_portal_preview import PortalPreviewState
from tests import factories
from tests.statekit import call, root_with, run, settings_form

PASSWORD = "correct horse battery"


# --- staff_roles.allows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("have", "need", "allowed"),
    [
        ("viewer", "viewer", True),
        ("viewer", "support", False),
        ("support", "viewer", True),
        ("support", "support", True),
        ("support", "admin", False),
        ("admin", "support", True),
        ("admin", "admin", True),
        ("admin", "owner", False),
        ("owner", "owner", True),
        ("owner", "viewer", True),
    ],
)
def test_allows_ranks_roles(have, need, allowed):
    assert staff_roles.allows(have, need) is allowed


@pytest.mark.parametrize("have", [None, "", "staff", "Owner", "root"])
def test_an_unknown_or_missing_role_may_do_nothing(have):
    assert not any(staff_roles.allows(have, need) for need in staff_roles.STAFF_ROLES)


def test_a_handler_cannot_need_an_unknown_role():
    with pytest.raises(ValueError):
        staff_roles.allows("owner", "superuser")


def test_at_least_lists_the_roles_a_page_shows_a_control_to():
    assert staff_roles.at_least("viewer") == ("viewer", "support", "admin", "owner")
    assert staff_roles.at_least("admin") == ("admin", "owner")
    assert staff_roles.at_least("owner") == ("owner",)
    assert set(staff_roles.SUMMARIES) == set(staff_roles.LABELS) == set(staff_roles.STAFF_ROLES)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def members(app_db):
    """One signed-in member per role (app_db's own member, ops@, is the owner)."""
    engine, merchant_id = app_db["engine"], app_db["merchant"].id
    found = {"owner": {"sid": app_db["sessions"]["staff"]}}
    with Session(engine) as session:
        owner = session.exec(select(StaffUser).where(StaffUser.email == "ops@example.com")).one()
        assert owner.role == "owner"
        found["owner"]["id"] = owner.id
        for role in ("viewer", "support", "admin"):
            member = staff_auth.create_staff(
                session,
                CLOCK,
                merchant_id=merchant_id,
                email=f"{role}@example.com",
                password=PASSWORD,
                role=role,
                actor=audit.SYSTEM,
            )
            signed_in = staff_auth.staff_sign_in(
                session,
                CLOCK,
                merchant_id=merchant_id,
                email=member.email,
                password=PASSWORD,
                actor=audit.SYSTEM,
            )
            found[role] = {"id": member.id, "sid": signed_in.session_id}
        session.commit()
    return found


def _denials(engine, handler: str) -> list[dict]:
    """Role refusals recorded for `handler`: counted refusal tallies (services/refusals.py,
    rule "staff_role:<handler>", keyed by the principal) or, as before tallies, chained
    `authz.denied` events (reason "staff_role", target the handler)."""
    with Session(engine) as session:
        events = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "authz.denied", AuditEvent.target_id == handler
            )
        ).all()
        found = [
            {"who": f"merchant:{e.actor_id} {e.ip}", "count": 1}
            for e in events
            if (e.after or {}).get("reason") == "staff_role"
        ]
        tallies = session.exec(
            select(RefusalTally).where(
                RefusalTally.action == "authz.denied",
                RefusalTally.rule == f"staff_role:{handler}",
            )
        ).all()
        found += [{"who": t.key_hint, "count": t.count} for t in tallies]
    return found


def _denied_once_by(engine, handler: str, staff_id: int) -> None:
    """One refusal of `handler`, naming the member (and their address, masked in a tally)."""
    denials = _denials(engine, handler)
    assert sum(d["count"] for d in denials) == 1, denials
    assert denials[0]["who"].split()[0] == f"merchant:{staff_id}", denials
    assert denials[0]["who"].split()[1] in ("198.51.100.7", "198.51.100.0/24"), denials


def _count(engine, model, *where) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def _set_role(engine, staff_id: int, role: str) -> None:
    """What an owner's role change writes (services/staff.py does it with an audit event)."""
    with Session(engine) as session:
        member = session.get(StaffUser, staff_id)
        member.role = role
        session.add(member)
        session.commit()


# --- viewer -------------------------------------------------------------------------------------


def test_viewer_cannot_save_settings_and_admin_can(app_db, members):
    engine, merchant_id = app_db["engine"], app_db["merchant"].id
    before = factories.saved_settings(engine, merchant_id)
    form = settings_form(before, **{"branding.name": "Taken over"})

    async def scenario(role):
        root = root_with(staff_sid=members[role]["sid"])
        result = await call(root, MerchantSettingsState, "save", form)
        state = await root.get_state(MerchantSettingsState)
        return str(result), state.saved_message, (await root.get_state(SessionState)).staff_role

    refused, message, shown_role = run(scenario("viewer"))
    assert "Your role (Viewer) can't do this; it needs Admin." in refused and message == ""
    assert shown_role == "viewer"  # the page learns the role and hides the save button
    assert factories.saved_settings(engine, merchant_id).values == before.values
    _denied_once_by(engine, "save", members["viewer"]["id"])

    _, message, shown_role = run(scenario("admin"))
    assert message == "Saved 1 change." and shown_role == "admin"
    assert factories.saved_settings(engine, merchant_id)["branding.name"] == "Taken over"
    assert sum(d["count"] for d in _denials(engine, "save")) == 1  # no new refusal


def test_viewer_cannot_make_portal_links_or_preview_and_support_can(app_db, members):
    engine, alice = app_db["engine"], app_db["alice"]
    tokens = _count(engine, LoginToken)

    async def scenario(role):
        root = root_with(staff_sid=members[role]["sid"])
        await call(root, MerchantCustomersState, "load")  # a read: every role may
        customers = await root.get_state(MerchantCustomersState)
        customers.record = {"id": str(alice.id)}  # the record page is open on Alice
        link = await call(root, MerchantCustomersState, "create_portal_link")
        preview = await call(root, PortalPreviewState, "open_preview")
        return customers.total, str(link), str(preview)

    listed, link, preview = run(scenario("viewer"))
    assert listed == 2  # viewing customers is read-only work
    assert "it needs Support" in link and "it needs Support" in preview
    assert _count(engine, LoginToken) == tokens
    _denied_once_by(engine, "create_portal_link", members["viewer"]["id"])
    _denied_once_by(engine, "open_preview", members["viewer"]["id"])

    _, link, preview = run(scenario("support"))
    assert "can't do this" not in link and "can't do this" not in preview
    with Session(engine) as session:
        made = session.exec(
            select(AuditEvent).where(AuditEvent.action == "portal_link.create")
        ).all()
    # one for Alice, one for the preview's stand-in customer; none from the viewer's calls
    assert [e.actor_id for e in made] == [str(members["support"]["id"])] * 2
    assert [e.customer_id for e in made].count(alice.id) == 1
    assert _count(engine, LoginToken) > tokens


# --- support ------------------------------------------------------------------------------------


def test_support_cannot_edit_the_catalog_and_admin_can(app_db, members):
    engine, merchant_id = app_db["engine"], app_db["merchant"].id
    products = _count(engine, Product, Product.merchant_id == merchant_id)
    with Session(engine) as session:
        product = session.exec(select(Product).where(Product.merchant_id == merchant_id)).first()
        product_id, product_name = product.id, product.name

    async def scenario(role):
        root = root_with(staff_sid=members[role]["sid"])
        await call(root, MerchantCatalogState, "load")
        created = await call(
            root, MerchantCatalogState, "create_product", {"name": "Forged", "description": ""}
        )
        opened = await call(root, MerchantCatalogState, "open_editor", "product", str(product_id))
        catalog = await root.get_state(MerchantCatalogState)
        editor_kind = catalog.editor_kind
        saved = await call(
            root, MerchantCatalogState, "save_editor", {"name": "Renamed", "description": ""}
        )
        return str(created), str(opened), editor_kind, str(saved)

    created, opened, editor_kind, saved = run(scenario("support"))
    assert all("Your role (Support) can't do this; it needs Admin." in r for r in (created, saved))
    assert "it needs Admin" in opened and editor_kind == ""
    assert _count(engine, Product, Product.merchant_id == merchant_id) == products
    with Session(engine) as session:
        assert session.get(Product, product_id).name == product_name
    for handler in ("create_product", "open_editor", "save_editor"):
        _denied_once_by(engine, handler, members["support"]["id"])

    created, opened, editor_kind, saved = run(scenario("admin"))
    assert "can't do this" not in created + opened + saved and editor_kind == "product"
    assert _count(engine, Product, Product.merchant_id == merchant_id) == products + 1
    with Session(engine) as session:
        assert session.get(Product, product_id).name == "Renamed"


def test_support_cannot_move_the_test_clock_and_admin_can(app_db, members):
    engine, merchant_id = app_db["engine"], app_db["merchant"].id
    with Session(engine) as session:
        merchant = session.get(Merchant, merchant_id)
        merchant.is_demo = True
        session.add(merchant)
        session.commit()

    def offset() -> int:
        with Session(engine) as session:
            return session.get(Merchant, merchant_id).clock_offset_seconds

    async def scenario(role):
        root = root_with(staff_sid=members[role]["sid"])
        await call(root, MerchantBillingState, "load")
        started = await call(root, MerchantBillingState, "start_advance", 7)
        advanced = await call(root, MerchantBillingState, "advance", 7)  # forged: skips start
        ran = await call(root, MerchantBillingState, "run_now")
        state = await root.get_state(MerchantBillingState)
        return str(started), str(advanced), str(ran), state.working, state.last_report

    started, advanced, ran, working, report = run(scenario("support"))
    assert all("it needs Admin" in r for r in (started, advanced, ran))
    assert not working and report == ""
    assert offset() == 0
    for handler in ("start_advance", "advance", "run_now"):
        _denied_once_by(engine, handler, members["support"]["id"])

    started, advanced, ran, working, report = run(scenario("admin"))
    assert "can't do this" not in started + advanced + ran
    assert offset() == 7 * 86400 and "Billing clock ran" in report


# --- admin --------------------------------------------------------------------------------------


async def _rename_merchant(self, name: str):
    """A stand-in for an owner-only handler (the Staff page's live in merchant_staff.py):
    it writes, so a refusal can be seen to change nothing."""
    from portal_app.db import session_scope

    with session_scope() as session:
        merchant = session.get(Merchant, current().merchant_id)
        merchant.name = name
        session.add(merchant)


owner_only = guarded("staff", staff_role="owner")(_rename_merchant)


def test_admin_cannot_do_what_needs_an_owner_and_the_owner_can(app_db, members):
    engine, merchant_id = app_db["engine"], app_db["merchant"].id
    with Session(engine) as session:
        name = session.get(Merchant, merchant_id).name

    async def scenario(role):
        root = root_with(staff_sid=members[role]["sid"])
        state = await root.get_state(MerchantState)
        return str(await owner_only(state, "Owned by admin"))

    refused = run(scenario("admin"))
    assert "Your role (Admin) can't do this; it needs Owner." in refused
    with Session(engine) as session:
        assert session.get(Merchant, merchant_id).name == name
    _denied_once_by(engine, "_rename_merchant", members["admin"]["id"])

    assert "can't do this" not in run(scenario("owner"))
    with Session(engine) as session:
        assert session.get(Merchant, merchant_id).name == "Owned by admin"


# --- the role is read at every call --------------------------------------------------------------


def test_a_demoted_member_is_refused_at_the_next_call_without_signing_in_again(app_db, members):
    engine, merchant_id = app_db["engine"], app_db["merchant"].id
    admin = members["admin"]

    async def scenario():
        root = root_with(staff_sid=admin["sid"])  # one tab, one session, kept throughout
        form = settings_form(
            factories.saved_settings(engine, merchant_id), **{"branding.name": "First"}
        )
        first = await call(root, MerchantSettingsState, "save", form)
        role_then = (await root.get_state(SessionState)).staff_role
        _set_role(engine, admin["id"], "viewer")
        form = settings_form(
            factories.saved_settings(engine, merchant_id), **{"branding.name": "Second"}
        )
        second = await call(root, MerchantSettingsState, "save", form)
        role_now = (await root.get_state(SessionState)).staff_role
        read = await call(root, MerchantState, "load")  # still signed in: reads work
        merchant = await root.get_state(MerchantState)
        _set_role(engine, admin["id"], "admin")  # promoted back: works at once, too
        third = await call(root, MerchantSettingsState, "save", form)
        return str(first), role_then, str(second), role_now, read, merchant.merchant_name, third

    first, role_then, second, role_now, read, merchant_name, third = run(scenario())
    assert "can't do this" not in first and role_then == "admin"
    assert "Your role (Viewer) can't do this" in second and role_now == "viewer"
    assert read is None and merchant_name  # not signed out, no redirect
    assert "can't do this" not in str(third)
    assert (
        factories.saved_settings(engine, merchant_id)["branding.name"] == "Second"
    )  # only by the admin
    _denied_once_by(engine, "save", admin["id"])


def test_a_member_with_an_unknown_role_is_refused_everything(app_db, members):
    """A role the code does not know (a bad row, a removed role) ranks below viewer."""
    engine = app_db["engine"]
    _set_role(engine, members["viewer"]["id"], "superuser")

    async def scenario():
        root = root_with(staff_sid=members["viewer"]["sid"])
        result = await call(root, MerchantState, "load")
        return str(result), (await root.get_state(MerchantState)).merchant_name

    result, name = run(scenario())
    assert "Your role (none) can't do this; it needs Viewer." in result and name == ""
    _denied_once_by(engine, "load", members["viewer"]["id"])
