"""Webhooks: events written with their change, signed per Standard Webhooks (checked with the
`standardwebhooks` package), delivered to a real local receiver through the retry schedule, in
order per customer, with the endpoint's rules (410, 5 days of failures, SSRF, rotation)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from portal_app.clock import FixedClock
from portal_app.models import (
    OutboxEmail,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from portal_app.services import (
    audit,
    billing_clock,
    customer_accounts,
    webhook_delivery,
    webhook_endpoints,
)
from tests import factories
from tests.webhook_receiver import Receiver, Reply

STAFF = audit.Actor.merchant(1)


@pytest.fixture
def allow_private(monkeypatch):
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE", "1")


@pytest.fixture
def shop(session, catalog):
    """The catalog, committed (the tests' services open their own sessions)."""
    session.commit()
    return catalog


# Every secret the test's endpoints were given: the receiver checks each delivery against them.
SECRETS: list[str] = []


@pytest.fixture
def receiver():
    """A local receiver; afterwards every delivery it got must carry a signature that the
    reference library computes for one of the test's secrets."""
    SECRETS.clear()
    r = Receiver().start()
    yield r
    r.stop()
    for got in r.received:
        signatures = got.headers["webhook-signature"].split(" ")
        assert any(_library_signature(secret, got) in signatures for secret in SECRETS), got


@pytest.fixture
def now_clock():
    """A clock at the real time (the reference library refuses timestamps 5 min off)."""
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


def _endpoint(engine, clock, merchant_id, url, **kwargs):
    with Session(engine, expire_on_commit=False) as session:
        endpoint, secret = webhook_endpoints.create_endpoint(
            session, clock, merchant_id=merchant_id, url=url, actor=STAFF, **kwargs
        )
        session.commit()
    SECRETS.append(secret)
    return endpoint, secret


def _customer(engine, clock, merchant_id, email, **values):
    with Session(engine, expire_on_commit=False) as session:
        row = customer_accounts.upsert(
            session, clock, merchant_id=merchant_id, values={"email": email, **values}, actor=STAFF
        ).customer
        session.commit()
    return row


def _rows(engine, model):
    with Session(engine) as session:
        return list(session.exec(select(model).order_by(model.id)))


def _library_signature(secret: str, received) -> str:
    """What the reference library signs for this message (its own HMAC, not ours)."""
    stamp = datetime.fromtimestamp(int(received.headers["webhook-timestamp"]), tz=UTC)
    return Webhook(secret).sign(received.headers["webhook-id"], stamp, received.body)


def _deliver(engine, clock, **kwargs):
    return webhook_delivery.deliver(engine, clock, **kwargs)


def test_a_committed_change_is_delivered_signed_and_verifies(
    engine, now_clock, shop, allow_private, receiver
):
    _, secret = _endpoint(engine, now_clock, shop.merchant.id, receiver.url)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    zoe = _customer(engine, now_clock, shop.merchant.id, "zoe@example.com", name="Zoë")
    report = _deliver(engine, now_clock)
    assert report.succeeded == 1 and len(receiver.received) == 1
    got = receiver.received[0]
    payload = Webhook(secret).verify(got.body, got.headers)  # raises if the signature is wrong
    assert payload["type"] == "customer.created"
    assert payload["data"]["object"] == "customer" and payload["data"]["id"] == zoe.id
    assert payload["data"]["email"] == "zoe@example.com" and payload["data"]["name"] == "Zoë"
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_endpoints.new_secret()).verify(got.body, got.headers)
    (delivery,) = _rows(engine, WebhookDelivery)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.last_response == "ok" and delivery.last_latency_ms >= 0
    # Delivered is delivered: the next run sends nothing.
    assert _deliver(engine, now_clock).attempts == 0 and len(receiver.received) == 1


def test_work_rolled_back_writes_no_event(engine, now_clock, shop, allow_private, receiver):
    _endpoint(engine, now_clock, shop.merchant.id, receiver.url)
    with Session(engine) as session:
        customer_accounts.upsert(
            session,
            now_clock,
            merchant_id=shop.merchant.id,
            values={"email": "gone@example.com"},
            actor=STAFF,
        )
        session.rollback()
    assert _rows(engine, WebhookEvent) == [] and _rows(engine, WebhookDelivery) == []
    _deliver(engine, now_clock)
    assert receiver.received == []


