"""Settings → Customer Portal, for the staff screen: the saved settings, a save that says how
many settings it changed, what a preset would change, and the history of saves."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.services import audit, brand_logo, features, settings_history
from portal_app.services.errors import SettingsError


def settings(session: Session, clock: Clock, *, merchant_id: int) -> features.FeatureSet:
    return features.load(session, merchant_id)


def save_changes(
    session: Session, clock: Clock, *, merchant_id: int, changes: dict[str, Any], actor: audit.Actor
) -> int:
    """`features.save`, all or nothing; returns how many settings it changed (0: nothing)."""
    before = features.load(session, merchant_id)
    changed = features.diff(before, features.validate(changes))
    features.save(session, clock, merchant_id, changes, actor)
    return len(changed)


def save_logo(
    session: Session, clock: Clock, *, merchant_id: int, data: bytes, actor: audit.Actor
) -> None:
    """An uploaded logo, made safe (brand_logo), saved as a version like any setting; b"" takes
    the logo away."""
    try:
        logo = brand_logo.from_upload(data) if data else ""
    except brand_logo.LogoError as exc:
        raise SettingsError(str(exc)) from None
    features.save(session, clock, merchant_id, {"branding.logo": logo}, actor)


def preset_changes(
    session: Session, clock: Clock, *, merchant_id: int, preset: str
) -> dict[str, tuple[Any, Any]]:
    """What applying `preset` would change: key -> (now, after)."""
    return features.preset_diff(features.load(session, merchant_id), preset)


def history(session: Session, clock: Clock, *, merchant_id: int) -> list[dict[str, Any]]:
    """The newest saves, as the History panel shows them (a version's changes as label, before,
    after; the saved one marked current)."""
    return [
        {
            "number": version.number,
            "when": formatting.datetime_(version.created_at),
            "who": version.who,
            "what": version.what,
            "current": version.current,
            "lines": [
                {"label": line.label, "before": line.before, "after": line.after}
                for line in version.lines
            ],
        }
        for version in settings_history.versions(session, merchant_id)
    ]
