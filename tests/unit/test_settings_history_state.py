"""Settings → History through the staff state: a save shows up as the newest version with its
diff, an admin restores the one before (a new version, settings back), a viewer can't."""

from __future__ import annotations

from sqlmodel import Session

from portal_app.state import MerchantSettingsState
from portal_app.state.guard import CLOCK
from tests import factories
from tests.statekit import call, root_with, run, settings_form


def test_a_save_is_listed_and_an_admin_restores_the_version_before_it(app_db):
    merchant_id = app_db["merchant"].id
    before = factories.saved_settings(app_db["engine"], merchant_id)

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantSettingsState, "load")
        state = await root.get_state(MerchantSettingsState)
        first = settings_form(before, **{"branding.name": "First"})
        await call(root, MerchantSettingsState, "save", first)
        versions_before = len(state.history)
        await call(
            root,
            MerchantSettingsState,
            "save",
            settings_form(before, **{"branding.name": "Renamed"}),
        )
        newest = state.history[0]
        assert len(state.history) == versions_before + 1 and newest["current"]
        assert {"label": "Portal name", "before": "First", "after": "Renamed"} in (newest["lines"])
        previous = state.history[1]["number"]
        await call(root, MerchantSettingsState, "ask_restore", previous)
        assert state.confirm_title == f"Restore version {previous}?"
        toast = await call(root, MerchantSettingsState, "restore_version")
        assert f"Version {previous} restored" in str(toast)
        assert state.history[0]["what"] == f"Restored version {previous}"

    run(scenario())
    after = factories.saved_settings(app_db["engine"], merchant_id).values
    assert after == {**before.values, "branding.name": "First"}


def test_a_viewer_cannot_restore(app_db):
    merchant_id = app_db["merchant"].id
    viewer = factories.staff_with_role(app_db["engine"], CLOCK, app_db["merchant"], "viewer")

    async def scenario():
        admin = root_with(staff_sid=app_db["sessions"]["staff"])
        for name in ("W", "X"):
            form = settings_form(
                factories.saved_settings(app_db["engine"], merchant_id), **{"branding.name": name}
            )
            await call(admin, MerchantSettingsState, "save", form)
        root = root_with(staff_sid=viewer)
        await call(root, MerchantSettingsState, "load")
        state = await root.get_state(MerchantSettingsState)
        refused = await call(root, MerchantSettingsState, "ask_restore", state.history[1]["number"])
        assert state.confirm_kind == ""
        # Even with the question forged open, the restore itself needs an admin.
        state.confirm_kind, state._confirm_id = "restore", state.history[1]["number"]
        forged = await call(root, MerchantSettingsState, "restore_version")
        assert "admin" in str(forged).lower()
        return refused

    refused = run(scenario())
    assert factories.saved_settings(app_db["engine"], merchant_id)["branding.name"] == "X"
    assert "permission" in str(refused).lower() or "role" in str(refused).lower()


def test_list_settings_are_edited_as_entries_then_saved_with_the_form(app_db):
    """The retry schedule as chips (#17): entries added and removed on the page, a bad one named
    at once, and Save stores what the page shows."""
    merchant_id = app_db["merchant"].id

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantSettingsState, "load")
        state = await root.get_state(MerchantSettingsState)
        key = "billing.retry_days"
        assert state.list_items[key] == ["1", "3", "5"]
        await call(root, MerchantSettingsState, "add_item", key, {"item": "0"})
        assert state.list_errors[key] == "Enter a whole number of days from 1 to 60."
        await call(root, MerchantSettingsState, "add_item", key, {"item": "3"})
        assert state.list_errors[key] == "3 is in the list already."
        await call(root, MerchantSettingsState, "add_item", key, {"item": " 10 "})
        await call(root, MerchantSettingsState, "remove_item", key, 2)  # 5
        assert state.list_items[key] == ["1", "3", "10"] and state.list_errors[key] == ""
        origins = "checkout.success_url_origins"
        await call(root, MerchantSettingsState, "add_item", origins, {"item": "https://a.example"})
        settings = factories.saved_settings(app_db["engine"], merchant_id)
        form = settings_form(
            settings,
            **{key: ", ".join(state.list_items[key]), origins: "https://a.example"},
        )
        await call(root, MerchantSettingsState, "save", form)
        assert state.error == ""

    run(scenario())
    saved = factories.saved_settings(app_db["engine"], merchant_id)
    assert saved["billing.retry_days"] == [1, 3, 10]
    assert saved["checkout.success_url_origins"] == ["https://a.example"]


def _file(content: bytes):
    import io
    from pathlib import Path

    import reflex as rx

    return [rx.UploadFile(file=io.BytesIO(content), path=Path("portal-settings.json"))]


def test_an_exported_file_is_checked_shown_then_applied(app_db):
    """Export, then import an edited copy: its changes are listed first, a bad file is refused
    with nothing applied, a stale ticket gets nothing in, Apply makes one version."""
    import json

    from portal_app.services import settings_history

    merchant_id = app_db["merchant"].id

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantSettingsState, "load")
        state = await root.get_state(MerchantSettingsState)
        download = await call(root, MerchantSettingsState, "export_settings")
        assert "portal-settings.json" in str(download)
        with Session(app_db["engine"]) as session:
            exported = json.loads(
                settings_history.export_file(session, CLOCK, merchant_id=merchant_id)
            )
        exported["settings"]["branding.name"] = "From staging"
        data = json.dumps(exported).encode()
        await call(root, MerchantSettingsState, "upload_settings", _file(data), "stale")
        assert state.import_name == "" and "expired" in state.import_error
        bad = json.dumps({**exported, "settings": {"nope": 1}}).encode()
        await call(root, MerchantSettingsState, "upload_settings", _file(bad), state.upload_ticket)
        assert state.import_error == "Unknown setting 'nope'." and state.import_name == ""
        await call(root, MerchantSettingsState, "upload_settings", _file(data), state.upload_ticket)
        assert state.import_error == "" and state.import_name == "portal-settings.json"
        assert [row["label"] for row in state.import_diff] == ["Portal name"]
        assert (
            factories.saved_settings(app_db["engine"], merchant_id)["branding.name"]
            != "From staging"
        )
        await call(root, MerchantSettingsState, "apply_import")
        assert state.import_name == "" and state.history[0]["what"] == "Imported a settings file"

    run(scenario())
    assert (
        factories.saved_settings(app_db["engine"], merchant_id)["branding.name"] == "From staging"
    )
