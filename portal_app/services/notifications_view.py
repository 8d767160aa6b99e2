"""What the notifications page shows: the email preferences the merchant offers, each with the
customer's current choice."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.services import notification_prefs


@dataclass
class PreferenceRow:
    key: str = ""
    label: str = ""
    on: bool = False


def preference_rows(
    session: Session, clock: Clock, *, customer_id: int, merchant_id: int
) -> list[PreferenceRow]:
    chosen = notification_prefs.get_preferences(session, customer_id)
    return [
        PreferenceRow(option.key, option.label, bool(chosen[option.key]))
        for option in notification_prefs.available_preferences(session, merchant_id)
    ]
