"""Per-merchant feature toggles and options, business-type presets, and the guard services call.

The settings are one JSON document per merchant. `FEATURES` is its schema: every key has a type,
a default and, for choices, its allowed values. Unknown keys and bad values are refused whole."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import PortalSettings, SettingsVersion
from portal_app.services import audit, brand_logo, contrast, custom_fields
from portal_app.services.errors import FeatureDisabled, SettingsError

TIMINGS = ("immediate", "period_end", "customer_choice")
CANCEL_MODES = ("immediately", "period_end", "customer_choice")
DEFAULT_REASONS = [
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
]
# What the customer reads for each built-in reason; a merchant may reword any of them, and names
# its own reasons (`cancel.reason_labels`).
DEFAULT_REASON_LABELS = {
    "too_expensive": "It's too expensive",
    "missing_features": "Some features are missing",
    "switched_service": "I'm switching to another service",
    "unused": "I don't use it enough",
    "customer_service": "Customer service was not good enough",
    "too_complex": "It's too complicated",
    "low_quality": "Quality was lower than expected",
    "other": "Another reason",
}
NO_REASON_LABEL = "No reason given"  # the survey was off or skipped
OTHER_REASON = "other"  # the reason that asks the customer to say more
REASON_LABEL_MAX = 120


# Plain enough to refuse a typo, no more (a mail to it is the real check).
_EMAIL = re.compile(r"[^@\s\"<>]+@[^@\s\"<>]+\.[^@\s\"<>.]+")


@dataclass(frozen=True)
class Option:
    kind: str  # bool | choice | int | str | color | email | url | image | list | labels | fields
    default: Any
    label: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    group: str = ""
    always_on: bool = False
    allow_empty: bool = False
    origins: bool = False  # a list of web origins (https://app.example.com), nothing more


def _toggle(label: str, default: bool = True) -> Option:
    return Option("bool", default, label)


FEATURES: dict[str, Option] = {
    # Subscriptions
    "subscriptions.view": Option("bool", True, "View subscriptions", always_on=True),
    "subscriptions.upgrade": _toggle("Upgrade plan"),
    "subscriptions.downgrade": _toggle("Downgrade plan"),
    "subscriptions.change_interval": _toggle("Change billing cycle (monthly/annual)"),
    "subscriptions.pause": _toggle("Pause subscription", False),
    "subscriptions.cancel": _toggle("Cancel subscription"),
    "subscriptions.reactivate": _toggle("Reactivate"),
    # Plan-change options: timing per direction (Kill Bill style change policy)
    "plan_change.upgrade_timing": Option("choice", "immediate", "Upgrade timing", TIMINGS),
    "plan_change.downgrade_timing": Option("choice", "period_end", "Downgrade timing", TIMINGS),
    "plan_change.interval_timing": Option(
        "choice", "customer_choice", "Billing-cycle change timing", TIMINGS
    ),
    "pause.max_days": Option("int", 90, "Longest pause (days)", minimum=1, maximum=365),
    "pause.allow_open_ended": _toggle("Allow pausing without a resume date", False),
    "reactivate.after_cancel": _toggle("Restart subscriptions that have already ended"),
    # Cancellation flow
    "cancel.mode": Option("choice", "period_end", "When a cancellation takes effect", CANCEL_MODES),
    "cancel.survey": _toggle("Cancellation survey"),
    "cancel.reasons": Option("list", list(DEFAULT_REASONS), "Survey reasons"),
    "cancel.reason_labels": Option("labels", {}, "Survey reasons as customers read them"),
    "cancel.retention_offers": _toggle("Retention offers"),
    "cancel.downgrade_suggestion": _toggle("Downgrade suggestion"),
    "cancel.pause_instead": _toggle("Offer pause instead of cancel", False),
    # Invoices
    "invoices.view": _toggle("View invoices"),
    "invoices.download_pdf": _toggle("Download invoice PDF"),
    "invoices.pay": _toggle("Pay open invoices"),
    "invoices.receipts": _toggle("View receipts"),
    # Orders (one-time purchases)
    "orders.view": _toggle("Order history", False),
    # Checkout (the front door)
    "checkout.public": _toggle("Public checkout (landing page and /buy links)"),
    "checkout.require_billing_address": _toggle("Ask for a billing address at checkout", False),
    "checkout.success_url_origins": Option(
        "list",
        [],
        "Origins allowed as the page buyers return to after paying (success_url)",
        allow_empty=True,
        origins=True,
    ),
    # Payment methods
    "payment_methods.view": _toggle("View cards"),
    "payment_methods.add": _toggle("Add card"),
    "payment_methods.set_default": _toggle("Set default card"),
    "payment_methods.remove": _toggle("Remove cards"),
    "payment_methods.update_expiry": _toggle("Update expiration"),
    # Digital products
    "digital.downloads": _toggle("Download files"),
    "digital.license_keys": _toggle("View license keys"),
    "digital.links": _toggle("Access links"),
    "digital.history": _toggle("Download history"),
    "digital.link_ttl_minutes": Option(
        "int", 10, "Download link lifetime (minutes)", minimum=1, maximum=1440
    ),
    # Profile
    "profile.name": _toggle("Edit name"),
    "profile.email": _toggle("Change email"),
    "profile.billing_address": _toggle("Edit billing address"),
    "profile.shipping_address": _toggle("Edit shipping address"),
    "profile.custom_fields": _toggle("Edit custom fields"),
    "profile.custom_field_definitions": Option("fields", [], "Custom field definitions"),
    # Notification preferences
    "notifications.manage": _toggle("Let customers manage email preferences"),
    "notifications.receipts": _toggle("Receipt emails"),
    "notifications.invoice_reminders": _toggle("Invoice reminders"),
    "notifications.renewal_notices": _toggle("Subscription renewal notices"),
    "notifications.marketing": _toggle("Marketing communications", False),
    # Security
    "security.idle_timeout_minutes": Option(
        "int", 30, "Idle timeout (minutes)", minimum=5, maximum=240
    ),
    "security.absolute_timeout_hours": Option(
        "int", 12, "Absolute session timeout (hours)", minimum=1, maximum=72
    ),
    "api.return_url_origins": Option(
        "list",
        [],
        "Origins allowed as return_url of API portal links",
        allow_empty=True,
        origins=True,
    ),
    # Branding
    "branding.name": Option("str", "", "Portal name"),
    "branding.logo": Option("image", "", "Logo", allow_empty=True),  # services/brand_logo
    "branding.logo_url": Option("str", "", "Logo address (used when no logo is uploaded)"),
    "branding.color": Option("color", "#4f46e5", "Brand colour"),
    "branding.support_email": Option("email", "", "Support email", allow_empty=True),
    "branding.support_url": Option("url", "", "Help or support page", allow_empty=True),
    "branding.footer": Option("str", "", "Footer text"),
    # Billing (dunning)
    "billing.retry_days": Option("list", [1, 3, 5], "Payment retry schedule (days after failure)"),
    "billing.after_final_failure": Option(
        "choice", "cancel", "After the last failed retry", ("cancel", "leave_past_due")
    ),
}

_SUBSCRIPTION_KEYS = [
    "subscriptions.upgrade",
    "subscriptions.downgrade",
    "subscriptions.change_interval",
    "subscriptions.pause",
    "subscriptions.cancel",
    "subscriptions.reactivate",
]

# The seed's "Common configurations" table, as concrete settings.
PRESETS: dict[str, dict[str, Any]] = {
    # "Full subscription management, plan upgrades"
    "saas": {
        **{key: True for key in _SUBSCRIPTION_KEYS},
        "subscriptions.pause": False,
        "plan_change.upgrade_timing": "immediate",
        "plan_change.downgrade_timing": "period_end",
        "plan_change.interval_timing": "customer_choice",
        "cancel.mode": "period_end",
        "cancel.survey": True,
        "cancel.retention_offers": True,
        "cancel.downgrade_suggestion": True,
        "cancel.pause_instead": False,
        "invoices.view": True,
        "invoices.pay": True,
        "digital.license_keys": True,
    },
    # "Invoice access, order history, limited sub management"
    "ecommerce": {
        "subscriptions.upgrade": False,
        "subscriptions.downgrade": False,
        "subscriptions.change_interval": False,
        "subscriptions.pause": True,
        "subscriptions.cancel": True,
        "subscriptions.reactivate": True,
        "cancel.mode": "period_end",
        "cancel.survey": True,
        "cancel.retention_offers": False,
        "cancel.downgrade_suggestion": False,
        "cancel.pause_instead": True,
        "invoices.view": True,
        "invoices.download_pdf": True,
        "invoices.pay": True,
        "invoices.receipts": True,
        "digital.downloads": True,
        "digital.history": True,
        "profile.shipping_address": True,
        "orders.view": True,
    },
    # "Full access with pause option"
    "membership": {
        **{key: True for key in _SUBSCRIPTION_KEYS},
        "plan_change.upgrade_timing": "immediate",
        "plan_change.downgrade_timing": "period_end",
        "plan_change.interval_timing": "customer_choice",
        "pause.allow_open_ended": True,
        "cancel.mode": "customer_choice",
        "cancel.survey": True,
        "cancel.retention_offers": True,
        "cancel.downgrade_suggestion": True,
        "cancel.pause_instead": True,
        "reactivate.after_cancel": True,
    },
    # "Invoice focus, restricted cancellation"
    "b2b": {
        "subscriptions.upgrade": True,
        "subscriptions.downgrade": False,
        "subscriptions.change_interval": True,
        "subscriptions.pause": False,
        "subscriptions.cancel": False,
        "subscriptions.reactivate": True,
        "plan_change.upgrade_timing": "period_end",
        "plan_change.interval_timing": "period_end",
        "cancel.mode": "period_end",
        "cancel.retention_offers": False,
        "cancel.pause_instead": False,
        "invoices.view": True,
        "invoices.download_pdf": True,
        "invoices.pay": True,
        "invoices.receipts": True,
        "profile.billing_address": True,
        "profile.custom_fields": True,
        "notifications.invoice_reminders": True,
        "notifications.marketing": False,
    },
}

PRESET_LABELS = {
    "saas": "SaaS",
    "ecommerce": "E-commerce",
    "membership": "Membership",
    "b2b": "B2B",
}


def defaults() -> dict[str, Any]:
    return {key: copy.deepcopy(option.default) for key, option in FEATURES.items()}


@dataclass
class FeatureSet:
    """A merchant's effective settings: defaults overlaid with the stored document."""

    values: dict[str, Any] = field(default_factory=defaults)

    def enabled(self, key: str) -> bool:
        option = FEATURES[key]
        if option.kind != "bool":
            raise KeyError(f"{key} is not a toggle")
        return option.always_on or bool(self.values[key])

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


