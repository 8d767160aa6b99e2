"""Staff → Payments refunds through the state: an admin refunds part of a payment (a double
submit refunds once), the amount as typed is checked, a viewer and support can't, and only a
payment of this page's rows can be opened."""

from __future__ import annotations

from sqlmodel import Session, select

from portal_app.models import CreditNote, Payment
from portal_app.services.sandbox_gateway import SandboxGateway
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_payments import MerchantPaymentsState as Payments
from tests import factories
from tests.statekit import call, run
from tests.unit.helpers_staff import staff_as, staff_page


def _paid_payment(app_db) -> Payment:
    with Session(app_db["engine"], expire_on_commit=False) as session:
        outcome = factories.pay_invoice(
            session, CLOCK, SandboxGateway(), app_db["bob"], app_db["bob_invoice"]
        )
        assert outcome.succeeded
        session.commit()
        return session.get(Payment, outcome.payment_id)


def _notes(app_db) -> list[CreditNote]:
    with Session(app_db["engine"]) as session:
        return list(session.exec(select(CreditNote)))


def test_an_admin_refunds_part_of_a_payment_once(app_db):
    payment = _paid_payment(app_db)
    admin = staff_as(app_db, "admin")

    async def scenario():
        root, state = await staff_page(admin, Payments, "load")
        row = next(r for r in state.rows if r["id"] == str(payment.id))
        assert row["left"] == "12.34"
        await call(root, Payments, "open_refund", "999999")  # not a row of this page
        assert state.refund_row == {}
        await call(root, Payments, "open_refund", str(payment.id))
        assert state.refund_row["id"] == str(payment.id)
        await call(root, Payments, "refund", {"amount": "12.35", "reason": "duplicate"})
        assert state.refund_error == "At most $12.34 is left to refund of this payment."
        await call(root, Payments, "refund", {"amount": "1.2.3", "reason": "duplicate"})
        assert state.refund_error.startswith("Enter the amount to refund")
        assert _notes(app_db) == []
        form = {"amount": "2.34", "reason": "duplicate", "memo": "charged twice"}
        key = state._refund_key
        await call(root, Payments, "refund", form)
        assert state.refund_row == {}
        # A second submit of the same dialog (a double click) carries the same key.
        state.refund_row, state._refund_key = dict(row), key
        await call(root, Payments, "refund", form)
        row = next(r for r in state.rows if r["id"] == str(payment.id))
        assert (row["refunded"], row["left"]) == ("$2.34", "10.00")

    run(scenario())
    notes = _notes(app_db)
    assert [(n.amount, n.reason, n.memo) for n in notes] == [(234, "duplicate", "charged twice")]


def test_viewers_and_support_cannot_refund(app_db):
    payment = _paid_payment(app_db)
    for role in ("viewer", "support"):
        sid = staff_as(app_db, role)

        async def scenario(sid=sid):
            root, state = await staff_page(sid, Payments, "load")
            await call(root, Payments, "open_refund", str(payment.id))
            assert state.refund_row == {}
            state.refund_row = {"id": str(payment.id), "left": "12.34"}
            state._refund_key = "forged-key-123"
            await call(root, Payments, "refund", {"amount": "1.00", "reason": "other"})

        run(scenario())
    assert _notes(app_db) == []
