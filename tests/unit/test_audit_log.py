"""The merchant's audit log: filters, pagination, CSV export with formula escaping, and the
staff-only state around it (incl. the test clock)."""

import csv
import io
from datetime import timedelta

from sqlmodel import Session, select

from portal_app.models import Invoice, Merchant
from portal_app.services import audit, audit_log
from portal_app.state import MerchantAuditState, MerchantBillingState
from tests.statekit import call, root_with, run
from tests.unit.helpers_staff import a_customer_calls


def _events(session, clock, merchant_id):
    for i, (actor, action) in enumerate(
        [
            (audit.Actor.customer(5), "profile.update"),
            (audit.Actor.customer(6), "subscription.cancel"),
            (audit.Actor.merchant(1), "settings.update"),
            (audit.Actor.customer(5), "subscription.pause"),
        ]
    ):
        clock.advance(timedelta(days=1))
        audit.record(
            session,
            clock,
            merchant_id=merchant_id,
            actor=actor,
            action=action,
            target_type="x",
            target_id=i,
            after={"name": '=HYPERLINK("http://evil")'},
        )


def test_filters_and_pages(session, clock, catalog):
    merchant_id = catalog.merchant.id
    _events(session, clock, merchant_id)
    rows, total = audit_log.page(session, merchant_id, audit_log.AuditFilter(), 1, size=3)
    assert total == 4 and [r.seq for r in rows] == [4, 3, 2]
    by_customer = audit_log.AuditFilter(customer_id=5)
    assert [r.action for r in audit_log.page(session, merchant_id, by_customer, 1)[0]] == [
        "subscription.pause",
        "profile.update",
    ]
    prefix = audit_log.AuditFilter(action="subscription.")
    assert audit_log.page(session, merchant_id, prefix, 1)[1] == 2
    staff = audit_log.AuditFilter(actor="merchant:1")
    assert [r.action for r in audit_log.page(session, merchant_id, staff, 1)[0]] == [
        "settings.update"
    ]
    since = audit_log.AuditFilter(since=clock.now() - timedelta(days=1, hours=1))
    assert audit_log.page(session, merchant_id, since, 1)[1] == 2
    like_wildcard = audit_log.AuditFilter(action="%")
    assert audit_log.page(session, merchant_id, like_wildcard, 1)[1] == 0


def test_csv_export_escapes_formulas(session, clock, catalog):
    _events(session, clock, catalog.merchant.id)
    text = audit_log.export_csv(session, catalog.merchant.id, audit_log.AuditFilter())
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["seq", "created_at", "actor_type"]
    assert len(rows) == 5
    after = rows[1][audit_log.CSV_COLUMNS.index("after")]
    assert after.startswith("{")  # JSON text, not a formula
    for value in ("=1+1", "+1", "-1", "@SUM(A1)", "plain"):
        cell = audit_log.safe_cell(value)
        assert not cell.startswith(("=", "+", "-", "@"))
        assert cell.endswith(value)


def test_staff_audit_state_and_export(app_db):
    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantAuditState, "load")
        state = await root.get_state(MerchantAuditState)
        chain, total = state.chain, state.total
        await call(root, MerchantAuditState, "search", {"customer": "abc"})
        error = state.error
        download = await call(root, MerchantAuditState, "export")
        return chain, total, error, download

    chain, total, error, download = run(scenario())
    assert chain.startswith("Audit chain intact (") and total > 0
    assert "customer id" in error
    assert "audit-log.csv" in str(download)


def test_customers_cannot_read_the_audit_log(app_db):
    result, state = a_customer_calls(app_db, MerchantAuditState, "export")
    assert "/merchant/login" in str(result) and state.rows == []


def test_test_clock_from_the_dashboard(app_db):
    engine = app_db["engine"]
    with Session(engine) as session:
        merchant = session.get(Merchant, app_db["merchant"].id)
        merchant.is_demo = True
        session.add(merchant)
        session.commit()

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantBillingState, "load")
        chained = await call(root, MerchantBillingState, "start_advance", 30)
        state = await root.get_state(MerchantBillingState)
        working = state.working
        await call(root, MerchantBillingState, "advance", 30)
        return chained, working, state.working, state.last_report

    chained, working_before, working_after, report = run(scenario())
    assert "advance" in str(chained) and working_before and not working_after
    assert "renewals" in report
    with Session(engine) as session:
        assert session.get(Merchant, app_db["merchant"].id).clock_offset_seconds == 30 * 86400
        assert session.exec(select(Invoice)).all()
