"""Fixtures for state tests: the app's own database, seeded with two customers and a staff
member, each with a live session."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from portal_app import db
from portal_app.services import audit, invoices, magic_links, staff_auth
from portal_app.state.guard import CLOCK
from tests import factories


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    """A file database the app's own `session_scope()` uses, seeded with two customers."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("PORTAL_DB_URL", url)
    db.get_engine.cache_clear()
    engine = db.get_engine()
    db.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        alice = factories.make_customer(session, CLOCK, catalog.merchant, "alice@example.com")
        bob = factories.make_customer(session, CLOCK, catalog.merchant, "bob@example.com")
        from portal_app.services.sandbox_gateway import SandboxGateway

        gateway = SandboxGateway()
        for who in (alice, bob):
            factories.add_gateway_card(session, CLOCK, gateway, who)
        bob_invoice = invoices.finalize(
            session,
            CLOCK,
            invoices.create_draft(
                session,
                CLOCK,
                customer=bob,
                currency="USD",
                lines=[invoices.LineSpec("manual", "Bob's invoice", 1234)],
                billing_reason="manual",
            ),
            audit.SYSTEM,
        )
        sessions = {}
        for who in (alice, bob):
            token = magic_links.request_login_link(
                session,
                CLOCK,
                merchant_id=catalog.merchant.id,
                email=who.email,
                return_to="/portal",
                actor=audit.SYSTEM,
            )
            sessions[who.email] = magic_links.redeem_login_token(
                session,
                CLOCK,
                token=token,
                merchant_id=catalog.merchant.id,
                actor=audit.SYSTEM,
            ).session_id
        staff = staff_auth.create_staff(
            session,
            CLOCK,
            merchant_id=catalog.merchant.id,
            email="ops@example.com",
            password="correct horse battery",
            actor=audit.SYSTEM,
        )
        sessions["staff"] = staff_auth.staff_sign_in(
            session,
            CLOCK,
            merchant_id=catalog.merchant.id,
            email=staff.email,
            password="correct horse battery",
            actor=audit.SYSTEM,
        ).session_id
        session.commit()
        yield {
            "engine": engine,
            "merchant": catalog.merchant,
            "alice": alice,
            "bob": bob,
            "bob_invoice": bob_invoice,
            "sessions": sessions,
        }
    db.get_engine.cache_clear()


@pytest.fixture
def site_engine(tmp_path, monkeypatch):
    """A file database behind the HTTP app (`build_http_app`), at http://localhost:3000, with
    fresh rate limiters; the test seeds it."""
    from portal_app.services import ratelimit

    monkeypatch.setenv("PORTAL_DB_URL", f"sqlite:///{tmp_path / 'site.db'}")
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "http://localhost:3000")
    db.get_engine.cache_clear()
    ratelimit.reset_singletons()
    engine = db.get_engine()
    db.create_all(engine)
    yield engine
    db.get_engine.cache_clear()
    ratelimit.reset_singletons()


@pytest.fixture
def site_shop(site_engine):
    """`site_engine` seeded with merchant acme's catalog and its customer zoe@example.com."""
    with Session(site_engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        zoe = factories.make_customer(session, CLOCK, catalog.merchant, "zoe@example.com")
        session.commit()
    return {"engine": site_engine, "catalog": catalog, "merchant": catalog.merchant, "zoe": zoe}
