"""Shared fixtures: a fresh database per test (SQLite in memory by default; PostgreSQL when
PORTAL_TEST_DB_URL points at one) and a clock that only moves when a test says so."""

from __future__ import annotations

import os
from datetime import UTC, datetime

os.environ.setdefault("PORTAL_SECRET_KEY", "unit-test-secret-not-for-production")

import pytest
from sqlmodel import Session, SQLModel

from portal_app.clock import FixedClock
from portal_app.db import create_all, make_engine
from tests import factories

START = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path):
    url = os.environ.get("PORTAL_TEST_DB_URL") or f"sqlite:///{tmp_path / 'test.db'}"
    engine = make_engine(url)
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
