"""The audit chain detects edited, deleted and truncated events."""

import itertools

import pytest
import sqlalchemy as sa
from sqlmodel import select

from portal_app.models import AuditEvent
from portal_app.services import audit


def _write(session, clock, merchant_id, n):
    for i in range(n):
        audit.record(
            session,
            clock,
            merchant_id=merchant_id,
            actor=audit.Actor.customer(5, ip="127.0.0.1", user_agent="pytest"),
            action="profile.update",
            target_type="customer",
            target_id=5,
            before={"name": f"v{i}"},
            after={"name": f"v{i + 1}"},
        )


def _as_attacker(session):
    """Someone with DDL rights drops the append-only triggers first."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("DROP TRIGGER IF EXISTS auditevent_append_only ON auditevent"))
    else:
        session.execute(sa.text("DROP TRIGGER IF EXISTS auditevent_no_update"))
        session.execute(sa.text("DROP TRIGGER IF EXISTS auditevent_no_delete"))


def test_database_refuses_update_and_delete(session, clock, catalog):
    _write(session, clock, catalog.merchant.id, 2)
    session.commit()
    for statement in (
        sa.update(AuditEvent).where(AuditEvent.seq == 1).values(action="x"),
        sa.delete(AuditEvent).where(AuditEvent.seq == 2),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            session.execute(statement)
        session.rollback()
    assert audit.verify_chain(session, catalog.merchant.id).ok


def test_chain_verifies_and_links(session, clock, catalog):
    _write(session, clock, catalog.merchant.id, 5)
    events = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert events[0].customer_id == 5
    report = audit.verify_chain(session, catalog.merchant.id)
    assert report.ok and report.checked == 5


def test_edited_row_is_detected(session, clock, catalog):
    _write(session, clock, catalog.merchant.id, 5)
    _as_attacker(session)
    session.execute(
        sa.update(AuditEvent).where(AuditEvent.seq == 3).values(after={"name": "forged"})
    )
    report = audit.verify_chain(session, catalog.merchant.id)
    assert not report.ok and report.first_bad_seq == 3


def test_deleted_row_is_detected(session, clock, catalog):
    _write(session, clock, catalog.merchant.id, 5)
    _as_attacker(session)
    session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 2))
    report = audit.verify_chain(session, catalog.merchant.id)
    assert not report.ok and report.first_bad_seq == 2


def test_truncated_tail_is_detected(session, clock, catalog):
    _write(session, clock, catalog.merchant.id, 5)
    _as_attacker(session)
    session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 5))
    report = audit.verify_chain(session, catalog.merchant.id)
    assert not report.ok and "newest" in report.problem
