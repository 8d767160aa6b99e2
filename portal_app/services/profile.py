"""The customer's own profile: name, billing and shipping address, the merchant's custom fields.

Each part is a merchant toggle (`profile.*`), checked here. An update is all or nothing: every
value is validated first and every problem is listed in one error, then the changes are written
with one audit event holding the before and after of what actually changed.

The email address is changed through services.email_change (confirmed by the new address)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.models import Customer
from portal_app.services import audit, features
from portal_app.services.errors import FeatureDisabled, NotFound, ProfileError

PART_TOGGLES = {
    "name": "profile.name",
    "billing_address": "profile.billing_address",
    "shipping_address": "profile.shipping_address",
    "custom_fields": "profile.custom_fields",
}
PART_LABELS = {
    "name": "Name",
    "billing_address": "Billing address",
    "shipping_address": "Shipping address",
    "custom_fields": "Custom fields",
}
NAME_MAX = 200
TEXT_MAX = 500
NUMBER_MAX_CHARS = 30
NUMBER_LIMIT = Decimal(10) ** 15
NUMBER_DECIMALS = 6
# Address keys and their longest values; an address is replaced whole, blanks stored as "".
ADDRESS_FIELDS = {
    "line1": 200,
    "line2": 200,
    "city": 100,
    "postal_code": 20,
    "state": 100,
    "country": 2,
}
ADDRESS_REQUIRED = ("line1", "city", "country")
ADDRESS_LABELS = {
    "line1": "address line 1",
    "line2": "address line 2",
    "city": "city",
    "postal_code": "postal code",
    "state": "state or region",
    "country": "country",
}
POSTAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]*$")
# Codes CLDR lists that are not ISO 3166-1 countries (reserved or private-use); XK stays, as
# payment processors accept it for Kosovo.
NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes, from the CLDR data babel ships."""
    from babel import Locale

    return frozenset(
        code
        for code in Locale("en").territories
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    )


def editable_parts(session: Session, merchant_id: int) -> dict[str, bool]:
    """Which parts of the profile the merchant lets customers edit (email included, for the UI;
    it is changed through `email_change.request_email_change`)."""
    settings = features.load(session, merchant_id)
    parts = {part: settings.enabled(toggle) for part, toggle in PART_TOGGLES.items()}
    parts["email"] = settings.enabled("profile.email")
    return parts


def field_definitions(session: Session, merchant_id: int) -> list[dict[str, Any]]:
    return list(features.load(session, merchant_id)["profile.custom_field_definitions"])


# --- validation ---------------------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def clean_name(value: Any, problems: list[str]) -> str | None:
    if not isinstance(value, str):
        problems.append("Name must be text.")
        return None
    name = value.strip()
    if not name:
        problems.append("Name cannot be empty.")
    elif len(name) > NAME_MAX:
        problems.append(f"Name can be at most {NAME_MAX} characters.")
    elif _has_control(name):
        problems.append("Name contains characters that are not allowed.")
    else:
        return name
    return None


def clean_address(value: Any, label: str, problems: list[str]) -> dict[str, str] | None:
    """A whole address, or {} (None) to clear it."""
    if value is None or value == {}:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{label}: must be an address.")
        return None
    before = len(problems)
    unknown = sorted(str(key) for key in value if key not in ADDRESS_FIELDS)
    if unknown:
        problems.append(f"{label}: unknown part {', '.join(repr(k) for k in unknown)}.")
    cleaned: dict[str, str] = {}
    for key, limit in ADDRESS_FIELDS.items():
        raw = value.get(key)
        if raw is None:
            raw = ""
        name = ADDRESS_LABELS[key]
        if not isinstance(raw, str):
            problems.append(f"{label}: {name} must be text.")
            continue
        text = raw.strip()
        if key == "country":
            text = text.upper()
        if key in ADDRESS_REQUIRED and not text:
            problems.append(f"{label}: {name} is required.")
        elif len(text) > limit and key != "country":
            problems.append(f"{label}: {name} can be at most {limit} characters.")
        elif _has_control(text):
            problems.append(f"{label}: {name} contains characters that are not allowed.")
        elif key == "country" and not (
            len(text) == 2 and text.isascii() and text.isalpha() and text in country_codes()
        ):
            problems.append(f"{label}: country must be a two-letter country code such as US or DE.")
        elif key == "postal_code" and text and not POSTAL_CODE.match(text):
            problems.append(f"{label}: postal code may only contain letters, digits, spaces and -.")
        cleaned[key] = text
    return cleaned if len(problems) == before else None


