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
# What a role may do, in one line, for the dashboard header.
SUMMARIES = {
    "viewer": "You can see everything and change nothing.",
    "support": "You can help customers (portal links, preview as customer); billing is read-only.",
    "admin": "You can change settings, the catalog, billing and customers.",
    "owner": "You can do everything, staff members and API keys included.",
}


def at_least(need: str) -> tuple[str, ...]:
    """The roles that may do what needs role `need` (for pages that hide what a role can't use)."""
    return tuple(role for role in STAFF_ROLES if allows(role, need))


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