def test_no_endpoint_no_event_and_event_types_filter(engine, now_clock, shop, allow_private):
    _customer(engine, now_clock, shop.merchant.id, "first@example.com")
    assert _rows(engine, WebhookEvent) == []
    _endpoint(
        engine,
        now_clock,
        shop.merchant.id,
        "http://127.0.0.1:9/x",
        event_types=["customer.updated"],
    )
    row = _customer(engine, now_clock, shop.merchant.id, "second@example.com", external_id="u2")
    assert _rows(engine, WebhookEvent) == []
    _customer(engine, now_clock, shop.merchant.id, "second@example.com", external_id="u2", name="B")
    assert [e.type for e in _rows(engine, WebhookEvent)] == ["customer.updated"]
    assert _rows(engine, WebhookEvent)[0].customer_id == row.id
    with (
        Session(engine) as session,
        factories.refused(webhook_endpoints.WebhookError, "unknown_event_type"),
    ):
        webhook_endpoints.create_endpoint(
            session,
            now_clock,
            merchant_id=shop.merchant.id,
            url="http://127.0.0.1:9/y",
            actor=STAFF,
            event_types=["customer.exploded"],
        )


def test_fails_three_times_then_succeeds_on_the_retry_schedule(
    engine, clock, shop, allow_private, receiver
):
    receiver.replies = [Reply(500), Reply(503), Reply(502)]
    _, secret = _endpoint(engine, clock, shop.merchant.id, receiver.url)
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    assert _deliver(engine, clock).retried == 1
    for wait in (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30)):
        clock.advance(wait - timedelta(seconds=1))
        assert _deliver(engine, clock).attempts == 0  # not yet due
        clock.advance(timedelta(seconds=1))
        assert _deliver(engine, clock).attempts == 1
    assert [r.headers["webhook-id"] for r in receiver.received] == [receiver.ids()[0]] * 4
    for got in receiver.received:
        assert got.headers["webhook-signature"] == _library_signature(secret, got)
    attempts = _rows(engine, WebhookAttempt)
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 503), (3, 502), (4, 200)]
    (delivery,) = _rows(engine, WebhookDelivery)
    assert delivery.status == "succeeded"
    (endpoint,) = _rows(engine, WebhookEndpoint)
    assert endpoint.enabled and endpoint.failing_since is None


def test_every_attempt_failing_ends_failed_after_the_last_retry(
    engine, clock, shop, allow_private, receiver
):
    receiver.default = Reply(500)
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    started = clock.now()
    _deliver(engine, clock)
    for wait in webhook_delivery.RETRY_SCHEDULE:
        clock.advance(wait)
        assert _deliver(engine, clock).attempts == 1
    (delivery,) = _rows(engine, WebhookDelivery)
    assert (delivery.status, delivery.attempts) == ("failed", 8)
    assert clock.now() - started == timedelta(hours=27, minutes=35, seconds=5)
    clock.advance(timedelta(days=1))
    assert _deliver(engine, clock).attempts == 0 and len(receiver.received) == 8


def test_a_hang_past_the_timeout_is_a_failed_attempt(engine, clock, shop, allow_private, receiver):
    receiver.replies = [Reply(200, hang=2.0)]
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    assert _deliver(engine, clock, timeout=0.5).retried == 1
    (attempt,) = _rows(engine, WebhookAttempt)
    assert attempt.status_code is None and attempt.error.startswith("Timed out after 0.5 s")
    clock.advance(timedelta(seconds=5))
    assert _deliver(engine, clock).succeeded == 1


def test_429_and_5xx_honour_retry_after(engine, clock, shop, allow_private, receiver):
    receiver.replies = [Reply(429, retry_after="3600"), Reply(503, retry_after="2")]
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    _deliver(engine, clock)
    (delivery,) = _rows(engine, WebhookDelivery)
    assert delivery.next_attempt_at == clock.now() + timedelta(hours=1)
    clock.advance(timedelta(hours=1))
    _deliver(engine, clock)
    (delivery,) = _rows(engine, WebhookDelivery)  # a Retry-After below the schedule: the schedule
    assert delivery.next_attempt_at == clock.now() + timedelta(minutes=5)


