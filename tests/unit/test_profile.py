"""Profile updates: per-part toggles, address and custom-field validation, all or nothing, one
audit event with only what changed."""

import pytest
from sqlmodel import func, select

from portal_app.models import AuditEvent, Customer
from portal_app.services import audit, features, profile
from portal_app.services.errors import FeatureDisabled, NotFound, ProfileError
from tests import factories

STAFF = audit.Actor.merchant(1)

ADDRESS = {
    "line1": " 1 Infinite Loop ",
    "line2": "",
    "city": "Cupertino",
    "postal_code": "95014",
    "state": "CA",
    "country": "us",
}

DEFINITIONS = [
    {"key": "company_size", "label": "Company size", "type": "number"},
    {"key": "vat_id", "label": "VAT ID", "type": "text", "required": True},
    {"key": "tier", "label": "Support tier", "type": "select", "options": ["gold", "silver"]},
    {"key": "newsletter", "label": "Newsletter", "type": "checkbox"},
    {"key": "renewal", "label": "Contract renewal", "type": "date"},
]


def _update(session, clock, customer, changes):
    return factories.as_customer(profile.update_profile, session, clock, customer, changes=changes)


def _events(session):
    return factories.audit_events(session, "profile.update")


def _event_count(session):
    return session.exec(select(func.count()).select_from(AuditEvent)).one()


def _snapshot(customer):
    return (
        customer.name,
        dict(customer.billing_address),
        dict(customer.shipping_address),
        dict(customer.custom_fields),
    )


@pytest.fixture
def fields(session, clock, catalog):
    features.save(
        session,
        clock,
        catalog.merchant.id,
        {"profile.custom_field_definitions": DEFINITIONS},
        STAFF,
    )


def test_name_is_stripped_and_audited_alone(session, clock, customer):
    _update(session, clock, customer, {"name": "  Zoë Ångström-Berg  "})
    assert session.get(Customer, customer.id).name == "Zoë Ångström-Berg"
    [event] = _events(session)
    assert event.before == {"name": "Zoë Ångström"}
    assert event.after == {"name": "Zoë Ångström-Berg"}
    assert (event.target_type, event.target_id, event.customer_id) == (
        "customer",
        str(customer.id),
        customer.id,
    )


def test_billing_address_is_normalised_and_only_changed_parts_audited(session, clock, customer):
    _update(session, clock, customer, {"billing_address": ADDRESS})
    assert customer.billing_address == {
        "line1": "1 Infinite Loop",
        "line2": "",
        "city": "Cupertino",
        "postal_code": "95014",
        "state": "CA",
        "country": "US",
    }
    _update(session, clock, customer, {"billing_address": {**ADDRESS, "city": "San José"}})
    assert customer.billing_address["city"] == "San José"
    second = _events(session)[1]
    assert second.before == {"billing_address": {"city": "Cupertino"}}
    assert second.after == {"billing_address": {"city": "San José"}}


def test_shipping_address_can_be_set_and_cleared(session, clock, customer):
    _update(session, clock, customer, {"shipping_address": {**ADDRESS, "country": "DE"}})
    assert customer.shipping_address["country"] == "DE"
    _update(session, clock, customer, {"shipping_address": {}})
    assert customer.shipping_address == {}
    cleared = _events(session)[1]
    assert cleared.before["shipping_address"]["city"] == "Cupertino"
    assert cleared.after["shipping_address"]["city"] == ""


def test_address_problems_are_all_listed_and_nothing_changes(session, clock, customer):
    _update(session, clock, customer, {"billing_address": ADDRESS})
    before, events = _snapshot(customer), _event_count(session)
    bad = {
        "line1": "x" * 201,
        "city": "",
        "postal_code": "950$14",
        "country": "USA",
        "zip": "95014",
    }
    with pytest.raises(ProfileError) as caught:
        _update(session, clock, customer, {"name": "New Name", "billing_address": bad})
    message = str(caught.value)
    for expected in (
        "unknown part 'zip'",
        "address line 1 can be at most 200 characters",
        "city is required",
        "postal code may only contain",
        "country must be a two-letter country code",
    ):
        assert expected in message
    assert caught.value.code == "invalid_profile"
    assert _snapshot(session.get(Customer, customer.id)) == before
    assert _event_count(session) == events


