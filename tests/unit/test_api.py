"""The REST API over HTTP (Starlette's TestClient on the mounted app): keys and scopes, errors,
customers, state, subscriptions, invoices, checkout sessions, idempotency, pagination."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal_app.clock import SystemClock
from portal_app.http.routes import build_http_app
from portal_app.models import (
    AuditEvent,
    Customer,
    IdempotencyRecord,
    Payment,
    Plan,
    Product,
    Subscription,
)
from portal_app.services import api_keys, audit, checkout, features
from portal_app.services.invoices import LineSpec
from portal_app.services.sandbox_gateway import SandboxGateway
from tests import factories

CLOCK = SystemClock()
ORIGIN = "http://localhost:3000"


@pytest.fixture
def api(site_shop):
    engine, catalog = site_shop["engine"], site_shop["catalog"]
    with Session(engine, expire_on_commit=False) as session:
        zoe = session.get(Customer, site_shop["zoe"].id)
        factories.add_gateway_card(session, CLOCK, SandboxGateway(), zoe)
        factories.subscribe(session, CLOCK, SandboxGateway(), zoe, catalog.monthly["Pro"])
        key = api_keys.create_api_key(
            session, CLOCK, merchant_id=catalog.merchant.id, name="all", actor=audit.SYSTEM
        )
        reader = api_keys.create_api_key(
            session,
            CLOCK,
            merchant_id=catalog.merchant.id,
            name="reader",
            actor=audit.SYSTEM,
            scopes=["customers:read"],
        )
        session.commit()
    client = TestClient(build_http_app(), base_url=ORIGIN)
    client.headers["Authorization"] = f"Bearer {key}"
    return {**site_shop, "client": client, "key": key, "reader": reader}


def _get(api, path, **kwargs):
    return api["client"].get(f"/api/v1{path}", **kwargs)


def _post(api, path, json=None, **kwargs):
    return api["client"].post(f"/api/v1{path}", json=json if json is not None else {}, **kwargs)


def test_no_key_a_wrong_key_and_a_revoked_key_are_refused(api):
    bare = TestClient(build_http_app(), base_url=ORIGIN)
    assert bare.get("/api/v1/customers").status_code == 401
    wrong = bare.get("/api/v1/customers", headers={"Authorization": "Bearer sk_portal_nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"
    assert _get(api, "/customers").status_code == 200
    with Session(api["engine"]) as session:
        key = api_keys.authenticate_api_key(session, CLOCK, api["key"])
        api_keys.revoke(
            session, CLOCK, merchant_id=key.merchant_id, key_id=key.id, actor=audit.SYSTEM
        )
        session.commit()
    assert _get(api, "/customers").status_code == 401


def test_a_key_without_the_scope_gets_403(api):
    headers = {"Authorization": f"Bearer {api['reader']}"}
    assert _get(api, "/customers", headers=headers).status_code == 200
    refused = _post(api, "/customers", {"email": "new@example.com"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    assert _get(api, "/invoices", headers=headers).status_code == 403
    with Session(api["engine"]) as session:
        emails = session.exec(select(Customer.email)).all()
    assert "new@example.com" not in emails


def _another_merchants_key(api) -> dict:
    """The headers of a request with a key of another merchant ("other")."""
    with Session(api["engine"], expire_on_commit=False) as session:
        other = factories.make_merchant(session, CLOCK, "other")
        foreign = api_keys.create_api_key(
            session, CLOCK, merchant_id=other.id, name="x", actor=audit.SYSTEM
        )
        session.commit()
    return {"Authorization": f"Bearer {foreign}"}


def test_another_merchants_key_reaches_nothing(api):
    headers = _another_merchants_key(api)
    zoe = api["zoe"]
    assert _get(api, f"/customers/{zoe.id}", headers=headers).status_code == 404
    assert _get(api, f"/customers/{zoe.id}/state", headers=headers).status_code == 404
    assert _get(api, "/customers", headers=headers).json()["data"] == []
    listed = _get(api, f"/subscriptions?customer_id={zoe.id}", headers=headers).json()
    assert listed["data"] == []
    assert (
        _post(api, "/portal-sessions", {"customer_id": zoe.id}, headers=headers).status_code == 404
    )


def test_bad_input_is_a_400_naming_the_parameter_and_changes_nothing(api):
    bad = _post(api, "/customers", {"email": 42})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "email"
    invalid = _post(api, "/customers", {"email": "not an email"})
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "email"
    huge = _post(api, "/customers", {"email": "a@example.com", "name": "x" * 10_000})
    assert huge.status_code == 400
    unknown = _get(api, "/nothing-here")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "route_not_found"
    with Session(api["engine"]) as session:
        assert (
            session.exec(select(Customer).where(Customer.email == "a@example.com")).first() is None
        )


def test_customer_upsert_by_external_id_get_update_and_delete(api):
    created = _post(
        api,
        "/customers",
        {
            "email": "Ann@Example.com",
            "name": "Ann",
            "external_id": "user_1",
            "metadata": {"a": "1"},
        },
    )
    assert created.status_code == 200, created.text
    ann = created.json()
    assert ann["object"] == "customer" and ann["email"] == "ann@example.com"
    assert ann["external_id"] == "user_1" and ann["metadata"] == {"a": "1"}
    again = _post(
        api, "/customers", {"email": "ann@example.com", "external_id": "user_1", "name": "Ann B"}
    )
    assert again.json()["id"] == ann["id"] and again.json()["name"] == "Ann B"
    assert _get(api, "/customers/external/user_1").json()["id"] == ann["id"]
    taken = _post(api, "/customers", {"email": "ann@example.com"})
    assert taken.status_code == 400 and taken.json()["error"]["code"] == "email_taken"
    updated = _post(
        api,
        f"/customers/{ann['id']}",
        {"billing_address": {"line1": "1 Main St", "city": "Berlin", "country": "DE"}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["billing_address"]["country"] == "DE"
    bad_country = _post(
        api,
        f"/customers/{ann['id']}",
        {"billing_address": {"line1": "x", "city": "y", "country": "QQ"}},
    )
    assert bad_country.status_code == 400
    deleted = api["client"].delete(f"/api/v1/customers/{ann['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert deleted.json()["email"] is None and deleted.json()["name"] == ""
    with Session(api["engine"]) as session:
        actors = session.exec(
            select(AuditEvent.actor_type, AuditEvent.action).where(
                AuditEvent.target_type == "customer", AuditEvent.target_id == str(ann["id"])
            )
        ).all()
    assert ("api", "customer.create") in actors and ("api", "customer.delete") in actors


def test_delete_is_refused_while_a_subscription_runs(api):
    zoe = api["zoe"]
    refused = api["client"].delete(f"/api/v1/customers/{zoe.id}")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "active_subscriptions"


def test_customer_state_lists_live_subscriptions_and_entitlements(api):
    zoe, catalog = api["zoe"], api["catalog"]
    with Session(api["engine"]) as session:
        plan = session.get(Plan, catalog.plans["Pro"].id)
        plan.entitlements = {"seats": 5, "api_access": True}
        session.add(plan)
        session.commit()
    state = _get(api, f"/customers/{zoe.id}/state").json()
    assert state["object"] == "customer_state"
    assert [s["subscription"]["status"] for s in state["active_subscriptions"]] == ["active"]
    assert state["entitlements"] == {"seats": 5, "api_access": True}
    assert state["open_balance"] == 0


def test_subscriptions_list_get_cancel_and_reactivate_ignore_the_portal_toggles(api):
    zoe = api["zoe"]
    with Session(api["engine"]) as session:
        features.save(
            session,
            CLOCK,
            api["catalog"].merchant.id,
            {"subscriptions.cancel": False, "subscriptions.reactivate": False},
            audit.SYSTEM,
        )
        session.commit()
    listed = _get(api, f"/subscriptions?customer_id={zoe.id}").json()["data"]
    assert len(listed) == 1
    sub_id = listed[0]["id"]
    canceled = _post(api, f"/subscriptions/{sub_id}/cancel", {"at_period_end": True})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["cancel_at_period_end"] is True
    again = _post(api, f"/subscriptions/{sub_id}/cancel", {"at_period_end": True})
    assert again.status_code == 400
    back = _post(api, f"/subscriptions/{sub_id}/reactivate")
    assert back.status_code == 200 and back.json()["cancel_at_period_end"] is False


def test_preview_then_change_plan(api):
    zoe, catalog = api["zoe"], api["catalog"]
    sub_id = _get(api, f"/subscriptions?customer_id={zoe.id}").json()["data"][0]["id"]
    target = catalog.monthly["Business"].id
    preview = _post(api, f"/subscriptions/{sub_id}/preview_change", {"price_id": target})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["direction"] == "upgrade" and body["lines"]
    changed = _post(
        api,
        f"/subscriptions/{sub_id}/change",
        {"price_id": target, "expected_version": body["expected_version"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["price_id"] == target
    stale = _post(
        api,
        f"/subscriptions/{sub_id}/change",
        {"price_id": catalog.monthly["Pro"].id, "expected_version": body["expected_version"]},
    )
    assert stale.status_code == 409


def test_invoices_list_get_and_pdf(api):
    zoe = api["zoe"]
    listed = _get(api, f"/invoices?customer_id={zoe.id}").json()
    assert listed["data"], listed
    invoice = listed["data"][0]
    assert invoice["object"] == "invoice" and invoice["lines"]
    assert _get(api, f"/invoices/{invoice['id']}").json()["total"] == invoice["total"]
    pdf = _get(api, f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def _monthly_checkout(api, plan: str, **fields):
    """POST /checkout_sessions for the plan's monthly price, with the other fields given."""
    body = {"plan_id": api["catalog"].plans[plan].id, "interval": "month", **fields}
    return _post(api, "/checkout_sessions", body)


