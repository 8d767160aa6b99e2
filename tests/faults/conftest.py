"""Fixtures for the fault tests (see support.py). A missing PostgreSQL or Redis binary skips the
tests that need it, with the reason; under CI=true it fails them, since CI's machine has both."""

from __future__ import annotations

import os
import pwd
import shutil

import pytest
from sqlmodel import SQLModel

from portal_app import db
from portal_app.services import ratelimit
from tests.faults.support import (
    PUBLIC_URL,
    LocalSMTP,
    PrivatePostgres,
    PrivateRedis,
    postgres_bindir,
    require,
)


@pytest.fixture(scope="session")
def private_postgres():
    bindir = postgres_bindir()
    require("PostgreSQL (initdb, pg_ctl)", bindir is not None)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require("the postgres system user (initdb refuses root)", False)
        require("runuser", shutil.which("runuser") is not None)
    cluster = PrivatePostgres(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_engine(private_postgres):
    """An empty schema on the private cluster (started again if a test left it stopped)."""
    if not private_postgres.running():
        private_postgres.start()
    engine = db.make_engine(private_postgres.url)
    SQLModel.metadata.drop_all(engine)
    db.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def private_redis():
    binary = shutil.which("redis-server")
    require("redis-server", binary is not None)
    server = PrivateRedis(binary)
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def smtp_server():
    server = LocalSMTP()
    yield server
    server.stop()


@pytest.fixture
def use_app_db(monkeypatch):
    """Point the app's own engine (`db.get_engine()`, used by states and routes) at a URL."""

    def point(url: str) -> None:
        monkeypatch.setenv("PORTAL_DB_URL", url)
        monkeypatch.setenv("PORTAL_PUBLIC_URL", PUBLIC_URL)
        db.get_engine.cache_clear()
        ratelimit.reset_singletons()

    yield point
    db.get_engine.cache_clear()
    ratelimit.reset_singletons()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(url, engine) of a private database with the app's tables: a SQLite file, or a fresh
    schema on the private PostgreSQL cluster."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'faults.db'}"
        engine = db.make_engine(url)
        db.create_all(engine)
        yield url, engine
        engine.dispose()
        return
    yield request.getfixturevalue("private_postgres").url, request.getfixturevalue("pg_engine")
