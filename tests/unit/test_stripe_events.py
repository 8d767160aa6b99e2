"""Stripe's webhooks in: the signature check, each event taken once, out-of-order deliveries, the
card updater, disputes; and localstripe delivering a real event into `POST /webhooks/stripe` of
a running server, which settles an invoice that waited for 3-D Secure."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest
from sqlmodel import Session, select

from portal_app.models import Invoice, InvoiceStatus, OutboxEmail, Payment, StripeEvent
from portal_app.services import audit, invoices, stripe_events
from tests import factories, localstripe_peer
from tests.api_server import serve
from tests.gateways import THREE_D_SECURE, VISA, Contract, stripe_gateway
from tests.localstripe_peer import StripeJs

SECRET = localstripe_peer.WEBHOOK_SECRET


def signed(body: dict, secret: str = SECRET, at: int | None = None) -> tuple[bytes, str]:
    """Stripe's scheme, written out here independently: HMAC-SHA256 of "<t>.<payload>"."""
    payload = json.dumps(body).encode()
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={at},v1={digest}"


def event(kind: str, obj: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:14]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": obj},
    }


@pytest.fixture
def stripe_side(session, clock, customer, localstripe):
    contract = Contract(stripe_gateway(localstripe.base), StripeJs(localstripe.base))
    return contract


def test_bad_old_or_missing_signatures_are_refused():
    body = event("payment_intent.succeeded", {"id": "pi_x"})
    payload, header = signed(body)
    assert stripe_events.verify(payload, header, SECRET)["id"] == body["id"]
    for bad_payload, bad_header in [
        (payload, None),
        (payload, signed(body, secret="whsec_other")[1]),
        (payload + b" ", header),  # the body changed after signing
        (payload, signed(body, at=int(time.time()) - 301)[1]),  # older than 5 minutes
        (b"not json", signed({"x": 1})[1]),
    ]:
        with pytest.raises(stripe_events.BadSignature):
            stripe_events.verify(bad_payload, bad_header, SECRET)


def test_a_waiting_charge_is_settled_once_however_often_and_in_whatever_order(
    session, clock, customer, stripe_side
):
    card = stripe_side.add_card(session, clock, customer, THREE_D_SECURE)
    invoice = factories.finalized_invoice(session, clock, customer, amount=4200)
    invoices.collect(session, clock, stripe_side.gateway, invoice, card, audit.SYSTEM)
    waiting = factories.payment_of(session, invoice)
    gateway = stripe_side.gateway
    obj = {"id": waiting.gateway_charge_id, "object": "payment_intent"}

    # Still waiting at Stripe: a requires_action event changes nothing.
    early = stripe_events.take(
        session, clock, gateway, event("payment_intent.requires_action", obj)
    )
    assert early.outcome == "ignored"
    stripe_side.js.authenticate_payment(
        gateway.client_secret(session, clock, waiting.gateway_charge_id), True
    )
    # A stale payment_failed arrives after the customer confirmed: Stripe says succeeded.
    first = stripe_events.take(session, clock, gateway, event("payment_intent.payment_failed", obj))
    assert first.outcome == "applied"
    succeeded = event("payment_intent.succeeded", obj)
    assert stripe_events.take(session, clock, gateway, succeeded).outcome == "ignored"
    assert stripe_events.take(session, clock, gateway, succeeded).outcome == "duplicate"
    session.refresh(invoice)
    assert invoice.status == InvoiceStatus.PAID
    paid = session.exec(
        select(Payment).where(Payment.invoice_id == invoice.id, Payment.status == "succeeded")
    ).all()
    assert len(paid) == 1
    assert len(session.exec(select(StripeEvent)).all()) == 3


