"""Shared fixtures: a fresh database per test (a new SQLite file by default; PostgreSQL when
PORTAL_TEST_DB_URL points at one) and a clock that only moves when a test says so."""

from __future__ import annotations

import os
from datetime import UTC, datetime

os.environ.setdefault("PORTAL_SECRET_KEY", "unit-test-secret-not-for-production")

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from portal_app.clock import FixedClock
from portal_app.db import create_all, install_guards, make_engine
from tests import factories

START = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def server_db_url():
    """PORTAL_TEST_DB_URL with its tables made once for the run, or None. Dropping and creating
    the tables per test cost ~0.3 s on a quiet PostgreSQL (~0.8 s on a busy machine), most of the
    PostgreSQL suite's time; `empty_server_db` resets them per test in about a third of that."""
    url = os.environ.get("PORTAL_TEST_DB_URL")
    if url:
        engine = make_engine(url)
        SQLModel.metadata.drop_all(engine)
        create_all(engine)
        engine.dispose()
    return url


def empty_server_db(engine: sa.Engine) -> None:
    """What `drop_all` + `create_all` leave, without making the tables again: TRUNCATE gives each
    table new empty storage (rows come back in insertion order, as in a new table; a DELETE
    would let new rows fill freed slots) and RESTART IDENTITY puts the ids back at 1. The guard
    triggers are installed again, as a test may drop them."""
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY")
    install_guards(engine)


@pytest.fixture
def engine(tmp_path, server_db_url):
    if server_db_url:
        engine = make_engine(server_db_url)
        empty_server_db(engine)
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        SQLModel.metadata.drop_all(engine)
        create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.rollback()


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def catalog(session, clock):
    """A merchant with Basic < Pro < Business plans, monthly and annual USD prices."""
    return factories.make_catalog(session, clock)


@pytest.fixture
def gateway():
    from portal_app.services.sandbox_gateway import SandboxGateway

    return SandboxGateway()


@pytest.fixture
def customer(session, clock, catalog):
    return factories.make_customer(session, clock, catalog.merchant)


@pytest.fixture
def card(session, clock, gateway, customer):
    return factories.add_gateway_card(session, clock, gateway, customer)


@pytest.fixture(scope="session")
def localstripe():
    """One localstripe server for the run (tests/localstripe_peer.py), started on first use."""
    from tests.localstripe_peer import LocalStripe

    server = LocalStripe().start()
    yield server
    server.stop()


@pytest.fixture(params=["sandbox", "stripe"])
def contract(request):
    """Each gateway in turn, with its customer's browser and bank (tests/gateways.py)."""
    from portal_app.services.sandbox_gateway import SandboxGateway
    from tests.gateways import Contract, stripe_gateway
    from tests.localstripe_peer import StripeJs

    if request.param == "sandbox":
        return Contract(SandboxGateway(), None)
    server = request.getfixturevalue("localstripe")
    return Contract(stripe_gateway(server.base), StripeJs(server.base))
