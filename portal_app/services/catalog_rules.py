"""What every catalog-like staff form shares (products, plans, prices, retention offers, digital
products): a `Problems` collector that reports every problem of a request at once, the common
limits, the merchant-scoped lookup (`get_owned`), the recorded edit of a row's fields (`edit`)
and the readable refusal for a unique index filled by a concurrent change."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Plan, Price, Product
from portal_app.money import format_money
from portal_app.services import audit
from portal_app.services.errors import CatalogError, NotFound

NAME_MAX = 200
DESCRIPTION_MAX = 2000
FEATURE_MAX = 120
FEATURES_MAX = 20
TIER_MIN, TIER_MAX = 0, 999
AMOUNT_MAX = 100_000_000  # minor units: 1,000,000.00 in a two-decimal currency

Row = TypeVar("Row")


# --- validation ---------------------------------------------------------------------------------


class Problems:
    """Collects every problem of one request, so the person sees them all at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def text(
        self,
        value: Any,
        label: str,
        *,
        max_len: int,
        required: bool = True,
        multiline: bool = False,
    ) -> str | None:
        """Stripped text without control characters (line breaks only where `multiline`);
        None, and a problem, when it is not acceptable."""
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            self.add(f"{label} must be text.")
            return None
        cleaned = value.strip()
        if multiline:
            cleaned = cleaned.replace("\r\n", "\n")
        if required and not cleaned:
            self.add(f"{label} cannot be empty.")
            return None
        if len(cleaned) > max_len:
            self.add(f"{label} can be at most {max_len} characters.")
            return None
        allowed = "\n\t" if multiline else ""
        if any(unicodedata.category(char) == "Cc" and char not in allowed for char in cleaned):
            what = "characters" if multiline else "line breaks or characters"
            self.add(f"{label} contains {what} that are not allowed.")
            return None
        return cleaned

    def whole(
        self, value: Any, label: str, *, low: int, high: int, required: bool = True
    ) -> int | None:
        """A whole number in [low, high]. Booleans and floats are refused, not coerced."""
        if not self._is_integer(value, label, "a whole number", required=required):
            return None
        if not low <= value <= high:
            self.add(f"{label} must be between {low:,} and {high:,}.")
            return None
        return value

    def amount(self, value: Any, label: str, currency: str, *, required: bool) -> int | None:
        """A price in integer minor units: positive, bounded."""
        if not self._is_integer(value, label, "a whole number of minor units", required=required):
            return None
        if value <= 0:
            self.add(f"{label} must be more than zero.")
            return None
        if value > AMOUNT_MAX:
            self.add(f"{label} can be at most {format_money(AMOUNT_MAX, currency)}.")
            return None
        return value

    def _is_integer(self, value: Any, label: str, what: str, *, required: bool) -> bool:
        """Whether `value` is an int to check further. None is a problem only when `required`;
        booleans and floats are problems (`label` must be `what`), never coerced."""
        if value is None:
            if required:
                self.add(f"{label} is required.")
            return False
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f"{label} must be {what}.")
            return False
        return True

    def check(self) -> None:
        if self.items:
            raise CatalogError(" ".join(self.items), code="invalid_catalog")


def name_and_description(
    problems: Problems,
    name: Any,
    description: Any,
    *,
    label: str = "Name",
    description_max: int = DESCRIPTION_MAX,
) -> tuple[str | None, str | None]:
    """A required one-line name (`label` in the problems) and an optional multi-line description."""
    clean_name = problems.text(name, label, max_len=NAME_MAX)
    clean_description = problems.text(
        description, "Description", max_len=description_max, required=False, multiline=True
    )
    return clean_name, clean_description


