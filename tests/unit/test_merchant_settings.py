"""Settings → Customer Portal through the staff state: typed form parsing, invalid values saved
nowhere, presets previewed then applied, customers refused."""

from sqlmodel import Session, select

from portal_app.models import AuditEvent
from portal_app.services import features
from portal_app.state import MerchantSettingsState
from portal_app.state.merchant_settings import parse_form
from tests import factories
from tests.statekit import call, root_with, run, settings_form
from tests.unit.helpers_staff import a_customer_calls


def test_parse_form_types_values():
    settings = features.FeatureSet()
    data = settings_form(settings, **{"pause.max_days": "45", "billing.retry_days": "2, 4"})
    data.pop("subscriptions.pause", None)
    parsed = parse_form(data)
    assert parsed["pause.max_days"] == 45
    assert parsed["billing.retry_days"] == [2, 4]
    assert parsed["subscriptions.pause"] is False
    assert parsed["subscriptions.upgrade"] is True
    assert parsed["cancel.reasons"] == features.DEFAULT_REASONS


def test_invalid_value_shows_error_and_saves_nothing(app_db):
    merchant_id = app_db["merchant"].id
    before = factories.saved_settings(app_db["engine"], merchant_id)

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        form = settings_form(before, **{"pause.max_days": "0", "branding.name": "New name"})
        await call(root, MerchantSettingsState, "save", form)
        return (await root.get_state(MerchantSettingsState)).error

    error = run(scenario())
    assert "Longest pause (days): must be at least 1." in error
    after = factories.saved_settings(app_db["engine"], merchant_id)
    assert after.values == before.values


def test_preset_preview_then_apply(app_db):
    merchant_id = app_db["merchant"].id

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, MerchantSettingsState, "preview_preset", "b2b")
        state = await root.get_state(MerchantSettingsState)
        diff = list(state.preset_diff)
        unchanged = factories.saved_settings(app_db["engine"], merchant_id)["subscriptions.cancel"]
        await call(root, MerchantSettingsState, "apply_preset")
        return diff, unchanged

    diff, cancel_before_apply = run(scenario())
    assert {"label": "Cancel subscription", "before": "on", "after": "off"} in diff
    assert cancel_before_apply is True
    assert factories.saved_settings(app_db["engine"], merchant_id)["subscriptions.cancel"] is False
    with Session(app_db["engine"]) as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert "settings.preset.b2b" in actions


def test_customers_cannot_touch_settings(app_db):
    result, state = a_customer_calls(app_db, MerchantSettingsState, "apply_preset")
    assert "/merchant/login" in str(result) and state.rows == []


def test_portal_uses_the_brand_colour_and_name(app_db):
    from portal_app.services import audit
    from portal_app.state import NavState
    from portal_app.state.guard import CLOCK

    with Session(app_db["engine"]) as session:
        features.save(
            session,
            CLOCK,
            app_db["merchant"].id,
            {
                "branding.color": "#0f766e",
                "branding.name": "Teal Co",
                "branding.logo_url": "javascript:alert(1)",
                "invoices.view": False,
            },
            audit.SYSTEM,
        )
        session.commit()

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        await call(root, NavState, "load")
        return await root.get_state(NavState)

    nav = run(scenario())
    assert (nav.brand_color, nav.brand_name, nav.logo_url) == ("#0f766e", "Teal Co", "")
    assert "Invoices" not in [section.label for section in nav.sections]
    assert nav.enabled["invoices.view"] is False
