"""Engine and session creation for SQLite (default) and PostgreSQL, with SQLite tuned for writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, SQLModel, create_engine

from portal_app import models  # noqa: F401  (registers every table)
from portal_app.config import load_settings
from portal_app.services.errors import ServiceUnavailable

log = logging.getLogger(__name__)


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "connect")
        def _no_driver_autobegin(dbapi_conn, _record):
            dbapi_conn.isolation_level = None

        # Writers take the lock at BEGIN and queue on busy_timeout: a deferred transaction that
        # upgrades from read to write in WAL mode fails at once instead of waiting.
        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    # pool_pre_ping: a pooled connection that died with a database restart is replaced before
    # use, so the first request after a restart works. connect_timeout: an unreachable server
    # fails in seconds (ServiceUnavailable) instead of hanging on the OS's TCP timeout.
    options = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=options
    )


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> sa.Engine:
    return make_engine(url or load_settings().db_url)


# What a person sees when the database drops out (restart, failover, network): a PortalError,
# so every handler that shows PortalErrors shows this instead of a stack trace.
UNAVAILABLE = "The service is briefly unavailable, so nothing was changed. Try again in a moment."
UNCONFIRMED = (
    "The service became unavailable while saving, so we cannot confirm the change. "
    "Reload the page to check before trying again."
)
READ_UNAVAILABLE = "The service is briefly unavailable. Try again in a moment."

# SQLSTATE classes of a lost or refused connection: 08 connection exception, 57 operator
# intervention (admin or crash shutdown, "cannot connect now"). SQLite: BUSY after the busy
# timeout, CANTOPEN.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57")
_UNAVAILABLE_SQLITE_CODES = (5, 14)


def is_unavailable(exc: BaseException) -> bool:
    """True when the database could not be reached or dropped the connection: nothing wrong with
    the request itself, and trying again later can work."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError):
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    orig = exc.orig
    if hasattr(orig, "sqlite_errorcode"):  # extended codes carry the primary one in the low byte
        return (orig.sqlite_errorcode & 0xFF) in _UNAVAILABLE_SQLITE_CODES
    sqlstate = getattr(orig, "sqlstate", "")
    # psycopg: a connection that failed before the server answered has no SQLSTATE
    return sqlstate is None or str(sqlstate)[:2] in _UNAVAILABLE_SQLSTATE_CLASSES


def _rollback_quietly(session: Session) -> None:
    """Roll back without hiding the error being handled (the connection may be gone)."""
    try:
        session.rollback()
    except sa.exc.DBAPIError:
        log.warning("rollback failed after a database error", exc_info=True)


@contextmanager
def session_scope(engine: sa.Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, so nothing is half-written.
    A lost database raises ServiceUnavailable (UNCONFIRMED when it went away during COMMIT,
    when the server may or may not have applied it)."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        try:
            yield session
        except BaseException as exc:
            _rollback_quietly(session)
            if is_unavailable(exc):
                raise ServiceUnavailable(UNAVAILABLE) from exc
            raise
        try:
            session.commit()
        except BaseException as exc:
            _rollback_quietly(session)
            if is_unavailable(exc):
                raise ServiceUnavailable(UNCONFIRMED) from exc
            raise
    finally:
        session.close()


@contextmanager
def read_scope(engine: sa.Engine | None = None) -> Iterator[Session]:
    """A read-only unit of work: never takes SQLite's write lock, so page loads run side by side."""
    bind = (engine or get_engine()).execution_options(sqlite_begin="DEFERRED")
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
    except sa.exc.DBAPIError as exc:
        if is_unavailable(exc):
            raise ServiceUnavailable(READ_UNAVAILABLE) from exc
        raise
    finally:
        # close() rolls the connection back without expiring loaded objects, so plain values
        # read inside the block stay readable after it.
        session.close()


def create_all(engine: sa.Engine) -> None:
    SQLModel.metadata.create_all(engine)
    install_guards(engine)


def dialect_insert(dialect_name: str):
    """The `insert` construct with ON CONFLICT support for PostgreSQL or SQLite."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_skipping_conflicts(session: Session, table: sa.Table, *conflict_columns):
    """INSERT … ON CONFLICT DO NOTHING in this session's dialect (PostgreSQL or SQLite)."""
    insert = dialect_insert(session.get_bind().dialect.name)
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns) or None)