# What the portal's toggles and policies limit is the customer; the merchant's own code, calling
# the REST API, may do what staff may do. Inside `as_merchant()` these values replace the stored
# ones: the actions are on, and each policy lets the caller choose. Everything else (mail,
# checkout, origins, limits) reads as stored.
MERCHANT_LIFTS: dict[str, Any] = {
    "subscriptions.upgrade": True,
    "subscriptions.downgrade": True,
    "subscriptions.change_interval": True,
    "subscriptions.pause": True,
    "subscriptions.cancel": True,
    "subscriptions.reactivate": True,
    "plan_change.upgrade_timing": "customer_choice",
    "plan_change.downgrade_timing": "customer_choice",
    "plan_change.interval_timing": "customer_choice",
    "pause.allow_open_ended": True,
    "reactivate.after_cancel": True,
    "cancel.mode": "customer_choice",
    "invoices.view": True,
    "invoices.download_pdf": True,
    "invoices.pay": True,
    "invoices.receipts": True,
    "orders.view": True,
    "profile.name": True,
    "profile.billing_address": True,
    "profile.shipping_address": True,
    "profile.custom_fields": True,
}
_AS_MERCHANT: ContextVar[bool] = ContextVar("features_as_merchant", default=False)


@contextmanager
def as_merchant() -> Iterator[None]:
    """Run service calls for the merchant (the REST API): `MERCHANT_LIFTS` apply within."""
    token = _AS_MERCHANT.set(True)
    try:
        yield
    finally:
        _AS_MERCHANT.reset(token)


