"""Email preferences: defaults, merchant toggles, validation, audit, the mailer honouring them."""

import pytest
from sqlmodel import func, select

from portal_app.models import AuditEvent, NotificationPreference, OutboxEmail
from portal_app.services import audit, features, mailer, notification_prefs
from portal_app.services.errors import FeatureDisabled, NotFound, ProfileError
from tests import factories

STAFF = audit.Actor.merchant(1)


def _update(session, clock, customer, changes):
    return factories.as_customer(
        notification_prefs.update_preferences, session, clock, customer, changes=changes
    )


def _events(session):
    return factories.audit_events(session, "notifications.update")


def _set(session, clock, merchant_id, changes):
    features.save(session, clock, merchant_id, changes, STAFF)


def test_defaults_without_a_stored_row(session, customer):
    assert notification_prefs.get_preferences(session, customer.id) == {
        "receipts": True,
        "invoice_reminders": True,
        "renewal_notices": True,
        "marketing": False,
    }
    assert session.get(NotificationPreference, customer.id) is None


def test_unknown_customer_is_not_found(session, clock, customer):
    with pytest.raises(NotFound):
        notification_prefs.get_preferences(session, customer.id + 100)
    with pytest.raises(NotFound):
        notification_prefs.update_preferences(
            session,
            clock,
            customer_id=customer.id + 100,
            changes={"receipts": False},
            actor=audit.Actor.customer(customer.id),
        )


def test_turning_receipts_off_is_stored_audited_and_honoured(session, clock, customer):
    assert mailer.wants(session, customer, "receipt") is True
    result = _update(session, clock, customer, {"receipts": False, "renewal_notices": True})
    assert result["receipts"] is False and result["renewal_notices"] is True
    assert notification_prefs.get_preferences(session, customer.id) == result
    assert session.get(NotificationPreference, customer.id).receipts is False
    [event] = _events(session)
    assert (event.before, event.after) == ({"receipts": True}, {"receipts": False})
    assert event.customer_id == customer.id
    assert mailer.wants(session, customer, "receipt") is False
    assert mailer.wants(session, customer, "invoice_reminder") is True
    assert mailer.wants(session, customer, "magic_link") is True  # never optional
    queued = mailer.queue(
        session, clock, customer=customer, kind="receipt", subject="Receipt", body="Thanks"
    )
    assert queued is None
    assert session.exec(select(OutboxEmail)).all() == []
    _update(session, clock, customer, {"receipts": True})
    assert mailer.wants(session, customer, "receipt") is True


def test_marketing_cannot_be_turned_on_while_the_merchant_does_not_send_it(
    session, clock, catalog, customer
):
    with pytest.raises(FeatureDisabled, match="Marketing communications"):
        _update(session, clock, customer, {"marketing": True})
    # all or nothing: the valid part of the same request is not applied
    with pytest.raises(FeatureDisabled):
        _update(session, clock, customer, {"receipts": False, "marketing": True})
    assert notification_prefs.get_preferences(session, customer.id)["receipts"] is True
    assert session.get(NotificationPreference, customer.id) is None
    assert _events(session) == []
    assert mailer.wants(session, customer, "marketing") is False


def test_marketing_opt_in_when_offered_and_merchant_switch_still_wins(
    session, clock, catalog, customer
):
    _set(session, clock, catalog.merchant.id, {"notifications.marketing": True})
    assert mailer.wants(session, customer, "marketing") is False  # opt-in, not opt-out
    _update(session, clock, customer, {"marketing": True})
    assert mailer.wants(session, customer, "marketing") is True
    [event] = _events(session)
    assert event.after == {"marketing": True}  # the consent record
    _set(session, clock, catalog.merchant.id, {"notifications.marketing": False})
    assert mailer.wants(session, customer, "marketing") is False
    # turning a switched-off kind off is still allowed
    _update(session, clock, customer, {"marketing": False})
    assert notification_prefs.get_preferences(session, customer.id)["marketing"] is False


def test_merchant_switching_a_kind_off_overrides_the_customer(session, clock, catalog, customer):
    _update(session, clock, customer, {"invoice_reminders": True, "receipts": True})
    _set(session, clock, catalog.merchant.id, {"notifications.invoice_reminders": False})
    assert mailer.wants(session, customer, "invoice_reminder") is False
    assert mailer.wants(session, customer, "receipt") is True


def test_refused_when_customers_may_not_manage_email(session, clock, catalog, customer):
    _set(session, clock, catalog.merchant.id, {"notifications.manage": False})
    with pytest.raises(FeatureDisabled):
        _update(session, clock, customer, {"receipts": False})
    assert mailer.wants(session, customer, "receipt") is True
    assert session.get(NotificationPreference, customer.id) is None


def test_bad_input_is_listed_and_changes_nothing(session, clock, customer):
    _update(session, clock, customer, {"renewal_notices": False})
    before = session.exec(select(func.count()).select_from(AuditEvent)).one()
    with pytest.raises(ProfileError) as caught:
        _update(session, clock, customer, {"receipts": "no", "sms": True, "renewal_notices": True})
    message = str(caught.value)
    assert "Unknown email preference 'sms'" in message
    assert "Receipt emails must be on or off" in message
    assert notification_prefs.get_preferences(session, customer.id)["renewal_notices"] is False
    assert session.exec(select(func.count()).select_from(AuditEvent)).one() == before
    with pytest.raises(ProfileError):
        _update(session, clock, customer, ["receipts"])


def test_a_change_to_the_current_value_writes_nothing(session, clock, customer):
    assert _update(session, clock, customer, {"receipts": True, "marketing": False})["receipts"]
    assert session.get(NotificationPreference, customer.id) is None
    assert _events(session) == []


def test_preferences_are_per_customer(session, clock, catalog, customer):
    other = factories.make_customer(session, clock, catalog.merchant, "other@example.com")
    _update(session, clock, customer, {"renewal_notices": False})
    assert mailer.wants(session, customer, "renewal_notice") is False
    assert mailer.wants(session, other, "renewal_notice") is True
    assert notification_prefs.get_preferences(session, other.id)["renewal_notices"] is True


def test_available_preferences_follow_the_merchant_toggles(session, clock, catalog):
    def keys():
        return [
            option.key
            for option in notification_prefs.available_preferences(session, catalog.merchant.id)
        ]

    assert keys() == ["receipts", "invoice_reminders", "renewal_notices"]
    _set(
        session,
        clock,
        catalog.merchant.id,
        {"notifications.marketing": True, "notifications.receipts": False},
    )
    assert keys() == ["invoice_reminders", "renewal_notices", "marketing"]
    labels = {
        option.key: option.label
        for option in notification_prefs.available_preferences(session, catalog.merchant.id)
    }
    assert labels["marketing"] == "Marketing communications"
