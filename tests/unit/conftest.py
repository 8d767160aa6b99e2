"""Fixtures for state tests: the app's own database, seeded with two customers and a staff
member, each with a live session."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from portal_app import db
from portal_app.services import audit, auth, invoices
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
            token = auth.request_login_link(
                session,
                CLOCK,
                merchant_id=catalog.merchant.id,
                email=who.email,
                return_to="/portal",
                actor=audit.SYSTEM,
            )
            sessions[who.email] = auth.redeem_login_token(
                session,
                CLOCK,
                token=token,
                merchant_id=catalog.merchant.id,
                actor=audit.SYSTEM,
            ).session_id
        staff = auth.create_staff(
            session,
            CLOCK,
            merchant_id=catalog.merchant.id,
            email="ops@example.com",
            password="correct horse battery",
            actor=audit.SYSTEM,
        )
        sessions["staff"] = auth.staff_sign_in(
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