def load(session: Session, merchant_id: int) -> FeatureSet:
    row = session.get(PortalSettings, merchant_id)
    settings = from_document(row.document if row is not None else None)
    if _AS_MERCHANT.get():
        settings.values.update(MERCHANT_LIFTS)
    return settings


def from_document(document: dict[str, Any] | None) -> FeatureSet:
    """Defaults overlaid with a stored settings document (None: no document yet)."""
    values = defaults()
    if document:
        values.update({k: v for k, v in document.items() if k in FEATURES})
    return FeatureSet(values)


def require(features: FeatureSet, key: str) -> None:
    """Refuse an action whose feature is off — the service's check, not only the UI's."""
    if not features.enabled(key):
        raise FeatureDisabled(f"{FEATURES[key].label} is not available in this portal.")


def require_feature(session: Session, merchant_id: int, key: str) -> FeatureSet:
    features = load(session, merchant_id)
    require(features, key)
    return features


def validate(changes: dict[str, Any]) -> dict[str, Any]:
    """Check every key and value; return the cleaned values or raise with every problem listed."""
    problems: list[str] = []
    cleaned: dict[str, Any] = {}
    for key, value in changes.items():
        option = FEATURES.get(key)
        if option is None:
            problems.append(f"Unknown setting {key!r}.")
            continue
        try:
            cleaned[key] = _clean(option, value)
        except ValueError as exc:
            problems.append(f"{option.label}: {exc}")
    if problems:
        raise SettingsError(" ".join(problems))
    return cleaned