def test_the_card_updater_changes_the_card_we_show(
    session, clock, customer, stripe_side, localstripe
):
    card = stripe_side.add_card(session, clock, customer, VISA)
    # Stripe's card updater gave the card a new number and expiry.
    localstripe.api(
        "POST",
        f"/v1/payment_methods/{card.gateway_token}",
        card={"brand": "visa", "last4": "1881", "exp_month": 9, "exp_year": 2033},
    )
    kind = "payment_method.automatically_updated"
    taken = stripe_events.take(
        session, clock, stripe_side.gateway, event(kind, {"id": card.gateway_token})
    )
    assert taken.outcome == "applied"
    session.refresh(card)
    assert (card.last4, card.exp_month, card.exp_year) == ("1881", 9, 2033)
    again = stripe_events.take(
        session,
        clock,
        stripe_side.gateway,
        event("payment_method.updated", {"id": card.gateway_token}),
    )
    assert again.outcome == "ignored"  # nothing new
    assert len(factories.audit_events(session, "payment_method.updated_by_gateway")) == 1


def test_a_dispute_marks_the_invoice_and_mails_the_admins(
    session, clock, catalog, customer, stripe_side
):
    factories.make_staff(session, clock, catalog.merchant, "owner@example.com", role="owner")
    factories.make_staff(session, clock, catalog.merchant, "viewer@example.com", role="viewer")
    invoice, charge = factories.paid_with_a_new_card(session, clock, stripe_side, customer, 9900)
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 9900,
        "reason": "fraudulent",
        "payment_intent": charge.gateway_charge_id,
    }
    taken = stripe_events.take(
        session, clock, stripe_side.gateway, event("charge.dispute.created", dispute)
    )
    assert taken.outcome == "applied"
    session.refresh(invoice)
    assert invoice.disputed_at == clock.now()
    mails = session.exec(select(OutboxEmail).where(OutboxEmail.kind == "payment_disputed")).all()
    assert [m.to_address for m in mails] == ["owner@example.com"]
    assert "fraudulent" in mails[0].body and "$99.00" in mails[0].body
    # The same dispute again (a new event id, as a resent event has): nothing twice.
    again = stripe_events.take(
        session, clock, stripe_side.gateway, event("charge.dispute.created", dispute)
    )
    assert again.outcome == "ignored"
    assert (
        len(session.exec(select(OutboxEmail).where(OutboxEmail.kind == "payment_disputed")).all())
        == 1
    )


def test_a_refund_made_in_stripes_dashboard_is_audited_ours_is_not(
    session, clock, customer, stripe_side
):
    from portal_app.services import refunds

    _, payment = factories.paid_with_a_new_card(session, clock, stripe_side, customer, 3000)
    refunds.refund_payment(
        session,
        clock,
        stripe_side.gateway,
        merchant_id=payment.merchant_id,
        payment_id=payment.id,
        amount=1000,
        reason="duplicate",
        request_key="ours-00001",
        actor=audit.SYSTEM,
    )
    charge = {"id": "ch_x", "payment_intent": payment.gateway_charge_id}
    ours = event("charge.refunded", {**charge, "amount_refunded": 1000})
    assert stripe_events.take(session, clock, stripe_side.gateway, ours).outcome == "ignored"
    theirs = event("charge.refunded", {**charge, "amount_refunded": 1500})
    assert stripe_events.take(session, clock, stripe_side.gateway, theirs).outcome == "applied"
    [noted] = factories.audit_events(session, "payment.refunded_at_gateway")
    assert noted.after == {"amount_refunded": 1500}


def test_a_card_set_up_while_the_browser_went_away_is_saved_once(
    session, clock, customer, stripe_side
):
    from portal_app.services import payment_methods

    setup = payment_methods.start_card_setup(
        session,
        clock,
        stripe_side.gateway,
        customer_id=customer.id,
        actor=audit.Actor.customer(customer.id),
    )
    stripe_side.js.confirm_card_setup(setup.client_secret, VISA)  # the tab closed here
    done = event("setup_intent.succeeded", {"id": setup.setup_id, "customer": None})
    stripe_customer = stripe_side.gateway.stripe_customer(session, clock, customer.id)
    done["data"]["object"]["customer"] = stripe_customer
    assert stripe_events.take(session, clock, stripe_side.gateway, done).outcome == "applied"
    cards = payment_methods.list_cards(session, customer.id)
    assert [(c.last4, c.is_default) for c in cards] == [("4242", True)]
    again = event("setup_intent.succeeded", {"id": setup.setup_id, "customer": stripe_customer})
    assert stripe_events.take(session, clock, stripe_side.gateway, again).outcome == "ignored"
    assert len(payment_methods.list_cards(session, customer.id)) == 1


