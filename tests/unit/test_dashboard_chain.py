"""The dashboard and the audit page verify the chain from a checkpoint, not from the start; the
audit page's button still walks all of it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from portal_app.models import AuditCheckpoint, AuditEvent
from portal_app.services import audit
from portal_app.state import MerchantState, merchant_audit
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_audit import MerchantAuditState
from tests.statekit import call, root_with, run


def _checkpoint(engine, merchant_id):
    with Session(engine) as session:
        point = session.get(AuditCheckpoint, merchant_id)
        return (point.seq, point.hash) if point else None


def _head_seq(engine, merchant_id):
    with Session(engine) as session:
        return session.execute(
            sa.select(sa.func.max(AuditEvent.seq)).where(AuditEvent.merchant_id == merchant_id)
        ).scalar_one()


def _tamper(engine, seq):
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER IF EXISTS auditevent_no_update"))
        conn.execute(sa.update(AuditEvent).where(AuditEvent.seq == seq).values(action="forged"))


def test_dashboard_load_moves_the_checkpoint_to_the_head(app_db):
    merchant_id = app_db["merchant"].id
    assert _checkpoint(app_db["engine"], merchant_id) is None

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantState, "load")
        return (await root.get_state(MerchantState)).audit_status

    status = run(scenario())
    seq, _ = _checkpoint(app_db["engine"], merchant_id)
    # the load itself may append (the session check), so compare with the head after it
    assert seq >= _head_seq(app_db["engine"], merchant_id) - 1
    assert status.startswith("Audit chain intact (")


def test_an_edit_behind_the_checkpoint_is_found_by_the_full_check_only(app_db, monkeypatch):
    monkeypatch.setattr(merchant_audit, "FULL_CHECK_STEP", 2)  # several steps, with progress
    staff_sid = app_db["sessions"]["staff"]

    async def dashboard():
        root = root_with(staff_sid=staff_sid)
        await call(root, MerchantState, "load")
        return (await root.get_state(MerchantState)).audit_status

    async def full_check():
        root = root_with(staff_sid=staff_sid)
        await call(root, MerchantAuditState, "load")
        await call(root, MerchantAuditState, "start_full_check")
        state = await root.get_state(MerchantAuditState)
        while state.verifying:
            await call(root, MerchantAuditState, "full_check_step")
        return state

    run(dashboard())
    _tamper(app_db["engine"], 2)
    assert "intact" in run(dashboard())
    state = run(full_check())
    assert "BROKEN at event 2" in state.full_check and "BROKEN" in state.chain
    assert not state.verifying


def test_a_broken_link_after_the_checkpoint_shows_on_the_dashboard(app_db):
    merchant_id = app_db["merchant"].id
    staff_sid = app_db["sessions"]["staff"]

    async def dashboard():
        root = root_with(staff_sid=staff_sid)
        await call(root, MerchantState, "load")
        return (await root.get_state(MerchantState)).audit_status

    run(dashboard())
    with Session(app_db["engine"]) as session:
        for n in range(3):
            audit.record(
                session,
                CLOCK,
                merchant_id=merchant_id,
                actor=audit.SYSTEM,
                action="test.event",
                target_id=n,
            )
        session.commit()
    bad = _head_seq(app_db["engine"], merchant_id) - 1
    _tamper(app_db["engine"], bad)
    assert f"BROKEN at event {bad}" in run(dashboard())


def test_the_full_check_runs_in_steps_and_moves_the_checkpoint(app_db, monkeypatch):
    monkeypatch.setattr(merchant_audit, "FULL_CHECK_STEP", 3)
    merchant_id = app_db["merchant"].id

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantAuditState, "start_full_check")
        state = await root.get_state(MerchantAuditState)
        progress = []
        while state.verifying:
            progress.append(state.full_check)
            await call(root, MerchantAuditState, "full_check_step")
        return progress, state.full_check

    progress, result = run(scenario())
    head = _head_seq(app_db["engine"], merchant_id)
    assert len(progress) >= 2 and any(line.startswith("Checked 3 of") for line in progress)
    assert result.startswith("Full check: all ") and "intact" in result
    assert _checkpoint(app_db["engine"], merchant_id)[0] >= head - 1