def _clean(option: Option, value: Any) -> Any:
    if option.always_on and value is not True:
        raise ValueError("is always on.")
    if option.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be on or off.")
        return value
    if option.kind == "choice":
        if value not in option.choices:
            raise ValueError(f"must be one of {', '.join(option.choices)}.")
        return value
    if option.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number.")
        if option.minimum is not None and value < option.minimum:
            raise ValueError(f"must be at least {option.minimum}.")
        if option.maximum is not None and value > option.maximum:
            raise ValueError(f"must be at most {option.maximum}.")
        return value
    if option.kind == "str":
        if not isinstance(value, str) or len(value) > 500:
            raise ValueError("must be text of at most 500 characters.")
        return value.strip()
    if option.kind == "email":
        text = value.strip() if isinstance(value, str) else None
        if text == "":
            return ""
        if text is None or len(text) > 254 or not _EMAIL.fullmatch(text):
            raise ValueError("must be an email address like support@example.com.")
        return text.lower()
    if option.kind == "url":
        text = value.strip() if isinstance(value, str) else None
        if text == "":
            return ""
        parts = urlsplit(text) if text is not None and len(text) <= 500 else None
        if parts is None or parts.scheme != "https" or not parts.hostname or '"' in text:
            raise ValueError("must be a page address starting with https://.")
        return text
    if option.kind == "color":
        if not isinstance(value, str):
            raise ValueError("must be a colour like #4f46e5.")
        rgb = contrast.parse_hex(value)
        problem = contrast.brand_problem(value)
        if problem:
            raise ValueError(f"{value.strip()} {problem}")
        return "#{:02x}{:02x}{:02x}".format(*rgb)
    if option.kind == "list":
        if not isinstance(value, list) or (not value and not option.allow_empty):
            raise ValueError("must be a non-empty list.")
        if not value:
            return []
        if any(isinstance(item, bool) for item in value):
            raise ValueError("has an invalid entry.")
        if option.default and isinstance(option.default[0], int):
            if not all(isinstance(item, int) and 0 < item <= 60 for item in value):
                raise ValueError("must be whole days between 1 and 60.")
            return sorted(set(value))
        if not all(isinstance(item, str) and 0 < len(item.strip()) <= 64 for item in value):
            raise ValueError("entries must be short non-empty text.")
        if option.origins:
            return [_origin(item) for item in value]
        return [item.strip() for item in value]
    if option.kind == "image":
        return brand_logo.clean(value)
    if option.kind == "labels":
        return _clean_labels(value)
    if option.kind == "fields":
        return custom_fields.clean_definitions(value)
    raise ValueError("has an unknown type.")


def _clean_labels(value: Any) -> dict[str, str]:
    """Reason key → the words the customer reads (one line, at most REASON_LABEL_MAX)."""
    if not isinstance(value, dict):
        raise ValueError("must map each reason to its wording.")
    cleaned = {}
    for key, label in value.items():
        if not isinstance(key, str) or not 0 < len(key.strip()) <= 64:
            raise ValueError("has a reason that is not short text.")
        text = " ".join(label.split()) if isinstance(label, str) else ""
        if not text or len(text) > REASON_LABEL_MAX:
            raise ValueError(
                f"the wording of {key.strip()!r} must be 1 to {REASON_LABEL_MAX} characters."
            )
        cleaned[key.strip()] = text
    return cleaned