def test_an_event_of_nothing_of_ours_is_taken_and_ignored(session, clock, stripe_side):
    for kind, obj in [
        ("payment_intent.succeeded", {"id": "pi_unknown"}),
        ("charge.refunded", {"id": "ch_1", "payment_intent": "pi_unknown"}),
        ("customer.created", {"id": "cus_1"}),
    ]:
        assert stripe_events.take(
            session, clock, stripe_side.gateway, event(kind, obj)
        ).outcome == ("ignored")


def test_localstripe_delivers_into_our_endpoint(tmp_path, localstripe):
    """The whole path: localstripe signs and posts payment_intent.succeeded to a running server's
    /webhooks/stripe, which settles the invoice that waited for 3-D Secure; a forged post is
    refused with 400 and changes nothing."""
    from portal_app.clock import SystemClock
    from portal_app.db import create_all, make_engine

    install = uuid.uuid4().hex
    clock = SystemClock()
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    engine = make_engine(url)
    create_all(engine)
    gateway = stripe_gateway(localstripe.base, install)
    js = StripeJs(localstripe.base)
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, clock)
        customer = factories.make_customer(session, clock, catalog.merchant)
        card = Contract(gateway, js).add_card(session, clock, customer, THREE_D_SECURE)
        invoice = factories.finalized_invoice(session, clock, customer, amount=1999)
        outcome = invoices.collect(session, clock, gateway, invoice, card, audit.SYSTEM)
        assert outcome.status == "action_required"
        charge_id = factories.payment_of(session, invoice).gateway_charge_id
        session.commit()
    env = {
        "PORTAL_GATEWAY": "stripe",
        "PORTAL_STRIPE_SECRET_KEY": localstripe_peer.SECRET_KEY,
        "PORTAL_STRIPE_PUBLISHABLE_KEY": localstripe_peer.PUBLISHABLE_KEY,
        "PORTAL_STRIPE_WEBHOOK_SECRET": SECRET,
        "PORTAL_STRIPE_API_BASE": localstripe.base,
        "PORTAL_SECRET_KEY": install,
    }
    with serve(tmp_path, url, extra_env=env) as base:
        forged, _ = signed(event("payment_intent.succeeded", {"id": charge_id}))
        refused = httpx.post(
            f"{base}/webhooks/stripe", content=forged, headers={"Stripe-Signature": "t=1,v1=00"}
        )
        assert refused.status_code == 400
        localstripe.add_webhook(f"portal-{install}", f"{base}/webhooks/stripe")
        js.authenticate_payment(gateway.client_secret(None, clock, charge_id), True)
        deadline = time.monotonic() + 20
        status = InvoiceStatus.OPEN
        while time.monotonic() < deadline and status != InvoiceStatus.PAID:
            time.sleep(0.2)
            with Session(engine) as session:
                status = session.get(Invoice, invoice.id).status
        assert status == InvoiceStatus.PAID
        localstripe.add_webhook(f"portal-{install}", "http://127.0.0.1:9/gone")
    with Session(engine) as session:
        taken = session.exec(select(StripeEvent)).all()
        assert "payment_intent.succeeded" in {row.type for row in taken}
        assert (
            len(
                session.exec(
                    select(Payment).where(
                        Payment.invoice_id == invoice.id, Payment.status == "succeeded"
                    )
                ).all()
            )
            == 1
        )
    engine.dispose()
