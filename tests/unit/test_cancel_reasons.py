"""The cancellation survey's reasons as the merchant edits them: words customers read, their
order, added and removed reasons, the built-in ones back; the flow, the offer-routing screen and
analytics all read the same list."""

from __future__ import annotations

import json

import pytest

from portal_app.services import audit, catalog_view, features, subscription_cancel_view
from portal_app.services.errors import SettingsError
from portal_app.state import MerchantSettingsState
from tests import factories
from tests.statekit import call, root_with, run, settings_form
from tests.unit.helpers_staff import staff_as

STAFF = audit.Actor.merchant(1)


def test_a_reason_reads_as_the_merchant_worded_it_else_as_built_in():
    settings = features.FeatureSet()
    assert features.reason_label(settings, "too_expensive") == "It's too expensive"
    assert features.reason_label(settings, "gone_fishing") == "Gone fishing"
    assert features.reason_label(settings, "") == features.NO_REASON_LABEL
    settings.values["cancel.reason_labels"] = {"too_expensive": "Costs too much"}
    settings.values["cancel.reasons"] = ["unused", "too_expensive"]
    assert features.reasons(settings) == [
        ("unused", "I don't use it enough"),
        ("too_expensive", "Costs too much"),
    ]


@pytest.mark.parametrize(
    "labels",
    [
        ["too_expensive"],  # not a mapping
        {"too_expensive": ""},
        {"too_expensive": "x" * (features.REASON_LABEL_MAX + 1)},
        {"too_expensive": 5},
        {"": "Blank key"},
    ],
)
def test_bad_wording_is_refused_whole(session, clock, catalog, labels):
    with pytest.raises(SettingsError):
        features.save(session, clock, catalog.merchant.id, {"cancel.reason_labels": labels}, STAFF)
    assert features.load(session, catalog.merchant.id)["cancel.reason_labels"] == {}


def test_wording_is_kept_on_one_line():
    cleaned = features.validate({"cancel.reason_labels": {"unused": "  Not  used\nenough "}})
    assert cleaned["cancel.reason_labels"] == {"unused": "Not used enough"}


def test_a_new_reasons_key_comes_from_its_words_and_never_collides():
    assert features.new_reason_key("Too many emails!", []) == "too_many_emails"
    assert features.new_reason_key("Too many emails", ["too_many_emails"]) == "too_many_emails_2"
    assert features.new_reason_key("高すぎる", ["reason"]) == "reason_2"


def test_the_flow_and_the_routing_screen_show_the_merchants_words_in_its_order(
    session, clock, gateway, catalog, customer, card
):
    merchant_id = catalog.merchant.id
    changes = {
        "cancel.reasons": ["unused", "too_many_emails", "too_expensive"],
        "cancel.reason_labels": {"too_many_emails": "Too many emails", "unused": "Rarely used"},
    }
    features.save(session, clock, merchant_id, changes, STAFF)
    sub = factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    started = subscription_cancel_view.start(
        session,
        clock,
        customer_id=customer.id,
        merchant_id=merchant_id,
        subscription_id=sub.id,
        actor=audit.Actor.customer(customer.id),
    )
    expected = [
        ("unused", "Rarely used"),
        ("too_many_emails", "Too many emails"),
        ("too_expensive", "It's too expensive"),
    ]
    assert [(r.key, r.label) for r in started.reasons] == expected
    screen = catalog_view.catalog(session, clock, merchant_id=merchant_id)
    assert [(r["key"], r["label"]) for r in screen["reasons"]] == expected
    assert [r["reason"] for r in screen["routes"]] == [
        "Rarely used",
        "Too many emails",
        "It's too expensive",
        features.NO_REASON_LABEL,
    ]


def _saved_form(state, settings) -> dict:
    """The settings form as the page posts it, with the reasons editor's hidden inputs."""
    return settings_form(
        settings,
        **{"cancel.reasons": state.reason_keys, "cancel.reason_labels": state.reason_wording},
    )


def test_an_admin_rewords_reorders_adds_and_removes_reasons_then_saves_them(app_db):
    merchant_id = app_db["merchant"].id

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantSettingsState, "load")
        state = await root.get_state(MerchantSettingsState)
        assert [r["key"] for r in state.reason_rows] == features.DEFAULT_REASONS
        await call(root, MerchantSettingsState, "reword_reason", 0, "  Costs  too much ")
        await call(root, MerchantSettingsState, "move_reason", 0, 1)  # down one
        await call(root, MerchantSettingsState, "move_reason", 0, -1)  # already first: stays
        await call(root, MerchantSettingsState, "add_reason", {"label": "Too many emails"})
        await call(root, MerchantSettingsState, "add_reason", {"label": "too many EMAILS"})
        duplicate = state.reason_error
        await call(root, MerchantSettingsState, "remove_reason", 2)  # switched_service
        await call(root, MerchantSettingsState, "reword_reason", 1, "   ")
        blank = state.reason_error
        await call(
            root,
            MerchantSettingsState,
            "save",
            _saved_form(state, factories.saved_settings(app_db["engine"], merchant_id)),
        )
        return duplicate, blank, state.error, state.saved_message

    duplicate, blank, error, saved = run(scenario())
    assert "in the list already" in duplicate
    assert "is kept" in blank
    assert error == "" and saved.startswith("Saved")
    settings = factories.saved_settings(app_db["engine"], merchant_id)
    assert settings["cancel.reasons"] == [
        "missing_features",
        "too_expensive",
        "unused",
        "customer_service",
        "too_complex",
        "low_quality",
        "other",
        "too_many_emails",
    ]
    # only what differs from the built-in words is stored
    assert settings["cancel.reason_labels"] == {
        "too_expensive": "Costs too much",
        "too_many_emails": "Too many emails",
    }


def test_the_last_reason_stays_and_the_built_in_ones_come_back(app_db):
    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantSettingsState, "load")
        state = await root.get_state(MerchantSettingsState)
        while len(state.reason_rows) > 1:
            await call(root, MerchantSettingsState, "remove_reason", 0)
        await call(root, MerchantSettingsState, "remove_reason", 0)
        last = (len(state.reason_rows), state.reason_error)
        await call(root, MerchantSettingsState, "builtin_reasons")
        return last, [r["key"] for r in state.reason_rows], json.loads(state.reason_wording)

    (left, error), keys, wording = run(scenario())
    assert left == 1 and "at least one reason" in error
    assert keys == features.DEFAULT_REASONS and wording == {}


@pytest.mark.parametrize(
    ("handler", "args"),
    [
        ("add_reason", ({"label": "Sneaky"},)),
        ("reword_reason", (0, "Sneaky")),
        ("move_reason", (0, 1)),
        ("remove_reason", (0,)),
        ("builtin_reasons", ()),
    ],
)
def test_a_viewer_cannot_edit_the_reasons(app_db, handler, args):
    viewer = staff_as(app_db, "viewer")

    async def scenario():
        root = root_with(staff_sid=viewer)
        await call(root, MerchantSettingsState, "load")
        state = await root.get_state(MerchantSettingsState)
        before = list(state.reason_rows)
        answer = await call(root, MerchantSettingsState, handler, *args)
        return str(answer), before, list(state.reason_rows)

    answer, before, after = run(scenario())
    assert "it needs Admin" in answer
    assert after == before
