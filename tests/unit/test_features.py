"""Feature settings: schema validation, presets as the seed's table says, atomic audited saves."""

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, PortalSettings
from portal_app.services import audit, features
from portal_app.services.errors import FeatureDisabled, SettingsError

STAFF = audit.Actor.merchant(7)


def test_defaults_cover_every_feature_of_the_brief():
    values = features.defaults()
    for key in (
        "subscriptions.upgrade",
        "subscriptions.downgrade",
        "subscriptions.change_interval",
        "subscriptions.pause",
        "subscriptions.cancel",
        "subscriptions.reactivate",
        "cancel.survey",
        "cancel.retention_offers",
        "cancel.downgrade_suggestion",
        "cancel.pause_instead",
        "invoices.view",
        "invoices.download_pdf",
        "invoices.pay",
        "invoices.receipts",
        "payment_methods.add",
        "payment_methods.set_default",
        "payment_methods.remove",
        "payment_methods.update_expiry",
        "digital.downloads",
        "digital.license_keys",
        "digital.links",
        "digital.history",
        "profile.name",
        "profile.email",
        "profile.billing_address",
        "profile.shipping_address",
        "profile.custom_fields",
        "notifications.receipts",
        "notifications.invoice_reminders",
        "notifications.renewal_notices",
        "notifications.marketing",
    ):
        assert isinstance(values[key], bool), key
    assert values["plan_change.upgrade_timing"] in features.TIMINGS


def test_view_subscriptions_is_always_on():
    with pytest.raises(SettingsError, match="always on"):
        features.validate({"subscriptions.view": False})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nope": True}, "Unknown setting"),
        ({"subscriptions.pause": "yes"}, "on or off"),
        ({"plan_change.upgrade_timing": "tomorrow"}, "must be one of"),
        ({"pause.max_days": 0}, "at least 1"),
        ({"pause.max_days": True}, "whole number"),
        ({"cancel.reasons": []}, "non-empty"),
        ({"billing.retry_days": [0]}, "between 1 and 60"),
        ({"profile.custom_field_definitions": [{"key": "1bad"}]}, "identifier"),
        ({"profile.custom_field_definitions": [{"key": "size", "type": "select"}]}, "options"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_saved(session, clock, catalog, changes, message):
    with pytest.raises(SettingsError, match=message):
        features.save(
            session, clock, catalog.merchant.id, {"subscriptions.pause": True, **changes}, STAFF
        )
    assert session.get(PortalSettings, catalog.merchant.id) is None
    assert session.exec(select(AuditEvent)).all() == []


def test_save_is_audited_with_before_and_after(session, clock, catalog):
    features.save(session, clock, catalog.merchant.id, {"subscriptions.pause": True}, STAFF)
    event = session.exec(select(AuditEvent)).one()
    assert event.action == "settings.update"
    assert (event.before, event.after) == (
        {"subscriptions.pause": False},
        {"subscriptions.pause": True},
    )
    # saving the same value again changes nothing and writes nothing
    features.save(session, clock, catalog.merchant.id, {"subscriptions.pause": True}, STAFF)
    assert len(session.exec(select(AuditEvent)).all()) == 1


def test_require_refuses_disabled_feature(session, clock, catalog):
    features.save(session, clock, catalog.merchant.id, {"invoices.pay": False}, STAFF)
    with pytest.raises(FeatureDisabled, match="Pay open invoices"):
        features.require_feature(session, catalog.merchant.id, "invoices.pay")
    features.require_feature(session, catalog.merchant.id, "invoices.view")


@pytest.mark.parametrize("preset", sorted(features.PRESETS))
def test_each_preset_is_valid_and_applies_exactly(session, clock, catalog, preset):
    before = features.load(session, catalog.merchant.id)
    planned = features.preset_diff(before, preset)
    after = features.apply_preset(session, clock, catalog.merchant.id, preset, STAFF)
    for key, value in features.PRESETS[preset].items():
        assert after[key] == value
    changed = {k for k in features.FEATURES if before.values[k] != after.values[k]}
    assert changed == set(planned)


def test_presets_match_the_common_configurations_table(session, clock, catalog):
    saas = features.PRESETS["saas"]
    assert saas["subscriptions.upgrade"] and saas["subscriptions.downgrade"]
    ecommerce = features.PRESETS["ecommerce"]
    assert ecommerce["invoices.view"] and not ecommerce["subscriptions.upgrade"]
    membership = features.PRESETS["membership"]
    assert membership["subscriptions.pause"] and membership["cancel.pause_instead"]
    b2b = features.PRESETS["b2b"]
    assert b2b["invoices.pay"] and not b2b["subscriptions.cancel"]


def test_unknown_preset(session, clock, catalog):
    with pytest.raises(SettingsError):
        features.apply_preset(session, clock, catalog.merchant.id, "casino", STAFF)


@pytest.mark.parametrize("key", ["checkout.success_url_origins", "api.return_url_origins"])
def test_origin_lists_take_origins_only(key):
    assert features.validate({key: ["https://App.Example.com/", "http://localhost:8000"]}) == {
        key: ["https://app.example.com", "http://localhost:8000"]
    }
    for bad in (
        "app.example.com",
        "https://app.example.com/thanks",
        "javascript:alert(1)",
        "https://user@app.example.com",
        "https://app.example.com?x=1",
        "ftp://app.example.com",
    ):
        with pytest.raises(SettingsError):
            features.validate({key: [bad]})
