"""Fixtures for state tests: the app's own database, seeded with two customers and a staff
member, each with a live session."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlmodel import Session

from portal_app import db
from portal_app.services import invoices
from portal_app.state.guard import CLOCK
from tests import factories


@contextmanager
def _apps_engine(monkeypatch, url: str):
    """The app's own engine (`db.get_engine()`) on `url`, with its tables; dropped from the
    cache again on the way out, so the next test's URL is read afresh."""
    monkeypatch.setenv("PORTAL_DB_URL", url)
    db.get_engine.cache_clear()
    engine = db.get_engine()
    db.create_all(engine)
    yield engine
    db.get_engine.cache_clear()


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    """A file database the app's own `session_scope()` uses, seeded with two customers."""
    with (
        _apps_engine(monkeypatch, f"sqlite:///{tmp_path / 'app.db'}") as engine,
        Session(engine, expire_on_commit=False) as session,
    ):
        catalog = factories.make_catalog(session, CLOCK)
        alice = factories.make_customer(session, CLOCK, catalog.merchant, "alice@example.com")
        bob = factories.make_customer(session, CLOCK, catalog.merchant, "bob@example.com")
        from portal_app.services.sandbox_gateway import SandboxGateway

        gateway = SandboxGateway()
        for who in (alice, bob):
            factories.add_gateway_card(session, CLOCK, gateway, who)
        bob_invoice = factories.finalized_invoice(
            session, CLOCK, bob, [invoices.LineSpec("manual", "Bob's invoice", 1234)]
        )
        sessions = {
            who.email: factories.customer_signed_in(session, CLOCK, who).session_id
            for who in (alice, bob)
        }
        factories.make_staff(session, CLOCK, catalog.merchant)
        sessions["staff"] = factories.staff_signed_in(session, CLOCK, catalog.merchant).session_id
        session.commit()
        yield {
            "engine": engine,
            "merchant": catalog.merchant,
            "alice": alice,
            "bob": bob,
            "bob_invoice": bob_invoice,
            "sessions": sessions,
        }


@pytest.fixture
def site_engine(tmp_path, monkeypatch):
    """A file database behind the HTTP app (`build_http_app`), at http://localhost:3000, with
    fresh rate limiters; the test seeds it."""
    from portal_app.services import ratelimit

    monkeypatch.setenv("PORTAL_PUBLIC_URL", "http://localhost:3000")
    ratelimit.reset_singletons()
    with _apps_engine(monkeypatch, f"sqlite:///{tmp_path / 'site.db'}") as engine:
        yield engine
    ratelimit.reset_singletons()


@pytest.fixture
def site_shop(site_engine):
    """`site_engine` seeded with merchant acme's catalog and its customer zoe@example.com."""
    with Session(site_engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        zoe = factories.make_customer(session, CLOCK, catalog.merchant, "zoe@example.com")
        session.commit()
    return {"engine": site_engine, "catalog": catalog, "merchant": catalog.merchant, "zoe": zoe}
