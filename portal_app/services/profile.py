"""The customer's own profile: name, billing and shipping address, the merchant's custom fields.

Each part is a merchant toggle (`profile.*`), checked here. An update is all or nothing: every
value is validated first and every problem is listed in one error, then the changes are written
with one audit event holding the before and after of what actually changed.

Email changes are requested here (`request_email_change`) and applied when the new address
confirms its link. They need a sign-in of the last 15 minutes, are rate limited, and mail the old
address a single-use link that undoes the change and ends every session (`cancel_email_change`).
A staff member acting for a customer (a support link's session) can do none of it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.config import load_settings
from portal_app.models import AuthSession, Customer, LoginToken
from portal_app.services import audit, auth, features, mailer, ratelimit, refusals
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
    it is changed through `request_email_change`)."""
    settings = features.load(session, merchant_id)
    parts = {part: settings.enabled(toggle) for part, toggle in PART_TOGGLES.items()}
    parts["email"] = settings.enabled("profile.email")
    return parts


def field_definitions(session: Session, merchant_id: int) -> list[dict[str, Any]]:
    return list(features.load(session, merchant_id)["profile.custom_field_definitions"])


# --- validation ---------------------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def _clean_name(value: Any, problems: list[str]) -> str | None:
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


def _clean_address(value: Any, label: str, problems: list[str]) -> dict[str, str] | None:
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
            "address first."
        )
    unknown = sorted(str(key) for key in changes if key not in PART_TOGGLES)
    if unknown:
        raise ProfileError(f"Unknown profile field {', '.join(repr(k) for k in unknown)}.")
    settings = features.load(session, customer.merchant_id)
    disabled = [PART_LABELS[key] for key in changes if not settings.enabled(PART_TOGGLES[key])]
    if disabled:
        raise FeatureDisabled(f"{', '.join(disabled)} cannot be changed in this portal.")

    problems: list[str] = []
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = _clean_name(changes["name"], problems)
    for part in ("billing_address", "shipping_address"):
        if part in changes:
            cleaned[part] = _clean_address(changes[part], PART_LABELS[part], problems)
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

    for part in after:
        setattr(customer, part, cleaned[part])
    session.add(customer)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=customer.merchant_id,
        actor=actor,
        action="profile.update",
        target_type="customer",
        target_id=customer.id,
        customer_id=customer.id,
        before=before,
        after=after,
    )
    return customer


# --- email change -------------------------------------------------------------------------------

# How recent the current sign-in must be to change the email (OWASP: re-authenticate first).
RECENT_SIGN_IN = timedelta(minutes=15)
# How long the old address's "that wasn't me" link works: well past the 15 minutes the new
# address has to confirm, so a change made while the owner was away can still be undone.
CANCEL_LINK_TTL = timedelta(days=3)
STAFF_ACTING = (
    "You are signed in as staff acting for this customer: only the customer can change their "
    "email address or sign-in settings."
)
REAUTH = "For your security, sign in again to change your email."
# email_change_status: what the email section of the profile page may offer
OPEN, STAFF_ACTING_GATE, REAUTH_GATE = "", "staff_acting", "reauth"


class ReauthRequired(ProfileError):
    """The current sign-in is older than RECENT_SIGN_IN: a fresh magic link first."""

    code = "reauth_required"


class StaffActing(ProfileError):
    code = "staff_acting"


class Throttled(ProfileError):
    """Over an email-change limit; the refusal is tallied in the caller's transaction, which
    should commit it (nothing else was written)."""

    code = "throttled"


@dataclass(frozen=True)
class EmailChangeLinks:
    """The raw tokens, for tests to follow; they live only in the two emails otherwise."""

    confirm_token: str
    cancel_token: str


@dataclass(frozen=True)
class CancelledChange:
    email: str  # the address the account has now
    old_email: str  # the address the cancel link was sent to
    reverted: bool  # the confirmed change was undone
    sessions_ended: int

    @property
    def outcome(self) -> str:
        """reverted | voided (never confirmed) | kept (the old address belongs to another
        customer now, so the account keeps the new one)."""
        if self.reverted:
            return "reverted"
        return "voided" if self.email == self.old_email else "kept"


def _sign_in_of(session: Session, customer_id: int, session_row_id: int) -> AuthSession:
    """The caller's own live session row: whether it is recent and whose it is come from the
    database, never from the browser."""
    row = session.get(AuthSession, session_row_id)
    if row is None or row.customer_id != customer_id or row.revoked_at is not None:
        raise NotFound("Session not found.")
    return row


def email_change_status(
    session: Session, clock: Clock, *, customer_id: int, session_row_id: int
) -> str:
    """OPEN, STAFF_ACTING_GATE (a support link's session) or REAUTH_GATE (signed in too long
    ago)."""
    row = _sign_in_of(session, customer_id, session_row_id)
    if row.acting_staff_id is not None:
        return STAFF_ACTING_GATE
    if clock.now() - row.created_at > RECENT_SIGN_IN:
        return REAUTH_GATE
    return OPEN


def _require_own_sign_in(session: Session, customer_id: int, session_row_id: int) -> None:
    if _sign_in_of(session, customer_id, session_row_id).acting_staff_id is not None:
        raise StaffActing(STAFF_ACTING)


