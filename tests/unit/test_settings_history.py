"""Settings history (#17): each save is a version (who, when, what changed); restoring one is a
save of its own, audited and versioned, so it can be undone too; a preset lands as a version."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from portal_app.clock import FixedClock
from portal_app.models import AuditEvent, SettingsVersion
from portal_app.services import audit, features, settings_history
from portal_app.services.errors import NotFound, SettingsError
from tests import factories


def _save(session, clock, merchant_id, changes, actor=audit.SYSTEM):
    features.save(session, clock, merchant_id, changes, actor)


def test_each_save_is_a_version_with_who_when_and_a_readable_diff(session, clock, catalog):
    merchant_id = catalog.merchant.id
    staff = factories.make_staff(session, clock, catalog.merchant, email="ana@example.com")
    _save(session, clock, merchant_id, {"subscriptions.pause": True})
    later = FixedClock(clock.now() + timedelta(hours=1))
    _save(
        session,
        later,
        merchant_id,
        {"billing.retry_days": [2, 4], "branding.name": "Acme"},
        audit.Actor.merchant(staff.id),
    )
    _save(session, later, merchant_id, {"branding.name": "Acme"})  # no change: no version
    newest, first = settings_history.versions(session, merchant_id)
    assert (newest.number, first.number) == (2, 1)
    assert (newest.who, first.who) == ("ana@example.com", "System")
    assert newest.created_at == later.now() and newest.current and not first.current
    assert newest.what == "Saved settings"
    assert {(line.label, line.before, line.after) for line in newest.lines} == {
        ("Payment retry schedule (days after failure)", "1, 3, 5", "2, 4"),
        ("Portal name", "", "Acme"),
    }
    assert [(line.before, line.after) for line in first.lines] == [("off", "on")]


def test_restoring_a_version_brings_it_back_as_a_new_audited_version(session, clock, catalog):
    merchant_id = catalog.merchant.id
    _save(session, clock, merchant_id, {"subscriptions.pause": True, "branding.name": "One"})
    _save(session, clock, merchant_id, {"subscriptions.pause": False, "branding.name": "Two"})
    actor = audit.Actor.merchant(1)
    changed = settings_history.restore(
        session, clock, merchant_id=merchant_id, number=1, actor=actor
    )
    assert changed == 2
    settings = features.load(session, merchant_id)
    assert (settings["subscriptions.pause"], settings["branding.name"]) == (True, "One")
    newest = settings_history.versions(session, merchant_id)[0]
    assert (newest.number, newest.what) == (3, "Restored version 1")
    event = session.exec(
        select(AuditEvent)
        .where(AuditEvent.merchant_id == merchant_id)
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert event.action == "settings.restore"
    assert event.after == {"subscriptions.pause": True, "branding.name": "One"}
    # The restore is undone the same way.
    settings_history.restore(session, clock, merchant_id=merchant_id, number=2, actor=actor)
    assert features.load(session, merchant_id)["branding.name"] == "Two"


def test_a_preset_lands_as_a_version_that_one_restore_undoes(session, clock, catalog):
    merchant_id = catalog.merchant.id
    _save(session, clock, merchant_id, {"branding.name": "Before"})
    before = features.load(session, merchant_id).values
    current = features.load(session, merchant_id)
    preset = next(name for name in features.PRESETS if features.preset_diff(current, name))
    features.apply_preset(session, clock, merchant_id, preset, audit.SYSTEM)
    newest = settings_history.versions(session, merchant_id)[0]
    assert newest.what == f"Applied the preset {preset!r}"
    settings_history.restore(
        session, clock, merchant_id=merchant_id, number=newest.number - 1, actor=audit.SYSTEM
    )
    assert features.load(session, merchant_id).values == before


def test_a_version_that_is_what_is_saved_or_unknown_or_another_merchants_is_refused(
    session, clock, catalog
):
    merchant_id = catalog.merchant.id
    _save(session, clock, merchant_id, {"branding.name": "Only"})
    with pytest.raises(SettingsError) as same:
        settings_history.restore(
            session, clock, merchant_id=merchant_id, number=1, actor=audit.SYSTEM
        )
    assert same.value.code == "nothing_to_restore"
    other = factories.make_catalog(session, clock, slug="other-shop")
    for merchant, number in ((merchant_id, 99), (other.merchant.id, 1)):
        with pytest.raises(NotFound):
            settings_history.restore(
                session, clock, merchant_id=merchant, number=number, actor=audit.SYSTEM
            )
    assert len(session.exec(select(SettingsVersion)).all()) == 1


# --- the settings file: export on one install, import (with its diff first) on another ---------


def test_an_exported_file_imports_on_another_install_as_one_version(session, clock, catalog):
    staging = catalog.merchant.id
    _save(session, clock, staging, {"subscriptions.pause": True, "billing.retry_days": [2, 9]})
    exported = settings_history.export_file(session, clock, merchant_id=staging)
    production = factories.make_catalog(session, clock, slug="production").merchant.id
    diff = settings_history.import_changes(
        session, clock, merchant_id=production, data=exported.encode()
    )
    assert diff == {"subscriptions.pause": (False, True), "billing.retry_days": ([1, 3, 5], [2, 9])}
    assert features.load(session, production)["subscriptions.pause"] is False  # nothing written
    changed = settings_history.apply_import(
        session, clock, merchant_id=production, data=exported, actor=audit.SYSTEM
    )
    assert changed == 2
    assert features.load(session, production).values == features.load(session, staging).values
    newest = settings_history.versions(session, production)[0]
    assert newest.what == "Imported a settings file"
    with pytest.raises(SettingsError) as again:
        settings_history.apply_import(
            session, clock, merchant_id=production, data=exported, actor=audit.SYSTEM
        )
    assert again.value.code == "nothing_to_import"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"subscriptions.pause": True, "no.such.setting": 1}, "Unknown setting 'no.such.setting'."),
        ({"subscriptions.pause": True, "pause.max_days": 0}, "must be at least 1"),
        ({"branding.color": "#ffee00", "branding.name": "Sunny"}, "too light to read"),
    ],
)
def test_a_file_with_an_unknown_key_or_a_bad_value_is_refused_whole(
    session, clock, catalog, settings, problem
):
    merchant_id = catalog.merchant.id
    before = features.load(session, merchant_id).values
    data = json.dumps({"format": settings_history.FILE_FORMAT, "settings": settings})
    for attempt in (settings_history.import_changes, settings_history.apply_import):
        extra = {"actor": audit.SYSTEM} if attempt is settings_history.apply_import else {}
        with pytest.raises(SettingsError, match=problem):
            attempt(session, clock, merchant_id=merchant_id, data=data, **extra)
    assert features.load(session, merchant_id).values == before
    assert settings_history.versions(session, merchant_id) == []


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        json.dumps({"settings": {"subscriptions.pause": True}}).encode(),  # no format
        json.dumps({"format": "portal-settings/1", "settings": []}).encode(),
        b" " * (settings_history.FILE_MAX_BYTES + 1),
    ],
)
def test_what_is_not_a_settings_file_is_refused(session, clock, catalog, data):
    with pytest.raises(SettingsError) as refused:
        settings_history.import_changes(session, clock, merchant_id=catalog.merchant.id, data=data)
    assert refused.value.code == "bad_file"
