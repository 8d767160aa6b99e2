"""Refused requests, counted instead of chained.

A throttled sign-in, a bad or expired link and a denied forged event each used to append one
event to the merchant's audit chain, so whoever sends 10,000 of them made us write 10,000 rows
and serialise on the chain head 10,000 times. They are tallied instead: one `RefusalTally` row
per (merchant, action, rule, key, minute) whose count an INSERT … ON CONFLICT DO UPDATE raises,
in the caller's transaction. Successful security events still write one chained event each
(security spec R3.5).

Keys are never stored in the clear: `key_hash` is the server-keyed HMAC of the parts (client
IP by rate-limit bucket, account email, principal), `key_hint` a masked form an operator can
read (the /24 or /48 of an address, the first letter and domain of an email). No caller passes
a token: there is no argument for one."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.db import dialect_insert
from portal_app.models import RefusalTally
from portal_app.services import ratelimit

# action names, the same the chained events had, so the audit view reads alike
THROTTLED = "auth.throttled"
LINK_REJECTED = "auth.link_rejected"
DENIED = "authz.denied"


def record(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    action: str,
    rule: str,
    ip: str = "",
    account: str = "",
    principal: str = "",
    sample: dict | None = None,
) -> None:
    """Count one refusal in this minute's row for its key (made by the first refusal, whose
    `sample`, e.g. the ids a forged event named, the row keeps; later ones only count)."""
    from portal_app.services.auth import keyed_hash  # auth imports this module

    parts, hints = [], []
    if principal:
        parts.append(f"principal:{principal}")
        hints.append(principal[:60])
    if account:
        parts.append(f"account:{account.strip().lower()}")
        hints.append(mask_email(account))
    if ip:
        parts.append(f"ip:{ratelimit.ip_bucket(ip)}")
        hints.append(mask_ip(ip))
    now = clock.now()
    session.execute(
        _upsert(session.get_bind().dialect.name),
        {
            "merchant_id": merchant_id,
            "action": action[:64],
            "rule": rule[:96],
            "key_hash": keyed_hash("|".join(parts)),
            "key_hint": " ".join(hints)[:200],
            "minute": now.replace(second=0, microsecond=0),
            "count": 1,
            "first_seen": now,
            "last_seen": now,
            "sample": sample or None,
        },
    )


_COLUMNS = ("merchant_id", "action", "rule", "key_hash", "key_hint", "minute", "count")


@functools.lru_cache(maxsize=2)
def _upsert(dialect: str):
    """INSERT … ON CONFLICT DO UPDATE count = count + 1, built once per dialect (PostgreSQL and
    SQLite spell it alike): it runs at every refusal, and a flood is what it is for."""
    insert = dialect_insert(dialect)
    table = RefusalTally.__table__
    names = (*_COLUMNS, "first_seen", "last_seen", "sample")
    statement = insert(table).values(
        {name: sa.bindparam(name, type_=table.c[name].type) for name in names}
    )
    return statement.on_conflict_do_update(
        index_elements=["merchant_id", "action", "rule", "key_hash", "minute"],
        set_={"count": table.c.count + 1, "last_seen": statement.excluded.last_seen},
    )


def mask_ip(ip: str) -> str:
    """The network an address is in (IPv4 /24, IPv6 /48): enough to see a flood's source."""
    try:
        address = ipaddress.ip_address(ratelimit.ip_bucket(ip).split("/")[0])
    except ValueError:
        return "unknown address"
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network((address, prefix), strict=False))


def mask_email(email: str) -> str:
    name, _, domain = email.strip().lower().partition("@")
    return f"{name[:1]}***@{domain[:100]}" if domain else "***"


@dataclass(frozen=True)
class Tally:
    """One row for the dashboard's audit view."""

    action: str
    rule: str
    key_hint: str
    minute: datetime
    count: int
    first_seen: datetime
    last_seen: datetime
    sample: dict | None = None


def recent(
    session: Session, clock: Clock, merchant_id: int, *, hours: int = 24, limit: int = 200
) -> list[Tally]:
    """The merchant's refusals of the last `hours`, newest minute first."""
    rows = session.exec(
        select(RefusalTally)
        .where(
            RefusalTally.merchant_id == merchant_id,
            RefusalTally.minute >= clock.now() - timedelta(hours=hours),
        )
        .order_by(RefusalTally.minute.desc(), RefusalTally.count.desc())
        .limit(limit)
    )
    return [
        Tally(r.action, r.rule, r.key_hint, r.minute, r.count, r.first_seen, r.last_seen, r.sample)
        for r in rows
    ]


def total(session: Session, merchant_id: int, action: str | None = None) -> int:
    """How many refusals were counted (all time), optionally of one action."""
    query = sa.select(sa.func.coalesce(sa.func.sum(RefusalTally.count), 0)).where(
        RefusalTally.merchant_id == merchant_id
    )
    if action is not None:
        query = query.where(RefusalTally.action == action)
    return int(session.execute(query).scalar_one())