def reason_label(settings: FeatureSet, reason: str) -> str:
    """What the customer reads for a survey reason: the merchant's wording, else the built-in
    one, else the key made readable (a reason removed since keeps a name in analytics)."""
    if not reason:
        return NO_REASON_LABEL
    return (
        settings["cancel.reason_labels"].get(reason)
        or DEFAULT_REASON_LABELS.get(reason)
        or reason.replace("_", " ").capitalize()
    )


def new_reason_key(label: str, taken: list[str]) -> str:
    """A key for a reason the merchant names: its words in lower case with underscores
    ("Too many emails" → too_many_emails), unique among `taken`; "reason" for words without
    Latin letters or digits."""
    base = re.sub(r"[^a-z0-9]+", "_", label.casefold()).strip("_")[:40].strip("_") or "reason"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def reasons(settings: FeatureSet) -> list[tuple[str, str]]:
    """The survey's reasons in the merchant's order: (key, what the customer reads)."""
    return [(key, reason_label(settings, key)) for key in settings["cancel.reasons"]]


def _origin(text: str) -> str:
    """One web origin as typed ("https://app.example.com", a trailing slash allowed), lower
    case; a path, query, user or other scheme is refused, so the list means what it says."""
    parts = urlsplit(text.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"entries must be origins like https://app.example.com ({text!r}).")
    return f"{parts.scheme}://{parts.netloc}".lower()


def diff(current: FeatureSet, changes: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What saving `changes` would change: key -> (before, after), only real differences."""
    return {
        key: (current.values[key], value)
        for key, value in changes.items()
        if current.values.get(key) != value
    }


def preset_diff(current: FeatureSet, preset: str) -> dict[str, tuple[Any, Any]]:
    if preset not in PRESETS:
        raise SettingsError(f"Unknown preset {preset!r}.")
    return diff(current, PRESETS[preset])


def save(
    session: Session,
    clock: Clock,
    merchant_id: int,
    changes: dict[str, Any],
    actor: audit.Actor,
    action: str = "settings.update",
    *,
    restored_from: int | None = None,
) -> FeatureSet:
    """Validate everything first, then write the document, one audit event and the next version
    (settings_history); all or nothing."""
    cleaned = validate(changes)
    row = session.get(PortalSettings, merchant_id)
    current = from_document(row.document if row is not None else None)  # as stored, never lifted
    changed = diff(current, cleaned)
    if not changed:
        return current
    if row is None:
        row = PortalSettings(merchant_id=merchant_id, document={}, updated_at=clock.now())
    with audit.changing(
        session,
        clock,
        row,
        actor=actor,
        action=action,
        before={key: before for key, (before, _) in changed.items()},
        target_type="portal_settings",
        target_id=merchant_id,
        merchant_id=merchant_id,
    ) as change:
        row.document = {**row.document, **cleaned}
        row.updated_at = clock.now()
        change.after = {key: after for key, (_, after) in changed.items()}
    # After the audit event: its claim on the merchant's chain head serialises concurrent saves,
    # so the next number is free.
    last = session.exec(
        select(sa.func.max(SettingsVersion.number)).where(
            SettingsVersion.merchant_id == merchant_id
        )
    ).one()
    session.add(
        SettingsVersion(
            merchant_id=merchant_id,
            number=(last or 0) + 1,
            document=dict(row.document),
            changes={key: [before, after] for key, (before, after) in changed.items()},
            action=action,
            restored_from=restored_from,
            actor_type=actor.type,
            actor_id=str(actor.id),
            created_at=clock.now(),
        )
    )
    session.flush()
    return load(session, merchant_id)


def apply_preset(
    session: Session, clock: Clock, merchant_id: int, preset: str, actor: audit.Actor
) -> FeatureSet:
    if preset not in PRESETS:
        raise SettingsError(f"Unknown preset {preset!r}.")
    return save(
        session, clock, merchant_id, PRESETS[preset], actor, action=f"settings.preset.{preset}"
    )
