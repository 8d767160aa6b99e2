"""Stripe (localstripe) unreachable during a renewal run: the run reports it, nothing is marked
paid and nothing is half-written; the next run, with Stripe back, charges each renewal once."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from portal_app.models import Invoice, InvoiceStatus, Payment, StripeCustomer
from portal_app.services import billing_clock
from tests import factories, localstripe_peer
from tests.gateways import Contract, stripe_gateway
from tests.localstripe_peer import StripeJs

RENEWALS = 5


def _intents_of(localstripe, stripe_ids: set[str]) -> list[dict]:
    found, after = [], None
    while True:
        page = localstripe.api(
            "GET", "/v1/payment_intents", limit=100, **({"starting_after": after} if after else {})
        )
        found += [pi for pi in page["data"] if pi["customer"] in stripe_ids]
        if not page["has_more"]:
            return found
        after = page["data"][-1]["id"]


def test_renewals_while_stripe_is_down_charge_once_when_it_is_back(engine, clock, localstripe):
    gateway = stripe_gateway(localstripe.base, "renewals-down")
    down = stripe_gateway(f"http://127.0.0.1:{localstripe_peer.free_port()}", "renewals-down")
    contract = Contract(gateway, StripeJs(localstripe.base))
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, clock)
        for n in range(RENEWALS):
            customer = factories.make_customer(
                session, clock, catalog.merchant, f"r{n}@example.com"
            )
            contract.add_card(session, clock, customer)
            factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
        session.commit()
        stripe_ids = {row.stripe_id for row in session.exec(select(StripeCustomer))}
    first_charges = len(_intents_of(localstripe, stripe_ids))
    assert first_charges == RENEWALS

    clock.advance(timedelta(days=32))
    report = billing_clock.advance(engine, clock, down)
    assert report.errors == RENEWALS and report.charged == 0 and report.renewed == 0
    with Session(engine) as session:
        assert (
            session.exec(
                select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
            ).all()
            == []
        )
        assert len(session.exec(select(Payment)).all()) == RENEWALS  # the first periods only
    assert len(_intents_of(localstripe, stripe_ids)) == first_charges

    again = billing_clock.advance(engine, clock, gateway)
    assert again.charged == RENEWALS and again.errors == 0
    with Session(engine) as session:
        renewed = session.exec(
            select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
        ).all()
        assert len(renewed) == RENEWALS
        assert {invoice.status for invoice in renewed} == {InvoiceStatus.PAID}
    assert len(_intents_of(localstripe, stripe_ids)) == first_charges + RENEWALS
    # A third run finds nothing due and charges nothing.
    assert billing_clock.advance(engine, clock, gateway).charged == 0
    assert len(_intents_of(localstripe, stripe_ids)) == first_charges + RENEWALS
