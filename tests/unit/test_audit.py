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


def _report_after(session, clock, merchant_id, tampering):
    """Five events written, then `tampering` run behind the app's back; the full check's report."""
    _write(session, clock, merchant_id, 5)
    _as_attacker(session)
    session.execute(tampering)
    return audit.verify_chain(session, merchant_id)


def test_edited_row_is_detected(session, clock, catalog):
    forge = sa.update(AuditEvent).where(AuditEvent.seq == 3).values(after={"name": "forged"})
    report = _report_after(session, clock, catalog.merchant.id, forge)
    assert not report.ok and report.first_bad_seq == 3


def test_deleted_row_is_detected(session, clock, catalog):
    delete = sa.delete(AuditEvent).where(AuditEvent.seq == 2)
    report = _report_after(session, clock, catalog.merchant.id, delete)
    assert not report.ok and report.first_bad_seq == 2


def test_truncated_tail_is_detected(session, clock, catalog):
    truncate = sa.delete(AuditEvent).where(AuditEvent.seq == 5)
    report = _report_after(session, clock, catalog.merchant.id, truncate)
    assert not report.ok and "newest" in report.problem


# --- verification from a checkpoint (what the dashboard runs on every load) ----------------------


def test_recent_check_moves_a_checkpoint_and_then_checks_only_new_events(session, clock, catalog):
    merchant_id = catalog.merchant.id
    _write(session, clock, merchant_id, 5)
    first = audit.verify_recent(session, clock, merchant_id)
    assert first.ok and first.checked == 5 and first.complete
    _write(session, clock, merchant_id, 3)
    second = audit.verify_recent(session, clock, merchant_id)
    assert second.ok and second.checked == 3 and second.from_seq == 5 and second.complete
    again = audit.verify_recent(session, clock, merchant_id)
    assert again.ok and again.checked == 0 and again.last_seq == 8


def test_recent_check_is_bounded_and_catches_up_over_loads(session, clock, catalog):
    merchant_id = catalog.merchant.id
    _write(session, clock, merchant_id, 25)
    reports = [audit.verify_recent(session, clock, merchant_id, limit=10) for _ in range(3)]
    assert [r.checked for r in reports] == [10, 10, 5]
    assert [r.complete for r in reports] == [False, False, True]
    assert audit.verify_recent(session, clock, merchant_id, limit=10).last_seq == 25


def _recent_report_after(session, clock, merchant_id, count, tampering):
    """`count` events checked (a checkpoint), `count` more written, then `tampering` run behind
    the app's back; the dashboard check's report."""
    _write(session, clock, merchant_id, count)
    assert audit.verify_recent(session, clock, merchant_id).ok
    _write(session, clock, merchant_id, count)
    _as_attacker(session)
    session.execute(tampering)
    return audit.verify_recent(session, clock, merchant_id)


def test_recent_check_detects_an_edit_after_the_checkpoint(session, clock, catalog):
    merchant_id = catalog.merchant.id
    forge = sa.update(AuditEvent).where(AuditEvent.seq == 6).values(after={"name": "forged"})
    report = _recent_report_after(session, clock, merchant_id, 4, forge)
    assert not report.ok and report.first_bad_seq == 6
    # a broken chain never moves the checkpoint: the next load says so again
    assert audit.verify_recent(session, clock, merchant_id).first_bad_seq == 6


def test_recent_check_detects_an_edited_or_deleted_checkpoint_event(session, clock, catalog):
    merchant_id = catalog.merchant.id
    _write(session, clock, merchant_id, 4)
    assert audit.verify_recent(session, clock, merchant_id).last_seq == 4
    _as_attacker(session)
    session.execute(sa.update(AuditEvent).where(AuditEvent.seq == 4).values(action="forged"))
    edited = audit.verify_recent(session, clock, merchant_id)
    assert not edited.ok and edited.first_bad_seq == 4
    session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 4))
    deleted = audit.verify_recent(session, clock, merchant_id)
    assert not deleted.ok and "missing" in deleted.problem


def test_edits_behind_the_checkpoint_are_left_to_the_full_check(session, clock, catalog):
    """The trade-off, stated: the dashboard's check trusts what it verified before; the full
    walk (`portal audit-verify`, the audit page's button) still finds an older edit."""
    merchant_id = catalog.merchant.id
    _write(session, clock, merchant_id, 6)
    assert audit.verify_recent(session, clock, merchant_id).ok
    _as_attacker(session)
    session.execute(sa.update(AuditEvent).where(AuditEvent.seq == 2).values(action="forged"))
    assert audit.verify_recent(session, clock, merchant_id).ok
    full = audit.verify_chain(session, merchant_id)
    assert not full.ok and full.first_bad_seq == 2


def test_truncated_tail_is_detected_from_a_checkpoint(session, clock, catalog):
    truncate = sa.delete(AuditEvent).where(AuditEvent.seq == 6)
    report = _recent_report_after(session, clock, catalog.merchant.id, 3, truncate)
    assert not report.ok and "newest" in report.problem
