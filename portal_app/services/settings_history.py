"""Settings history (#17): every save of a merchant's settings is a numbered version with who
made it, when, and what it changed, readable by staff; any version can be restored, which is a
save like any other (validated, audited, and itself a new version), so a restore or a preset can
be undone the same way."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import PortalSettings, SettingsVersion, StaffUser
from portal_app.services import audit, brand_logo, features
from portal_app.services.errors import NotFound, SettingsError

SHOWN = 20  # the newest versions the screen lists
FILE_FORMAT = "portal-settings/1"
FILE_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class ChangeLine:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class VersionView:
    number: int
    created_at: datetime
    who: str
    what: str
    lines: list[ChangeLine] = field(default_factory=list)
    current: bool = False


def display(key: str, value: Any) -> str:
    """A setting's value as the screen shows it ("on", "1, 3, 5", the colour...)."""
    option = features.FEATURES.get(key)
    kind = option.kind if option is not None else "str"
    if kind == "bool":
        return "on" if value else "off"
    if kind == "list":
        return ", ".join(str(item) for item in value or [])
    if kind == "image":
        return brand_logo.describe(value or "")
    if kind == "labels":
        return (
            "; ".join(
                f"{features.reason_label(features.FeatureSet(), k)} → {v}"
                for k, v in (value or {}).items()
            )
            or "as built in"
        )
    if kind == "fields":
        return (
            ", ".join(
                f"{f.get('label') or f.get('key')} ({f.get('type', 'text')})" for f in value or []
            )
            or "none"
        )
    return "" if value is None else str(value)


def _what(row: SettingsVersion) -> str:
    if row.action == "settings.import":
        return "Imported a settings file"
    if row.action == "settings.restore":
        return f"Restored version {row.restored_from}"
    if row.action.startswith("settings.preset."):
        return f"Applied the preset {row.action.removeprefix('settings.preset.')!r}"
    return "Saved settings"


def _who(row: SettingsVersion, staff: dict[str, str]) -> str:
    if row.actor_type == "merchant":
        return staff.get(row.actor_id, f"staff member {row.actor_id}")
    if row.actor_type == "system":
        return "System"
    return f"{row.actor_type} {row.actor_id}".strip()


def versions(session: Session, merchant_id: int, *, limit: int = SHOWN) -> list[VersionView]:
    """The newest versions first, each with its changes as label, before and after."""
    rows = session.exec(
        select(SettingsVersion)
        .where(SettingsVersion.merchant_id == merchant_id)
        .order_by(SettingsVersion.number.desc())
        .limit(limit)
    ).all()
    ids = {int(r.actor_id) for r in rows if r.actor_type == "merchant" and r.actor_id.isdigit()}
    staff = {
        str(member.id): member.email
        for member in session.exec(
            select(StaffUser).where(StaffUser.merchant_id == merchant_id, StaffUser.id.in_(ids))
        )
    }
    return [
        VersionView(
            number=row.number,
            created_at=row.created_at,
            who=_who(row, staff),
            what=_what(row),
            lines=[
                ChangeLine(
                    features.FEATURES[key].label if key in features.FEATURES else key,
                    display(key, before),
                    display(key, after),
                )
                for key, (before, after) in row.changes.items()
            ],
            current=index == 0,
        )
        for index, row in enumerate(rows)
    ]


def _apply(session, clock, merchant_id, changes, actor, action, restored_from=None) -> int:
    """Save the `after` of each change (one version, one audit event); how many there were."""
    after = {key: value for key, (_, value) in changes.items()}
    features.save(session, clock, merchant_id, after, actor, action, restored_from=restored_from)
    return len(changes)


def restore(
    session: Session, clock: Clock, *, merchant_id: int, number: int, actor: audit.Actor
) -> int:
    """Bring version `number` back: the settings become what they were right after it. Returns
    how many settings that changed; a version that matches what is saved now is refused."""
    row = session.exec(
        select(SettingsVersion).where(
            SettingsVersion.merchant_id == merchant_id, SettingsVersion.number == int(number)
        )
    ).first()
    if row is None:
        raise NotFound("That settings version does not exist.")
    wanted = features.from_document(row.document).values
    changes = features.diff(_stored(session, merchant_id), wanted)
    if not changes:
        raise SettingsError(
            f"Version {row.number} is what is saved now.", code="nothing_to_restore"
        )
    return _apply(
        session, clock, merchant_id, changes, actor, "settings.restore", restored_from=row.number
    )


# --- a settings file, to copy a configuration between installs (staging → production) --------


def _stored(session: Session, merchant_id: int) -> features.FeatureSet:
    row = session.get(PortalSettings, merchant_id)
    return features.from_document(row.document if row is not None else None)


def export_file(session: Session, clock: Clock, *, merchant_id: int) -> str:
    """Every setting as saved (defaults filled in), as the JSON file `import_changes` reads."""
    document = {"format": FILE_FORMAT, "settings": _stored(session, merchant_id).values}
    return json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"


def import_changes(
    session: Session, clock: Clock, *, merchant_id: int, data: bytes | str
) -> dict[str, tuple[Any, Any]]:
    """What importing the file would change (key -> (now, after)), nothing written. The file is
    refused whole, with every problem named, if it is not a settings file or any key is unknown
    or any value bad: nothing of a half-good file applies."""
    if len(data) > FILE_MAX_BYTES:
        raise SettingsError("That file is too large to be a settings file.", code="bad_file")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(
            "That file is not a settings file (not JSON).", code="bad_file"
        ) from exc
    if (
        not isinstance(document, dict)
        or document.get("format") != FILE_FORMAT
        or not isinstance(document.get("settings"), dict)
    ):
        raise SettingsError(
            "That file is not a settings file exported from Portal.", code="bad_file"
        )
    # Always-on settings are in every export and can't differ: they are not imported.
    wanted = {
        key: value
        for key, value in document["settings"].items()
        if not (key in features.FEATURES and features.FEATURES[key].always_on)
    }
    cleaned = features.validate(wanted)
    return features.diff(_stored(session, merchant_id), cleaned)


def apply_import(
    session: Session, clock: Clock, *, merchant_id: int, data: bytes | str, actor: audit.Actor
) -> int:
    """Apply a settings file (checked again in this transaction): a version of its own, audited,
    undone by restoring the one before. Returns how many settings it changed."""
    changes = import_changes(session, clock, merchant_id=merchant_id, data=data)
    if not changes:
        raise SettingsError("That file matches the settings saved now.", code="nothing_to_import")
    return _apply(session, clock, merchant_id, changes, actor, "settings.import")
