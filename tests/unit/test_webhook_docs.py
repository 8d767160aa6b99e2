"""docs/WEBHOOKS.md stays true: it lists every event type the code sends, and each example's
`data` has exactly the fields of its object's model (so a changed shape fails here first)."""

from __future__ import annotations

import json
import re

from portal_app.config import PROJECT_ROOT
from portal_app.services import api_objects
from portal_app.services.webhook_events import EVENT_TYPES

DOC = (PROJECT_ROOT / "docs" / "WEBHOOKS.md").read_text()
SHAPES = {
    "customer": api_objects.CustomerObject,
    "customer_state": api_objects.CustomerState,
    "subscription": api_objects.SubscriptionObject,
    "invoice": api_objects.InvoiceObject,
    "payment": api_objects.PaymentObject,
    "checkout_session": api_objects.CheckoutObject,
    "order": api_objects.OrderObject,
}


def test_every_event_type_is_listed_once_with_its_object():
    listed = re.findall(r"^\| `([a-z_.]+)` \| ([a-z_]+) \|", DOC, flags=re.M)
    assert [t for t, _ in listed] == list(EVENT_TYPES)
    assert {shape for _, shape in listed} <= set(SHAPES)


def test_each_example_has_its_objects_fields():
    examples = re.findall(r"^### ([a-z_.]+)\n\n```json\n(.*?)\n```", DOC, flags=re.M | re.S)
    assert len(examples) == 7
    kinds = dict(re.findall(r"^\| `([a-z_.]+)` \| ([a-z_]+) \|", DOC, flags=re.M))
    for type_, text in examples:
        body = json.loads(text)
        assert body["type"] == type_ and set(body) == {"type", "timestamp", "data"}
        model = SHAPES[kinds[type_]]
        assert set(body["data"]) == set(model.model_fields), type_
        model.model_validate(body["data"])