def test_checkout_session_create_returns_its_url(api):
    created = _monthly_checkout(
        api,
        "Pro",
        email="buyer@example.com",
        external_id="user_9",
        trial_days=7,
        metadata={"campaign": "x"},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["url"].startswith(f"{ORIGIN}/checkout/") and body["status"] == "open"
    assert body["trial_days"] == 7 and body["metadata"] == {"campaign": "x"}
    assert _get(api, f"/checkout_sessions/{body['id']}").json()["id"] == body["id"]
    both = _post(api, "/checkout_sessions", {"plan_id": 1, "product_id": 1, "interval": "month"})
    assert both.status_code == 400


def test_pagination_is_stable_while_rows_are_added(api):
    for n in range(5):
        assert _post(api, "/customers", {"email": f"p{n}@example.com"}).status_code == 200
    first = _get(api, "/customers?limit=2").json()
    assert len(first["data"]) == 2 and first["has_more"] is True
    _post(api, "/customers", {"email": "late@example.com"})
    seen = [c["id"] for c in first["data"]]
    cursor = seen[-1]
    while True:
        page = _get(api, f"/customers?limit=2&starting_after={cursor}").json()
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, reverse=True)


def test_idempotency_key_replays_refuses_other_bodies(api):
    headers = {"Idempotency-Key": "create-ann"}
    first = _post(api, "/customers", {"email": "idem@example.com"}, headers=headers)
    replay = _post(api, "/customers", {"email": "idem@example.com"}, headers=headers)
    assert first.status_code == replay.status_code == 200
    assert first.json() == replay.json()
    assert replay.headers.get("idempotent-replayed") == "true"
    other = _post(api, "/customers", {"email": "other@example.com"}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    refusal = {"Idempotency-Key": "dup"}
    r1 = _post(api, "/customers", {"email": "idem@example.com"}, headers=refusal)
    r2 = _post(api, "/customers", {"email": "idem@example.com"}, headers=refusal)
    assert r1.status_code == r2.status_code == 400 and r1.json() == r2.json()
    with Session(api["engine"]) as session:
        assert (
            len(session.exec(select(Customer).where(Customer.email == "idem@example.com")).all())
            == 1
        )


def test_twenty_concurrent_identical_creates_make_one_object(api):
    barrier = threading.Barrier(20)
    results = []

    def create(_index, _work):
        client = TestClient(build_http_app(), base_url=ORIGIN)
        barrier.wait()
        results.append(
            client.post(
                "/api/v1/customers",
                json={"email": "race@example.com", "external_id": "race"},
                headers={"Authorization": f"Bearer {api['key']}", "Idempotency-Key": "race-1"},
            )
        )

    factories.run_threads(create, [None] * 20)
    assert [r.status_code for r in results] == [200] * 20, [r.text for r in results]
    assert len({r.text for r in results}) == 1
    with Session(api["engine"]) as session:
        assert (
            len(session.exec(select(Customer).where(Customer.email == "race@example.com")).all())
            == 1
        )
        assert len(session.exec(select(IdempotencyRecord)).all()) == 1


def test_a_subscription_create_retried_with_its_key_charges_once(api):
    zoe, catalog = api["zoe"], api["catalog"]
    price = catalog.monthly["Basic"]
    body = {"customer_id": zoe.id, "price_id": price.id}
    headers = {"Idempotency-Key": "sub-1"}
    first = _post(api, "/subscriptions", body, headers=headers)
    assert first.status_code == 200, first.text
    second = _post(api, "/subscriptions", body, headers=headers)
    assert second.json() == first.json()
    with Session(api["engine"]) as session:
        subs = session.exec(select(Subscription).where(Subscription.customer_id == zoe.id)).all()
    assert len(subs) == 2  # zoe's own and this one


def test_the_openapi_document_and_reference_page(api):
    document = api["client"].get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "/customers/{customer_id}/state" in document["paths"]
    page = api["client"].get("/api/v1/reference")
    assert page.status_code == 200 and "/api/v1/customers" in page.text
    assert "<script" not in page.text


OLD = {"email": "old@example.com", "external_id": "user-old"}


def test_idempotency_records_expire_on_the_billing_clocks_run(api):
    from portal_app.clock import FixedClock
    from portal_app.services import billing_clock

    headers = {"Idempotency-Key": "old"}
    first = _post(api, "/customers", OLD, headers=headers)
    assert _post(api, "/customers", OLD, headers=headers).json() == (first.json())
    soon = billing_clock.advance_all_merchants(
        api["engine"], SandboxGateway(), base=FixedClock(CLOCK.now() + timedelta(hours=23))
    )
    assert soon.idempotency_purged == 0
    later = billing_clock.advance_all_merchants(
        api["engine"], SandboxGateway(), base=FixedClock(CLOCK.now() + timedelta(hours=25))
    )
    assert later.idempotency_purged == 1
    with Session(api["engine"]) as session:
        assert session.exec(select(IdempotencyRecord)).all() == []
    # The key is free again: the same request runs anew (the upsert finds its customer).
    again = _post(api, "/customers", OLD, headers=headers)
    assert again.status_code == 200, again.json()
    assert again.json()["id"] == first.json()["id"]
    with Session(api["engine"]) as session:
        assert len(session.exec(select(IdempotencyRecord)).all()) == 1


def test_a_key_over_its_rate_gets_429_with_retry_after(api):
    answers = [_get(api, "/plans").status_code for _ in range(125)]
    assert answers[:120] == [200] * 120
    limited = _get(api, "/plans")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limit_error"


def test_pause_works_through_the_api_with_the_portal_toggle_off(api):
    zoe = api["zoe"]
    sub_id = _get(api, f"/subscriptions?customer_id={zoe.id}").json()["data"][0]["id"]
    with Session(api["engine"]) as session:  # pause is off by default in the portal
        assert not features.load(session, api["catalog"].merchant.id).enabled("subscriptions.pause")
    paused = _post(api, f"/subscriptions/{sub_id}/pause", {"resume_at": None})
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    naive = _post(api, f"/subscriptions/{sub_id}/resume")
    assert naive.status_code == 200 and naive.json()["status"] == "active"
    with Session(api["engine"]) as session:  # and the lift never leaks into the portal
        assert not features.load(session, api["catalog"].merchant.id).enabled("subscriptions.pause")


def test_a_price_in_another_currency_is_refused_by_its_rule(api):
    zoe, catalog = api["zoe"], api["catalog"]
    with Session(api["engine"], expire_on_commit=False) as session:
        euro = factories.make_price(session, catalog.plans["Basic"], 900, "EUR")
        session.commit()
    refused = _post(api, "/subscriptions", {"customer_id": zoe.id, "price_id": euro.id})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "currency_mismatch"


def test_unknown_fields_and_wrong_json_types_are_refused(api):
    extra = _post(api, "/customers", {"email": "x@example.com", "nickname": "x"})
    assert extra.status_code == 400 and extra.json()["error"]["param"] == "nickname"
    zoe = api["zoe"]
    sub_id = _get(api, f"/subscriptions?customer_id={zoe.id}").json()["data"][0]["id"]
    zero = _post(api, f"/subscriptions/{sub_id}/cancel", {"at_period_end": 0})
    assert zero.status_code == 400


def test_an_open_invoice_is_paid_once_through_the_api(api):
    zoe = api["zoe"]
    with Session(api["engine"], expire_on_commit=False) as session:
        owed = factories.finalized_invoice(
            session, CLOCK, session.get(Customer, zoe.id), [LineSpec("manual", "Setup", 1500)]
        )
        session.commit()
    assert _get(api, f"/invoices/{owed.id}").json()["status"] == "open"
    headers = {"Idempotency-Key": f"pay-{owed.id}"}
    paid = _post(api, f"/invoices/{owed.id}/pay", headers=headers)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["amount_due"]) == ("paid", 0)
    again = _post(api, f"/invoices/{owed.id}/pay")  # a new request: answered "already paid"
    assert again.status_code == 200 and again.json()["status"] == "paid"
    with Session(api["engine"]) as session:
        charges = session.exec(
            select(Payment).where(Payment.invoice_id == owed.id, Payment.status == "succeeded")
        ).all()
    assert len(charges) == 1