def test_410_disables_the_endpoint_and_mails_owners_and_admins(
    engine, clock, shop, allow_private, receiver
):
    with Session(engine) as session:
        factories.make_staff(session, clock, shop.merchant, "owner@example.com", role="owner")
        factories.make_staff(session, clock, shop.merchant, "viewer@example.com", role="viewer")
        session.commit()
    receiver.replies = [Reply(410)]
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    _customer(engine, clock, shop.merchant.id, "ben@example.com")
    assert _deliver(engine, clock).disabled == 1
    (endpoint,) = _rows(engine, WebhookEndpoint)
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert len(receiver.received) == 1  # the second event waits for the endpoint to come back
    mails = [m for m in _rows(engine, OutboxEmail) if m.kind == "webhook_disabled"]
    assert [m.to_address for m in mails] == ["owner@example.com"]
    with Session(engine) as session:
        assert factories.audit_events(session, "webhook_endpoint.disabled")
        webhook_endpoints.update_endpoint(
            session,
            clock,
            merchant_id=shop.merchant.id,
            endpoint_id=endpoint.id,
            actor=STAFF,
            enabled=True,
        )
        session.commit()
    assert _deliver(engine, clock).succeeded == 1 and len(receiver.received) == 2


def test_five_days_of_failures_disable_the_endpoint(engine, clock, shop, allow_private, receiver):
    receiver.default = Reply(500)
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    _deliver(engine, clock)
    clock.advance(timedelta(days=4, hours=23))
    _customer(engine, clock, shop.merchant.id, "ben@example.com")
    _deliver(engine, clock)
    assert _rows(engine, WebhookEndpoint)[0].enabled
    clock.advance(timedelta(hours=1))
    _customer(engine, clock, shop.merchant.id, "cy@example.com")
    assert _deliver(engine, clock).disabled == 1
    (endpoint,) = _rows(engine, WebhookEndpoint)
    assert not endpoint.enabled and "5 days" in endpoint.disabled_reason


def test_private_addresses_are_refused_at_creation_and_at_delivery(
    engine, clock, shop, monkeypatch, receiver
):
    monkeypatch.delenv("PORTAL_WEBHOOK_ALLOW_PRIVATE", raising=False)
    for url, code in (
        ("https://127.0.0.1/hooks", "url_private"),
        ("https://localhost/hooks", "url_private"),
        ("https://169.254.169.254/latest", "url_private"),
        ("https://10.1.2.3/", "url_private"),
        ("https://[::1]/", "url_private"),
        ("https://[::ffff:192.168.0.1]/", "url_private"),
        ("http://example.com/hooks", "url_invalid"),
        ("https://user:pw@example.com/", "url_invalid"),
        ("ftp://example.com/", "url_invalid"),
        ("", "url_required"),
    ):
        with Session(engine) as session, factories.refused(webhook_endpoints.WebhookError, code):
            webhook_endpoints.create_endpoint(
                session, clock, merchant_id=shop.merchant.id, url=url, actor=STAFF
            )
    # Allowed when made (the operator's switch), refused at delivery once the switch is off.
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE", "1")
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    monkeypatch.delenv("PORTAL_WEBHOOK_ALLOW_PRIVATE")
    assert _deliver(engine, clock).retried == 1
    assert receiver.received == []
    (attempt,) = _rows(engine, WebhookAttempt)
    assert attempt.error.startswith("Refused:") and attempt.status_code is None


def test_a_rotated_secret_signs_beside_the_new_one_for_24_hours(
    engine, clock, shop, allow_private, receiver
):
    endpoint, old = _endpoint(engine, clock, shop.merchant.id, receiver.url)
    with Session(engine) as session:
        new = webhook_endpoints.rotate_secret(
            session, clock, merchant_id=shop.merchant.id, endpoint_id=endpoint.id, actor=STAFF
        )
        session.commit()
    SECRETS.append(new)
    assert new != old
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    _deliver(engine, clock)
    got = receiver.received[-1]
    assert got.headers["webhook-signature"].split(" ") == [
        _library_signature(new, got),
        _library_signature(old, got),
    ]
    clock.advance(timedelta(hours=24))
    _customer(engine, clock, shop.merchant.id, "ben@example.com")
    _deliver(engine, clock)
    got = receiver.received[-1]
    assert got.headers["webhook-signature"] == _library_signature(new, got)