def same_name(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def clean_feature_list(problems: Problems, features: Any) -> list[str] | None:
    if features is None:
        return []
    if not isinstance(features, (list, tuple)) or not all(isinstance(f, str) for f in features):
        problems.add("Features must be a list of short texts.")
        return None
    cleaned = [f.strip() for f in features if f.strip()]
    if len(cleaned) > FEATURES_MAX:
        problems.add(f"A plan can list at most {FEATURES_MAX} features.")
        return None
    for feature in cleaned:
        if len(feature) > FEATURE_MAX:
            problems.add(f"Each feature can be at most {FEATURE_MAX} characters.")
            return None
        if any(unicodedata.category(char) == "Cc" for char in feature):
            problems.add("Features contain characters that are not allowed.")
            return None
    return cleaned


ENTITLEMENTS_MAX = 50
ENTITLEMENT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ENTITLEMENT_VALUE_MAX = 200


def parse_entitlements(text: Any) -> dict[str, Any] | Any:
    """The editor's lines `key: value` as a dict: `true`/`false` are booleans, whole numbers
    are numbers, anything else is text. Anything but text is returned as given, for
    `clean_entitlements` to judge."""
    if not isinstance(text, str):
        return text
    found: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, raw = line.partition(":")
        value: Any = raw.strip()
        if value in ("true", "false"):
            value = value == "true"
        elif re.fullmatch(r"-?\d{1,12}", value):
            value = int(value)
        found[key.strip() if sep else line.strip() + "\0"] = value
    return found


def clean_entitlements(problems: Problems, entitlements: Any) -> dict[str, Any] | None:
    """Keys the merchant's app checks (`seats`, `api_access`): lower-case letters, digits and
    _, at most 50; values true/false, a whole number or a short text."""
    if entitlements is None:
        return {}
    if not isinstance(entitlements, dict):
        problems.add("Entitlements must be lines of key: value.")
        return None
    if len(entitlements) > ENTITLEMENTS_MAX:
        problems.add(f"A plan can have at most {ENTITLEMENTS_MAX} entitlements.")
        return None
    for key, value in entitlements.items():
        if not isinstance(key, str) or not ENTITLEMENT_KEY.match(key):
            shown = str(key).rstrip("\0")[:40]
            problems.add(
                f'Entitlement "{shown}": write key: value, the key in lower-case letters, '
                "digits and _ (like seats: 5)."
            )
            return None
        ok = (
            isinstance(value, bool)
            or (type(value) is int and abs(value) < 10**12)
            or (isinstance(value, str) and 0 < len(value) <= ENTITLEMENT_VALUE_MAX)
        )
        if not ok or (
            isinstance(value, str) and any(unicodedata.category(c) == "Cc" for c in value)
        ):
            problems.add(
                f'Entitlement "{key}": the value is true, false, a whole number or a short text.'
            )
            return None
    return dict(entitlements)


def entitlement_lines(entitlements: dict[str, Any] | None) -> str:
    """The editor's text for stored entitlements (the inverse of `parse_entitlements`)."""

    def shown(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return "\n".join(f"{k}: {shown(v)}" for k, v in (entitlements or {}).items())


def flush_or_conflict(session: Session, message: str) -> None:
    """Flush; a unique index that another transaction filled first becomes a readable refusal
    (the caller's transaction is then rolled back whole)."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise CatalogError(message, code="conflict") from exc


def get_owned(session: Session, model: type[Row], merchant_id: int, row_id: int, what: str) -> Row:
    """The merchant's own row; another merchant's id is "not found", like a missing one."""
    row = session.get(model, row_id)
    if row is None or row.merchant_id != merchant_id:
        raise NotFound(f"{what} not found.")
    return row


def get_product(session: Session, merchant_id: int, product_id: int) -> Product:
    return get_owned(session, Product, merchant_id, product_id, "Product")


def get_plan(session: Session, merchant_id: int, plan_id: int) -> Plan:
    return get_owned(session, Plan, merchant_id, plan_id, "Plan")


def get_price(session: Session, merchant_id: int, price_id: int) -> Price:
    return get_owned(session, Price, merchant_id, price_id, "Price")


def edit(
    session: Session,
    clock: Clock,
    row: Any,
    values: dict[str, Any],
    *,
    actor: audit.Actor,
    action: str,
    target_type: str | None = None,
    conflict: str | None = None,
) -> None:
    """Set `values` on `row` as one recorded change (before: the same fields as they were; the
    target type is the table's unless given). Values equal to the row's are refused as "Nothing
    changed."; `conflict` is the refusal for a unique index another transaction filled first."""
    before = {key: getattr(row, key) for key in values}
    if before == values:
        raise CatalogError("Nothing changed.", code="unchanged")
    with audit.changing(
        session, clock, row, actor=actor, action=action, target_type=target_type, before=before
    ) as change:
        for key, value in values.items():
            setattr(row, key, value)
        if conflict is not None:
            flush_or_conflict(session, conflict)
        change.after = values


# --- slugs: the stable part of `/buy/<slug>` ------------------------------------------------------

SLUG_MAX = 80


def slugify(text: str) -> str:
    """'Pro Plan (EU)' → 'pro-plan-eu': ASCII letters, digits and single dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_MAX].strip("-") or "item"


def unique_slug(session: Session, model: type, merchant_id: int, name: str) -> str:
    """A slug for a new plan or product, unique among the merchant's rows of that table (a
    unique constraint backs it: a concurrent twin fails its flush instead of sharing it)."""
    base = slugify(name)
    taken = set(
        session.exec(
            select(model.slug).where(model.merchant_id == merchant_id, model.slug.like(f"{base}%"))
        )
    )
    slug, n = base, 2
    while slug in taken:
        slug = f"{base[: SLUG_MAX - len(str(n)) - 1]}-{n}"
        n += 1
    return slug