def _confirm(api, checkout_id: str, ip: str, email: str, name: str) -> None:
    """The buyer pays the checkout session on its page, with a good card."""
    with Session(api["engine"]) as session:
        checkout.confirm(
            session,
            CLOCK,
            SandboxGateway(),
            checkout_id,
            card=checkout.CardInput("4242424242424242", 12, 2035, "123"),
            ip=ip,
            email=email,
            name=name,
        )
        session.commit()


def test_a_checkout_made_by_the_api_creates_the_customer_it_names(api):
    created = _monthly_checkout(
        api, "Basic", external_id="user_77", metadata={"campaign": "spring"}
    ).json()
    _confirm(api, created["id"], "198.51.100.9", "new77@example.com", "New Buyer")
    customer = _get(api, "/customers/external/user_77").json()
    assert customer["email"] == "new77@example.com"
    [live] = _get(api, f"/customers/{customer['id']}/state").json()["active_subscriptions"]
    assert live["subscription"]["metadata"] == {"campaign": "spring"}
    done = _get(api, f"/checkout_sessions/{created['id']}").json()
    assert done["status"] == "completed" and done["subscription_id"] == live["subscription"]["id"]


def test_coupons_and_codes_are_created_and_orders_fulfilled(api):
    catalog = api["catalog"]
    coupon = _post(api, "/coupons", {"name": "Spring", "percent_off": 20, "code": "SPRING20"})
    assert coupon.status_code == 200, coupon.text
    both = _post(api, "/coupons", {"name": "Both", "percent_off": 5, "amounts_off": {"USD": 100}})
    assert both.status_code == 400 and both.json()["error"]["code"] != "parameter_invalid"
    code = _post(api, "/promotion_codes", {"coupon_id": coupon.json()["id"], "code": "SPRING-B"})
    assert code.status_code == 200 and code.json()["code"] == "SPRING-B"
    listed = _get(api, f"/promotion_codes?coupon_id={coupon.json()['id']}").json()["data"]
    assert sorted(c["code"] for c in listed) == ["SPRING-B", "SPRING20"]

    with Session(api["engine"], expire_on_commit=False) as session:
        product = session.get(Product, catalog.product.id)
        product.one_time_amount, product.slug = 4900, "cloud"
        session.add(product)
        session.commit()
    made = _post(api, "/checkout_sessions", {"product_id": catalog.product.id}).json()
    _confirm(api, made["id"], "198.51.100.10", "shopper@example.com", "Shopper")
    [order] = _get(api, "/orders").json()["data"]
    assert (order["status"], order["total"], order["items"][0]["amount"]) == ("paid", 4900, 4900)
    fulfilled = _post(
        api, f"/orders/{order['id']}", {"status": "fulfilled", "tracking_reference": "TRK-1"}
    )
    assert fulfilled.status_code == 200, fulfilled.text
    assert fulfilled.json()["tracking_reference"] == "TRK-1"
    twice = _post(api, f"/orders/{order['id']}", {"status": "fulfilled"})
    assert twice.status_code == 400 and twice.json()["error"]["code"] == "already_fulfilled"
    refunded = _post(api, f"/orders/{order['id']}", {"status": "refunded"})
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"