def request_email_change(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    session_row_id: int,
    new_email: Any,
    actor: audit.Actor,
    limiter: ratelimit.RateLimiter,
) -> EmailChangeLinks:
    """Mail the new address a confirmation link (the change happens when it is opened) and the
    old address a link that cancels it and ends every session. Refused for a staff member acting
    for the customer, for a sign-in older than RECENT_SIGN_IN, and over the rate limits
    (`email_change_customer`, `email_change_ip`)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found.")
    features.require_feature(session, customer.merchant_id, "profile.email")
    gate = email_change_status(
        session, clock, customer_id=customer_id, session_row_id=session_row_id
    )
    if gate == STAFF_ACTING_GATE:
        raise StaffActing(STAFF_ACTING)
    if gate == REAUTH_GATE:
        raise ReauthRequired(REAUTH)
    address = auth.normalize_email(new_email if isinstance(new_email, str) else "")
    if address == customer.email:
        raise ProfileError("That is already your email address.")
    decision = limiter.hit(
        ("email_change_customer", str(customer.id)), ("email_change_ip", actor.ip or "-")
    )
    if not decision.allowed:
        refusals.record(
            session,
            clock,
            merchant_id=customer.merchant_id,
            action=refusals.THROTTLED,
            rule=decision.rule,
            ip=actor.ip,
            principal=f"customer:{customer.id}",
        )
        raise Throttled(decision.message())
    old_address = customer.email
    confirm = auth.request_email_change(
        session, clock, customer_id=customer.id, new_email=address, actor=actor
    )
    # Not voiding older cancel links: a second change must not disarm the first one's undo.
    cancel = auth.issue_token(
        session,
        clock,
        customer=customer,
        purpose=auth.EMAIL_CANCEL,
        return_to="/login",
        ttl=CANCEL_LINK_TTL,
        new_email=address,
        void_older=False,
    )
    link = f"{load_settings().public_url}/auth/email-change/cancel?{urlencode({'token': cancel})}"
    days = CANCEL_LINK_TTL.days
    mailer.queue(
        session,
        clock,
        customer=customer,
        kind="email_change_cancel",
        to_address=old_address,
        subject="Your billing email is being changed",
        body=(
            f"Hello {customer.name or old_address},\n\n"
            f"Someone signed in to your billing portal asked to change its email address from "
            f"{old_address} to {address}. The change happens when the new address confirms it.\n\n"
            "If that was you, there is nothing to do.\n\n"
            "If it was not you, open this link to cancel the change (or undo it, if it was "
            f"already confirmed) and sign out every session. It works once, for {days} days:"
            f"\n\n{link}\n"
        ),
    )
    return EmailChangeLinks(confirm, cancel)


def cancel_email_change(
    session: Session, clock: Clock, *, token: str, merchant_id: int | None, actor: audit.Actor
) -> CancelledChange:
    """The old address's link: void the pending confirmation, put the old address back if the
    change went through (unless another customer took it meanwhile), end every session. Single
    use; a bad or used link is tallied (commit the caller's transaction) and refused."""
    row = auth.claim_token(session, clock, token, purposes=(auth.EMAIL_CANCEL,))
    if row is None:
        if merchant_id is not None:
            refusals.record(
                session,
                clock,
                merchant_id=merchant_id,
                action=refusals.LINK_REJECTED,
                rule="bad_cancel_token",
                ip=actor.ip,
            )
        raise ProfileError("This link was already used or has expired.", code="bad_token")
    now = clock.now()
    # Void the confirmation first: a confirmation racing this waits for it, then finds its
    # link used; one that got there first has committed its new address, which we now see.
    session.execute(
        sa.update(LoginToken)
        .where(
            LoginToken.customer_id == row.customer_id,
            LoginToken.purpose == "email_change",
            LoginToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    customer = session.exec(
        select(Customer).where(Customer.id == row.customer_id).with_for_update()
    ).one()
    as_customer = audit.Actor.customer(customer.id, ip=actor.ip, user_agent=actor.user_agent)
    before, reverted = customer.email, False
    if customer.email != row.email:
        taken = session.exec(
            select(Customer.id).where(
                Customer.merchant_id == customer.merchant_id,
                Customer.email == row.email,
                Customer.id != customer.id,
            )
        ).first()
        if taken is None:
            customer.email, reverted = row.email, True
            session.add(customer)
            session.flush()
    ended = auth.revoke_all(
        session, clock, customer_id=customer.id, actor=as_customer, reason="email_change_cancelled"
    )
    audit.record(
        session,
        clock,
        merchant_id=customer.merchant_id,
        actor=as_customer,
        action="profile.email_change_cancelled",
        target_type="customer",
        target_id=customer.id,
        customer_id=customer.id,
        before={"email": before},
        after={"email": customer.email, "reverted": reverted, "requested": row.new_email},
    )
    return CancelledChange(customer.email, row.email, reverted, ended)


def send_reauth_link(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    session_row_id: int,
    actor: audit.Actor,
    limiter: ratelimit.RateLimiter,
) -> str | None:
    """A fresh sign-in link to the customer's own address that returns to the profile page,
    under the sign-in link limits. Not for a staff member acting for the customer. Returns the
    raw token (tests) or None when throttled (tallied; the caller commits and says so)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found.")
    _require_own_sign_in(session, customer_id, session_row_id)
    decision = limiter.hit(
        ("link_email", customer.email),
        ("link_ip_minute", actor.ip or "-"),
        ("link_ip_hour", actor.ip or "-"),
    )
    if not decision.allowed:
        refusals.record(
            session,
            clock,
            merchant_id=customer.merchant_id,
            action=refusals.THROTTLED,
            rule=decision.rule,
            ip=actor.ip,
            account=customer.email,
        )
        raise Throttled(decision.message())
    return auth.request_login_link(
        session,
        clock,
        merchant_id=customer.merchant_id,
        email=customer.email,
        return_to="/profile",
        actor=actor,
    )


__all__ = [
    "ADDRESS_FIELDS",
    "cancel_email_change",
    "country_codes",
    "editable_parts",
    "email_change_status",
    "field_definitions",
    "request_email_change",
    "send_reauth_link",
    "update_profile",
]
