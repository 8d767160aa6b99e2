"""Staff → Webhooks through its state: an admin adds an endpoint (secret shown once), sends a
test, disables and enables it, replays a delivery, rotates the secret and deletes the endpoint
behind the confirmation; another merchant's endpoint is out of reach; a viewer can do nothing;
a bad URL writes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from portal_app.models import WebhookDelivery, WebhookEndpoint
from portal_app.services import audit, webhook_endpoints
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_webhooks import MerchantWebhooksState as Hooks
from tests import factories
from tests.statekit import call, run
from tests.unit.helpers_staff import staff_as, staff_page, viewer_is_refused

FORM = {"url": "http://127.0.0.1:9/hooks", "description": "Backend", "type_customer.created": "on"}


@pytest.fixture(autouse=True)
def _local_urls(monkeypatch):
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE", "1")


def _endpoints(app_db) -> list[WebhookEndpoint]:
    with Session(app_db["engine"]) as session:
        return list(session.exec(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def _deliveries(app_db) -> list[WebhookDelivery]:
    with Session(app_db["engine"]) as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_an_admin_manages_an_endpoint_from_the_page(app_db):
    admin = staff_as(app_db, "admin")

    async def scenario():
        root, state = await staff_page(admin, Hooks, "open", "load")
        seen = {"empty": list(state.endpoints)}
        version = str(state.form_version)
        await call(root, Hooks, "create", {**FORM, "form_version": version})
        seen["secret"], seen["rows"] = state.secret, list(state.endpoints)
        # A double click's second submit carries the version the first one moved on from.
        await call(root, Hooks, "create", {**FORM, "form_version": version})
        seen["twice"] = list(state.endpoints)
        await call(root, Hooks, "close_secret", False)
        seen["closed"] = state.secret
        endpoint_id = seen["rows"][0]["id"]
        await call(root, Hooks, "send_test", endpoint_id)
        await call(root, Hooks, "show", endpoint_id)
        seen["deliveries"] = list(state.deliveries)
        await call(root, Hooks, "replay", seen["deliveries"][0]["id"])
        await call(root, Hooks, "filter_status", "pending")
        seen["pending"] = list(state.deliveries)
        await call(root, Hooks, "filter_type", "customer.created")
        seen["filtered"] = list(state.deliveries)
        await call(root, Hooks, "switch_endpoint", endpoint_id, False)
        seen["disabled"] = state.endpoints[0]["status"]
        await call(root, Hooks, "switch_endpoint", endpoint_id, True)
        await call(root, Hooks, "ask", "rotate", endpoint_id)
        await call(root, Hooks, "confirm")
        seen["rotated"] = state.secret
        await call(root, Hooks, "close_secret", False)
        await call(root, Hooks, "ask", "delete", endpoint_id)
        seen["asked"] = (state.confirm_kind, state.confirm_url)
        await call(root, Hooks, "confirm")
        seen["after"] = (list(state.endpoints), state.selected_id, list(state.deliveries))
        return seen

    seen = run(scenario())
    assert seen["empty"] == []
    assert seen["secret"].startswith("whsec_") and seen["closed"] == ""
    (row,) = seen["rows"]
    assert seen["twice"] == seen["rows"]
    assert (row["url"], row["types"], row["status"]) == (FORM["url"], "customer.created", "enabled")
    assert [d["event"] for d in seen["deliveries"]] == ["endpoint.test"]
    assert [d["event"] for d in seen["pending"]] == ["endpoint.test", "endpoint.test"]
    assert seen["filtered"] == [] and seen["disabled"] == "disabled"
    assert seen["rotated"].startswith("whsec_") and seen["rotated"] != seen["secret"]
    assert seen["asked"] == ("delete", FORM["url"])
    assert seen["after"] == ([], "", [])
    assert _endpoints(app_db) == [] and _deliveries(app_db) == []
    with Session(app_db["engine"]) as session:
        actions = [e.action for e in factories.audit_events(session, "webhook_endpoint.delete")]
        assert actions == ["webhook_endpoint.delete"]


def test_a_bad_url_is_refused_and_writes_nothing(app_db, monkeypatch):
    monkeypatch.delenv("PORTAL_WEBHOOK_ALLOW_PRIVATE")
    admin = staff_as(app_db, "admin")

    async def scenario():
        root, state = await staff_page(admin, Hooks, "load")
        await call(root, Hooks, "create", {**FORM, "url": "http://127.0.0.1/hooks"})
        plain = state.create_error
        await call(root, Hooks, "create", {**FORM, "url": "https://127.0.0.1/hooks"})
        return plain, state.create_error, state.secret

    plain, private, secret = run(scenario())
    assert "https://" in plain and "private" in private and secret == ""
    assert _endpoints(app_db) == []


def test_another_merchants_endpoint_is_out_of_reach(app_db):
    admin = staff_as(app_db, "admin")
    with Session(app_db["engine"], expire_on_commit=False) as session:
        other = factories.make_merchant(session, CLOCK, "other")
        theirs, _ = webhook_endpoints.create_endpoint(
            session, CLOCK, merchant_id=other.id, url=FORM["url"], actor=audit.SYSTEM
        )
        session.commit()

    async def scenario():
        root, state = await staff_page(admin, Hooks, "load")
        results = []
        for handler, args in (
            ("show", (str(theirs.id),)),
            ("send_test", (str(theirs.id),)),
            ("switch_endpoint", (str(theirs.id), False)),
            ("ask", ("delete", str(theirs.id))),
        ):
            results.append(str(await call(root, Hooks, handler, *args)))
        await call(root, Hooks, "confirm")
        return results, state.endpoints, state.confirm_kind

    results, rows, asked = run(scenario())
    assert rows == [] and asked == ""
    assert all("no longer listed" in r for r in results), results
    (endpoint,) = _endpoints(app_db)
    assert endpoint.enabled and _deliveries(app_db) == []


def test_a_viewer_can_do_nothing(app_db):
    viewer_is_refused(app_db, Hooks, FORM)
    assert _endpoints(app_db) == []