def test_one_customers_events_arrive_in_order_and_others_are_not_held(
    engine, clock, shop, allow_private, receiver
):
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    receiver.replies = [Reply(500)]
    zoe = _customer(engine, clock, shop.merchant.id, "zoe@example.com", external_id="z")
    _customer(engine, clock, shop.merchant.id, "zoe@example.com", external_id="z", name="Z")
    ben = _customer(engine, clock, shop.merchant.id, "ben@example.com")
    _deliver(engine, clock)
    # Zoë's first event failed: her second waits behind it; Ben's went out.
    types = [
        (json.loads(r.body)["type"], json.loads(r.body)["data"]["id"]) for r in receiver.received
    ]
    assert types == [("customer.created", zoe.id), ("customer.created", ben.id)]
    clock.advance(timedelta(seconds=5))
    _deliver(engine, clock)
    types = [
        (json.loads(r.body)["type"], json.loads(r.body)["data"]["id"]) for r in receiver.received
    ]
    assert types[2:] == [("customer.created", zoe.id), ("customer.updated", zoe.id)]


def test_a_receiver_that_goes_away_and_comes_back(engine, clock, shop, allow_private, receiver):
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    receiver.stop()
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    assert _deliver(engine, clock).retried == 1
    (attempt,) = _rows(engine, WebhookAttempt)
    assert attempt.status_code is None and "Connect" in attempt.error
    receiver.start()  # the same port
    clock.advance(timedelta(seconds=5))
    assert _deliver(engine, clock).succeeded == 1 and len(receiver.received) == 1


def test_replay_and_test_event(engine, clock, shop, allow_private, receiver):
    endpoint, _ = _endpoint(engine, clock, shop.merchant.id, receiver.url)
    _customer(engine, clock, shop.merchant.id, "zoe@example.com")
    _deliver(engine, clock)
    (first,) = _rows(engine, WebhookDelivery)
    with Session(engine) as session:
        webhook_delivery.replay(
            session, clock, merchant_id=shop.merchant.id, delivery_id=first.id, actor=STAFF
        )
        webhook_delivery.send_test(
            session, clock, merchant_id=shop.merchant.id, endpoint_id=endpoint.id, actor=STAFF
        )
        session.commit()
    assert _deliver(engine, clock).succeeded == 2
    ids = receiver.ids()
    assert ids[0] == ids[1] and ids[2] != ids[0]
    assert json.loads(receiver.received[2].body)["type"] == "endpoint.test"
    with Session(engine) as session, pytest.raises(webhook_endpoints.NotFound):
        webhook_delivery.replay(
            session, clock, merchant_id=shop.merchant.id + 999, delivery_id=first.id, actor=STAFF
        )


def test_renewals_in_bulk_report_subscription_invoice_and_payment(
    engine, session, clock, gateway, catalog, allow_private, receiver
):
    customers = []
    for n in range(3):
        customer = factories.make_customer(session, clock, catalog.merchant, f"c{n}@example.com")
        factories.add_gateway_card(session, clock, gateway, customer)
        factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
        customers.append(customer)
    session.commit()
    _endpoint(engine, clock, catalog.merchant.id, receiver.url)
    clock.advance(timedelta(days=32))
    report = billing_clock.advance(engine, clock, gateway, merchant_id=catalog.merchant.id)
    assert report.renewed == 3 and report.charged == 3
    assert _deliver(engine, clock).succeeded == 15
    by_customer: dict[int, list[str]] = {}
    for got in receiver.received:
        body = json.loads(got.body)
        by_customer.setdefault(body["data"]["customer_id"], []).append(body["type"])
    assert by_customer == {
        c.id: [
            "subscription.renewed",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "payment.succeeded",
        ]
        for c in customers
    }


def test_a_thousand_events_arrive_once_each_in_order_per_customer(
    engine, clock, shop, allow_private, receiver
):
    _endpoint(engine, clock, shop.merchant.id, receiver.url)
    for n in range(10):
        _customer(engine, clock, shop.merchant.id, f"c{n}@example.com", external_id=f"u{n}")
    for round_ in range(99):  # each change its own transaction, as each API call is
        with Session(engine) as session:
            for n in range(10):
                customer = customer_accounts.find_external(session, shop.merchant.id, f"u{n}")
                customer_accounts.update(
                    session, clock, customer, {"metadata": {"round": str(round_)}}, actor=STAFF
                )
                session.commit()
    assert len(_rows(engine, WebhookEvent)) == 1000
    report = _deliver(engine, clock)
    assert report.succeeded == 1000 and len(receiver.received) == 1000
    assert len(set(receiver.ids())) == 1000
    rounds: dict[int, list[str | None]] = {}
    for got in receiver.received:
        data = json.loads(got.body)["data"]
        rounds.setdefault(data["id"], []).append(data["metadata"].get("round"))
    assert len(rounds) == 10
    assert all(seen == [None, *[str(r) for r in range(99)]] for seen in rounds.values())
