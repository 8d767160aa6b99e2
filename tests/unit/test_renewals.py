"""The bulk renewal path writes what the one-by-one path writes."""

from datetime import timedelta

from sqlmodel import Session, select

from portal_app.models import (
    AuditEvent,
    InvoiceLine,
    NotificationPreference,
    OutboxEmail,
    Payment,
    Receipt,
    SandboxCharge,
    Subscription,
)
from portal_app.services import audit, billing_clock, renewals
from tests import factories

ACTOR = audit.Actor.customer(1)


def _customers(session, clock, gateway, catalog, numbers):
    subs = []
    for n, number in enumerate(numbers):
        customer = factories.make_customer(session, clock, catalog.merchant, f"c{n}@example.com")
        factories.add_gateway_card(session, clock, gateway, customer, number)
        subs.append(
            factories.subscribe(
                session, clock, gateway, customer, catalog.monthly["Pro"], actor=ACTOR
            )
        )
    return subs


def test_plain_candidates_exclude_special_cases(session, clock, gateway, catalog):
    plain, canceling, discounted, changing = _customers(
        session, clock, gateway, catalog, ["4242424242424242"] * 4
    )

    def owner(sub):
        return session.get(factories.Customer, sub.customer_id)

    factories.cancel_subscription(
        session, clock, owner(canceling), canceling, at_period_end=True, actor=ACTOR
    )
    discounted.discount_percent, discounted.discount_cycles_remaining = 10, 1
    session.add(discounted)
    basic = catalog.monthly["Basic"]
    factories.change_plan(session, clock, gateway, owner(changing), changing, basic, actor=ACTOR)
    session.flush()
    ids = [s.id for s in (plain, canceling, discounted, changing)]
    assert [c.subscription_id for c in renewals.plain_candidates(session, ids)] == [plain.id]


def test_bulk_renewal_matches_the_one_by_one_rules(engine, session, clock, gateway, catalog):
    subs = _customers(
        session,
        clock,
        gateway,
        catalog,
        ["4242424242424242", "4242424242424242", "5555555555554444"],
    )
    declining = session.get(Subscription, subs[1].id)
    factories.add_gateway_card(
        session,
        clock,
        gateway,
        session.get(factories.Customer, declining.customer_id),
        "4000000000000341",
    )
    quiet = subs[2]
    session.add(NotificationPreference(customer_id=quiet.customer_id, receipts=False))
    session.commit()
    clock.advance(timedelta(days=31, hours=1))  # past the renewal, before the first retry
    report = billing_clock.advance(engine, clock, gateway)
    assert (report.renewed, report.charged, report.payment_failed) == (3, 2, 1)
    with Session(engine) as s:
        renewals_ = factories.renewal_invoices(s)
        assert [i.number for i in renewals_] == [4, 5, 6]
        assert [i.status for i in renewals_] == ["paid", "open", "paid"]
        for invoice in renewals_:
            lines = s.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).all()
            assert sum(line.amount for line in lines) == invoice.total == 2000
            assert invoice.created_at == subs[0].current_period_end
        declined = renewals_[1]
        assert declined.next_retry_at == declined.finalized_at + timedelta(days=1)
        assert s.get(Subscription, subs[1].id).status == "past_due"
        assert s.get(Subscription, subs[0].id).version == subs[0].version + 1
        receipts = s.exec(select(Receipt).order_by(Receipt.number)).all()
        assert [r.number for r in receipts] == [1, 2, 3, 4, 5]
        payments = s.exec(select(Payment).where(Payment.invoice_id == declined.id)).all()
        assert [(p.status, p.failure_code) for p in payments] == [("failed", "card_declined")]
        assert len(s.exec(select(SandboxCharge)).all()) == 6
        mail = [
            (m.customer_id, m.kind)
            for m in s.exec(
                select(OutboxEmail).where(OutboxEmail.created_at > clock.now() - timedelta(days=5))
            )
        ]
        assert (subs[0].customer_id, "receipt") in mail
        assert (subs[1].customer_id, "invoice_reminder") in mail
        assert (quiet.customer_id, "receipt") not in mail
        renew_event = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "subscription.renew",
                AuditEvent.target_id == str(subs[1].id),
            )
        ).one()
        assert renew_event.result == "failed"
        assert renew_event.after["invoice_id"] == declined.id
        assert renew_event.after["payment"] == "failed"
        assert audit.verify_chain(s, catalog.merchant.id).ok
