"""Which emails a customer wants: receipts, invoice reminders, renewal notices, marketing.

The choices are stored in `NotificationPreference` (no row means the defaults: everything on but
marketing) and honoured by `mailer.wants`, which also drops a kind the merchant does not send.
Customers may change them only when the merchant turned on `notifications.manage`, and may not
turn on a kind the merchant switched off (marketing is off unless the merchant sends it). Every
change is one audit event, which doubles as the record of marketing consent."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.db import insert_ignore
from portal_app.models import Customer, NotificationPreference
from portal_app.services import audit, features
from portal_app.services.errors import FeatureDisabled, NotFound, ProfileError
from portal_app.services.mailer import PREFERENCE_OF_KIND

# preference -> the merchant toggle that must be on for it to matter (the mailer's own table)
TOGGLE_OF_PREFERENCE: dict[str, str] = dict(PREFERENCE_OF_KIND.values())
PREFERENCES: tuple[str, ...] = tuple(TOGGLE_OF_PREFERENCE)
DEFAULTS: dict[str, bool] = {
    "receipts": True,
    "invoice_reminders": True,
    "renewal_notices": True,
    "marketing": False,
}


@dataclass(frozen=True)
class PreferenceOption:
    key: str
    label: str


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found.")
    return customer


def _values(row: NotificationPreference | None) -> dict[str, bool]:
    if row is None:
        return dict(DEFAULTS)
    return {key: bool(getattr(row, key)) for key in PREFERENCES}


def get_preferences(session: Session, customer_id: int) -> dict[str, bool]:
    """The customer's stored choices, or the defaults when they never chose."""
    _customer(session, customer_id)
    return _values(session.get(NotificationPreference, customer_id))


def available_preferences(session: Session, merchant_id: int) -> list[PreferenceOption]:
    """The kinds of email this merchant sends, i.e. the choices worth showing a customer.
    Whether customers may change them at all is `notifications.manage`."""
    settings = features.load(session, merchant_id)
    return [
        PreferenceOption(key, features.FEATURES[toggle].label)
        for key, toggle in TOGGLE_OF_PREFERENCE.items()
        if settings.enabled(toggle)
    ]


def update_preferences(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    changes: dict[str, bool],
    actor: audit.Actor,
) -> dict[str, bool]:
    """Set some preferences (all or nothing); returns them all. Turning off a kind the merchant
    does not send is allowed (it is remembered if the merchant starts sending it)."""
    customer = _customer(session, customer_id)
    settings = features.require_feature(session, customer.merchant_id, "notifications.manage")
    if not isinstance(changes, dict):
        raise ProfileError("Nothing to change.")
    problems = []
    unknown = sorted(str(key) for key in changes if key not in TOGGLE_OF_PREFERENCE)
    if unknown:
        problems.append(f"Unknown email preference {', '.join(repr(k) for k in unknown)}.")
    for key, value in changes.items():
        if key in TOGGLE_OF_PREFERENCE and not isinstance(value, bool):
            problems.append(
                f"{features.FEATURES[TOGGLE_OF_PREFERENCE[key]].label} must be on or off."
            )
    if problems:
        raise ProfileError(" ".join(problems), code="invalid_preferences")
    refused = [
        features.FEATURES[TOGGLE_OF_PREFERENCE[key]].label
        for key, value in changes.items()
        if value and not settings.enabled(TOGGLE_OF_PREFERENCE[key])
    ]
    if refused:
        raise FeatureDisabled(f"{', '.join(refused)} are not sent by this merchant.")

    row = session.get(NotificationPreference, customer_id)
    current = _values(row)
    changed = {key: value for key, value in changes.items() if current[key] != value}
    if not changed:
        return current
    if row is None:
        # two first-time saves may race: the loser finds the winner's row and updates it
        insert_ignore(session, NotificationPreference, customer_id=customer_id, **DEFAULTS)
        row = session.get(NotificationPreference, customer_id)
        current = _values(row)
        changed = {key: value for key, value in changes.items() if current[key] != value}
        if not changed:
            return current
    with audit.changing(
        session,
        clock,
        customer,  # the preferences row is keyed by the customer, who is the event's target
        actor=actor,
        action="notifications.update",
        before={key: current[key] for key in changed},
        target_type="customer",
        customer_id=customer.id,
    ) as change:
        for key, value in changed.items():
            setattr(row, key, value)
        session.add(row)
        change.after = changed
    return _values(row)


__all__ = [
    "DEFAULTS",
    "PREFERENCES",
    "PreferenceOption",
    "available_preferences",
    "get_preferences",
    "update_preferences",
]