def insert_ignore(session: Session, model: type[SQLModel], **values) -> None:
    """INSERT … ON CONFLICT DO NOTHING, so racing transactions can both 'create if missing'."""
    session.execute(insert_skipping_conflicts(session, model.__table__).values(**values))


_SQLITE_GUARDS = [
    """CREATE TRIGGER IF NOT EXISTS auditevent_no_update BEFORE UPDATE ON auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS auditevent_no_delete BEFORE DELETE ON auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    # Dropped and created again so a database made before a column joined the list gets it.
    "DROP TRIGGER IF EXISTS invoice_final_money",
    """CREATE TRIGGER invoice_final_money BEFORE UPDATE ON invoice
       WHEN OLD.status <> 'draft' AND (NEW.total IS NOT OLD.total OR NEW.currency IS NOT
       OLD.currency OR NEW.number IS NOT OLD.number OR NEW.customer_id IS NOT OLD.customer_id
       OR NEW.bill_to IS NOT OLD.bill_to)
       BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be changed'); END""",
    "DROP TRIGGER IF EXISTS receipt_issued",
    """CREATE TRIGGER receipt_issued BEFORE UPDATE ON receipt
       WHEN NEW.amount IS NOT OLD.amount OR NEW.currency IS NOT OLD.currency OR NEW.number IS NOT
       OLD.number OR NEW.invoice_id IS NOT OLD.invoice_id OR NEW.bill_to IS NOT OLD.bill_to
       BEGIN SELECT RAISE(ABORT, 'an issued receipt cannot be changed'); END""",
]

_POSTGRES_GUARDS = [
    """CREATE OR REPLACE FUNCTION portal_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit events are append-only'; END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS auditevent_append_only ON auditevent",
    """CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent
       FOR EACH ROW EXECUTE FUNCTION portal_append_only()""",
    """CREATE OR REPLACE FUNCTION portal_invoice_final_money() RETURNS trigger AS $$
       BEGIN
         IF OLD.status <> 'draft' AND (NEW.total IS DISTINCT FROM OLD.total
            OR NEW.currency IS DISTINCT FROM OLD.currency OR NEW.number IS DISTINCT FROM
            OLD.number OR NEW.customer_id IS DISTINCT FROM OLD.customer_id
            OR NEW.bill_to::jsonb IS DISTINCT FROM OLD.bill_to::jsonb) THEN
           RAISE EXCEPTION 'a finalized invoice cannot be changed';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS invoice_final_money ON invoice",
    """CREATE TRIGGER invoice_final_money BEFORE UPDATE ON invoice
       FOR EACH ROW EXECUTE FUNCTION portal_invoice_final_money()""",
    """CREATE OR REPLACE FUNCTION portal_receipt_issued() RETURNS trigger AS $$
       BEGIN
         IF NEW.amount IS DISTINCT FROM OLD.amount OR NEW.currency IS DISTINCT FROM OLD.currency
            OR NEW.number IS DISTINCT FROM OLD.number
            OR NEW.invoice_id IS DISTINCT FROM OLD.invoice_id
            OR NEW.bill_to::jsonb IS DISTINCT FROM OLD.bill_to::jsonb THEN
           RAISE EXCEPTION 'an issued receipt cannot be changed';
         END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS receipt_issued ON receipt",
    """CREATE TRIGGER receipt_issued BEFORE UPDATE ON receipt
       FOR EACH ROW EXECUTE FUNCTION portal_receipt_issued()""",
]


def install_guards(engine: sa.Engine) -> None:
    """Database-level last lines of defence, idempotent: audit rows are append-only, and a
    finalized invoice's money columns and bill-to, like an issued receipt's, never change,
    whatever code (or person) runs SQL."""
    statements = _POSTGRES_GUARDS if engine.dialect.name == "postgresql" else _SQLITE_GUARDS
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
