"""Staff roles, ranked: each role may do everything the roles below it may.

owner   staff members, API keys, settings, everything
admin   settings, catalog, billing, customers
support customers, portal links, billing read-only
viewer  read-only

A staff handler declares the lowest role it needs (`@guarded("staff", staff_role=...)`); the
guard compares it with the role read from the database at every call, never from state."""

from __future__ import annotations

STAFF_ROLES: tuple[str, ...] = ("viewer", "support", "admin", "owner")
LABELS = {
    "viewer": "Viewer",
    "support": "Support",
    "admin": "Admin",
    "owner": "Owner",
}


def rank(role: str | None) -> int:
    """Position of `role` in STAFF_ROLES; -1 for anything else (an unknown role may do nothing)."""
    try:
        return STAFF_ROLES.index(role)  # type: ignore[arg-type]
    except ValueError:
        return -1


def allows(have: str | None, need: str) -> bool:
    """Whether a member with role `have` may do what needs role `need`."""
    if need not in STAFF_ROLES:
        raise ValueError(f"unknown staff role {need!r}")
    return rank(have) >= rank(need)