@pytest.mark.parametrize("country", ["XX", "EU", "U1", "ÜS", "", 12])
def test_country_must_be_a_real_two_letter_code(session, clock, customer, country):
    with pytest.raises(ProfileError, match="country"):
        _update(session, clock, customer, {"billing_address": {**ADDRESS, "country": country}})
    assert customer.billing_address == {}


def test_lowercase_country_code_is_accepted_as_upper(session, clock, customer):
    _update(session, clock, customer, {"billing_address": {**ADDRESS, "country": " gb "}})
    assert customer.billing_address["country"] == "GB"


@pytest.mark.parametrize("name", ["", "   ", "a" * 201, "Zoë\nEvil", 42])
def test_bad_names_are_refused(session, clock, customer, name):
    with pytest.raises(ProfileError):
        _update(session, clock, customer, {"name": name})
    assert customer.name == "Zoë Ångström"
    assert _events(session) == []


@pytest.mark.parametrize(
    ("part", "toggle", "value"),
    [
        ("name", "profile.name", "Someone Else"),
        ("billing_address", "profile.billing_address", ADDRESS),
        ("shipping_address", "profile.shipping_address", ADDRESS),
        ("custom_fields", "profile.custom_fields", {"vat_id": "DE123"}),
    ],
)
def test_each_part_is_refused_when_its_toggle_is_off(
    session, clock, catalog, customer, fields, part, toggle, value
):
    features.save(session, clock, catalog.merchant.id, {toggle: False}, STAFF)
    before, events = _snapshot(customer), _event_count(session)
    with pytest.raises(FeatureDisabled):
        _update(session, clock, customer, {part: value})
    # a valid change to another part in the same request is not applied either
    other = "billing_address" if part == "name" else "name"
    with pytest.raises(FeatureDisabled):
        _update(session, clock, customer, {part: value, other: ADDRESS if other != "name" else "X"})
    assert _snapshot(customer) == before and _event_count(session) == events
    assert profile.editable_parts(session, catalog.merchant.id)[part] is False


def test_email_is_not_changed_here(session, clock, customer):
    with factories.refused(ProfileError, "email_separately"):
        _update(session, clock, customer, {"email": "new@example.com", "name": "New"})
    assert (customer.email, customer.name) == ("zoe@example.com", "Zoë Ångström")


def test_unknown_profile_keys_are_refused(session, clock, customer):
    with factories.refused(ProfileError, "unknown_field"):
        _update(session, clock, customer, {"credit_balance": 10_000, "name": "New"})
    assert (customer.credit_balance, customer.name) == (0, "Zoë Ångström")


def test_unknown_customer_is_not_found(session, clock, customer):
    with pytest.raises(NotFound):
        profile.update_profile(
            session,
            clock,
            customer_id=customer.id + 100,
            changes={"name": "X"},
            actor=audit.Actor.customer(customer.id),
        )


def test_custom_fields_of_every_type_are_normalised(session, clock, customer, fields):
    _update(
        session,
        clock,
        customer,
        {
            "custom_fields": {
                "company_size": " 42 ",
                "vat_id": "  DE123456789 ",
                "tier": "gold",
                "newsletter": True,
                "renewal": "2026-12-31",
            }
        },
    )
    assert customer.custom_fields == {
        "company_size": 42,
        "vat_id": "DE123456789",
        "tier": "gold",
        "newsletter": True,
        "renewal": "2026-12-31",
    }
    _update(session, clock, customer, {"custom_fields": {"company_size": "2.5"}})
    assert customer.custom_fields["company_size"] == "2.5"  # exact decimal text, never a float
    last = _events(session)[-1]
    assert last.before == {"custom_fields": {"company_size": 42}}
    assert last.after == {"custom_fields": {"company_size": "2.5"}}
    _update(session, clock, customer, {"custom_fields": {"company_size": 0.1}})
    assert customer.custom_fields["company_size"] == "0.1"
    _update(session, clock, customer, {"custom_fields": {"company_size": "-3.000"}})
    assert customer.custom_fields["company_size"] == -3


