"""The audit chain detects edited, deleted and truncated events."""

import itertools

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
    session.execute(
        sa.update(AuditEvent).where(AuditEvent.seq == 3).values(after={"name": "forged"})
    )
    report = audit.verify_chain(session, catalog.merchant.id)
    assert not report.ok and report.first_bad_seq == 3


def test_deleted_row_is_detected(session, clock, catalog):
    _write(session, clock, catalog.merchant.id, 5)
    session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 2))
    report = audit.verify_chain(session, catalog.merchant.id)
    assert not report.ok and report.first_bad_seq == 2


def test_truncated_tail_is_detected(session, clock, catalog):
    _write(session, clock, catalog.merchant.id, 5)
    session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 5))
    report = audit.verify_chain(session, catalog.merchant.id)
    assert not report.ok and "newest" in report.problem