def test_webhook_endpoints_are_managed_through_the_api(api, monkeypatch):
    from portal_app.models import WebhookDelivery, WebhookEndpoint

    refused = _post(api, "/webhook-endpoints", {"url": "http://hooks.example.com/x"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "url_invalid"
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE", "1")
    created = _post(
        api,
        "/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hooks", "event_types": ["customer.created"]},
    )
    assert created.status_code == 200, created.json()
    body = created.json()
    assert body["object"] == "webhook_endpoint" and body["secret"].startswith("whsec_")
    endpoint_id = body["id"]
    listed = _get(api, "/webhook-endpoints").json()["data"]
    assert [e["id"] for e in listed] == [endpoint_id] and "secret" not in listed[0]
    unknown = _post(api, "/webhook-endpoints", {"url": "http://127.0.0.1:9/", "event_types": ["x"]})
    assert unknown.json()["error"]["code"] == "unknown_event_type"
    updated = _post(api, f"/webhook-endpoints/{endpoint_id}", {"enabled": False})
    assert updated.json()["enabled"] is False
    assert updated.json()["disabled_reason"] == "Disabled by staff."
    assert _post(api, f"/webhook-endpoints/{endpoint_id}/test").json()["error"]["code"] == (
        "endpoint_disabled"
    )
    _post(api, f"/webhook-endpoints/{endpoint_id}", {"enabled": True})
    rotated = _post(api, f"/webhook-endpoints/{endpoint_id}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != body["secret"]
    sent = _post(api, f"/webhook-endpoints/{endpoint_id}/test").json()
    assert sent["object"] == "webhook_test"
    # The endpoint hears what the API does, in the transaction that did it.
    _post(api, "/customers", {"email": "hook@example.com"})
    with Session(api["engine"]) as session:
        deliveries = session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        assert [d.event_type for d in deliveries] == ["endpoint.test", "customer.created"]
    reader = {"Authorization": f"Bearer {api['reader']}"}
    assert _get(api, "/webhook-endpoints", headers=reader).status_code == 403
    headers = _another_merchants_key(api)
    assert _get(api, f"/webhook-endpoints/{endpoint_id}", headers=headers).status_code == 404
    gone = api["client"].delete(f"/api/v1/webhook-endpoints/{endpoint_id}")
    assert gone.status_code == 200 and gone.json()["id"] == endpoint_id
    with Session(api["engine"]) as session:
        assert session.exec(select(WebhookEndpoint)).all() == []
        assert session.exec(select(WebhookDelivery)).all() == []
        assert audit.verify_chain(session, api["catalog"].merchant.id).ok