def _clean_number(value: Any) -> int | str:
    """An exact number: an int when whole, else its decimal text (e.g. "2.5"); never a float,
    which neither JSON documents nor the audit trail keep exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError
    text = str(value).strip()
    if not 0 < len(text) <= NUMBER_MAX_CHARS:
        raise ValueError
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError from None
    if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
        raise ValueError
    if number == number.to_integral_value():
        return int(number)
    number = number.normalize()
    if -number.as_tuple().exponent > NUMBER_DECIMALS:
        raise ValueError
    return format(number, "f")


def _clean_custom_value(definition: dict[str, Any], value: Any) -> Any:
    """The stored form of a custom field's value; ValueError with a message-ready reason."""
    kind = definition["type"]
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError("must be text")
        text = value.strip()
        if len(text) > TEXT_MAX:
            raise ValueError(f"can be at most {TEXT_MAX} characters")
        if _has_control(text):
            raise ValueError("contains characters that are not allowed")
        return text
    if kind == "number":
        try:
            return _clean_number(value)
        except ValueError:
            raise ValueError("must be a number") from None
    if kind == "select":
        if value not in definition["options"]:
            raise ValueError(f"must be one of {', '.join(definition['options'])}")
        return value
    if kind == "checkbox":
        if not isinstance(value, bool):
            raise ValueError("must be ticked or not")
        return value
    if kind == "date":
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise ValueError("must be a date (YYYY-MM-DD)")
    raise ValueError("has an unknown type")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean_custom_fields(
    value: Any, definitions: list[dict[str, Any]], current: dict[str, Any], problems: list[str]
) -> dict[str, Any] | None:
    """Merge the given values into the current ones; a blank value clears an optional field.
    Returns the whole new dict, or None with the problems appended."""
    if not isinstance(value, dict):
        problems.append("Custom fields: must be a set of values.")
        return None
    by_key = {definition["key"]: definition for definition in definitions}
    before = len(problems)
    unknown = sorted(str(key) for key in value if key not in by_key)
    if unknown:
        problems.append(f"Custom fields: unknown field {', '.join(repr(k) for k in unknown)}.")
    merged = dict(current)
    for key, raw in value.items():
        definition = by_key.get(key)
        if definition is None:
            continue
        if _blank(raw):
            merged.pop(key, None)
            continue
        try:
            merged[key] = _clean_custom_value(definition, raw)
        except ValueError as exc:
            problems.append(f"{definition['label']} {exc}.")
            merged.pop(key, None)
    for definition in definitions:
        key = definition["key"]
        if definition["required"] and _blank(merged.get(key)) and key not in unknown:
            already = any(p.startswith(f"{definition['label']} ") for p in problems[before:])
            if not already:
                problems.append(f"{definition['label']} is required.")
    return merged if len(problems) == before else None


# --- the update ---------------------------------------------------------------------------------


def _diff(before: dict[str, Any], after: dict[str, Any], keys) -> tuple[dict, dict]:
    old, new = {}, {}
    for key in keys:
        if before.get(key) != after.get(key):
            old[key] = before.get(key)
            new[key] = after.get(key)
    return old, new


def update_profile(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    changes: dict[str, Any],
    actor: audit.Actor,
) -> Customer:
    """Apply `changes` (any of name, billing_address, shipping_address, custom_fields) or, if
    anything is wrong, nothing. Addresses are replaced whole ({} clears one); custom fields are
    merged (a blank value clears an optional field)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found.")
    if not isinstance(changes, dict):
        raise ProfileError("Nothing to change.")
    if "email" in changes:
        raise ProfileError(
            "Your email address is changed separately: we send a confirmation link to the new "
            "address first.",
            code="email_separately",
        )
    unknown = sorted(str(key) for key in changes if key not in PART_TOGGLES)
    if unknown:
        raise ProfileError(
            f"Unknown profile field {', '.join(repr(k) for k in unknown)}.", code="unknown_field"
        )
    settings = features.load(session, customer.merchant_id)
    disabled = [PART_LABELS[key] for key in changes if not settings.enabled(PART_TOGGLES[key])]
    if disabled:
        raise FeatureDisabled(f"{', '.join(disabled)} cannot be changed in this portal.")

    problems: list[str] = []
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = clean_name(changes["name"], problems)
    for part in ("billing_address", "shipping_address"):
        if part in changes:
            cleaned[part] = clean_address(changes[part], PART_LABELS[part], problems)
    if "custom_fields" in changes:
        cleaned["custom_fields"] = _clean_custom_fields(
            changes["custom_fields"],
            settings["profile.custom_field_definitions"],
            dict(customer.custom_fields or {}),
            problems,
        )
    if problems:
        raise ProfileError(" ".join(problems), code="invalid_profile")

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if "name" in cleaned and cleaned["name"] != customer.name:
        before["name"], after["name"] = customer.name, cleaned["name"]
    for part in ("billing_address", "shipping_address"):
        if part not in cleaned:
            continue
        current = dict(getattr(customer, part) or {})
        new = cleaned[part]
        # a missing part and a blank one are the same address
        old, changed = _diff(
            {key: current.get(key, "") for key in ADDRESS_FIELDS},
            {key: new.get(key, "") for key in ADDRESS_FIELDS},
            ADDRESS_FIELDS,
        )
        if changed or (new == {}) != (current == {}):
            before[part], after[part] = old, changed
    if "custom_fields" in cleaned:
        current = dict(customer.custom_fields or {})
        new = cleaned["custom_fields"]
        old, changed = _diff(current, new, sorted(set(current) | set(new)))
        if changed:
            before["custom_fields"], after["custom_fields"] = old, changed
    if not after:
        return customer

    with audit.changing(
        session,
        clock,
        customer,
        actor=actor,
        action="profile.update",
        before=before,
        target_type="customer",
        customer_id=customer.id,
    ) as change:
        for part in after:
            setattr(customer, part, cleaned[part])
        change.after = after
    return customer
