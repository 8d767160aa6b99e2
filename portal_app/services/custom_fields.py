"""Custom profile fields: the definitions a merchant builds (Settings → Profile) and how they are
checked before they are saved (features' "fields" kind)."""

from __future__ import annotations

from typing import Any

CUSTOM_FIELD_TYPES = ("text", "number", "select", "checkbox", "date")


def clean_definitions(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ValueError("must be a list of field definitions.")
    seen: set[str] = set()
    cleaned = []
    for item in value:
        if not isinstance(item, dict):
            raise ValueError("each field must be a definition.")
        key = str(item.get("key", "")).strip()
        if not key.isidentifier() or key in seen:
            raise ValueError(f"field key {key!r} must be a unique identifier.")
        kind = item.get("type", "text")
        if kind not in CUSTOM_FIELD_TYPES:
            raise ValueError(f"field {key!r} has unknown type {kind!r}.")
        options = item.get("options", [])
        if kind == "select" and (not isinstance(options, list) or not options):
            raise ValueError(f"select field {key!r} needs options.")
        seen.add(key)
        cleaned.append(
            {
                "key": key,
                "label": str(item.get("label") or key),
                "type": kind,
                "required": bool(item.get("required", False)),
                "options": [str(o) for o in options] if kind == "select" else [],
                # shown in the bill-to of invoices and receipts (services/bill_to.py)
                "on_invoice": bool(item.get("on_invoice", True)),
            }
        )
    return cleaned