def test_custom_field_problems_are_all_listed_and_nothing_changes(session, clock, customer, fields):
    _update(session, clock, customer, {"custom_fields": {"vat_id": "DE1", "tier": "silver"}})
    before, events = _snapshot(customer), _event_count(session)
    with pytest.raises(ProfileError) as caught:
        _update(
            session,
            clock,
            customer,
            {
                "name": "Valid Name",
                "custom_fields": {
                    "company_size": "lots",
                    "vat_id": "",
                    "tier": "platinum",
                    "newsletter": "yes",
                    "renewal": "2026-02-30",
                    "shoe_size": 44,
                },
            },
        )
    message = str(caught.value)
    for expected in (
        "unknown field 'shoe_size'",
        "Company size must be a number",
        "VAT ID is required",
        "Support tier must be one of gold, silver",
        "Newsletter must be ticked or not",
        "Contract renewal must be a date",
    ):
        assert expected in message
    assert _snapshot(session.get(Customer, customer.id)) == before
    assert _event_count(session) == events


@pytest.mark.parametrize(
    "value", [True, float("nan"), float("inf"), "1e999999", "inf", "1e15", "0.0000001", [1]]
)
def test_number_fields_refuse_non_numbers(session, clock, customer, fields, value):
    with pytest.raises(ProfileError, match="Company size must be a number"):
        _update(session, clock, customer, {"custom_fields": {"vat_id": "X", "company_size": value}})


def test_required_custom_field_must_be_given(session, clock, customer, fields):
    with pytest.raises(ProfileError, match="VAT ID is required"):
        _update(session, clock, customer, {"custom_fields": {"tier": "gold"}})
    assert customer.custom_fields == {}


def test_blank_value_clears_an_optional_custom_field(session, clock, customer, fields):
    _update(session, clock, customer, {"custom_fields": {"vat_id": "DE1", "tier": "gold"}})
    _update(session, clock, customer, {"custom_fields": {"tier": None}})
    assert customer.custom_fields == {"vat_id": "DE1"}
    last = _events(session)[-1]
    assert last.before == {"custom_fields": {"tier": "gold"}}
    assert last.after == {"custom_fields": {"tier": None}}


def test_custom_fields_without_definitions_refuse_every_key(session, clock, customer):
    with pytest.raises(ProfileError, match="unknown field 'anything'"):
        _update(session, clock, customer, {"custom_fields": {"anything": "x"}})


def test_an_update_that_changes_nothing_writes_no_event(session, clock, customer):
    _update(session, clock, customer, {"name": "Zoë Ångström", "shipping_address": {}})
    _update(session, clock, customer, {})
    assert _events(session) == []


def test_several_parts_in_one_event(session, clock, customer, fields):
    _update(
        session,
        clock,
        customer,
        {"name": "Zoë", "billing_address": ADDRESS, "custom_fields": {"vat_id": "DE1"}},
    )
    [event] = _events(session)
    assert set(event.after) == {"name", "billing_address", "custom_fields"}
    assert event.after["custom_fields"] == {"vat_id": "DE1"}
    assert audit.verify_chain(session, customer.merchant_id).ok


def test_editable_parts_reflect_the_toggles(session, clock, catalog):
    assert profile.editable_parts(session, catalog.merchant.id) == {
        "name": True,
        "billing_address": True,
        "shipping_address": True,
        "custom_fields": True,
        "email": True,
    }
    other = factories.make_merchant(session, clock, "globex")
    features.save(session, clock, other.id, {"profile.email": False}, STAFF)
    assert profile.editable_parts(session, other.id)["email"] is False
    assert profile.editable_parts(session, catalog.merchant.id)["email"] is True
