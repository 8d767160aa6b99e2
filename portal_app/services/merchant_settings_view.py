"""Settings → Customer Portal, for the staff screen: the saved settings, a save that says how
many settings it changed, and what a preset would change."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.services import audit, features


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


def preset_changes(
    session: Session, clock: Clock, *, merchant_id: int, preset: str
) -> dict[str, tuple[Any, Any]]:
    """What applying `preset` would change: key -> (now, after)."""
    return features.preset_diff(features.load(session, merchant_id), preset)
