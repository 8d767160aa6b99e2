"""Rate limits and account lockout (security spec section 2), shared by all workers through Redis.

Storage is the `limits` library's: ``memory://`` (one process) by default, Redis when
``PORTAL_REDIS_URL`` / ``REFLEX_REDIS_URL`` is set, so a limit holds across every worker.
Windows are *moving* windows (``limits``' MovingWindowRateLimiter storage primitives): a rule
``3/15 minutes`` admits at most 3 events in any 15-minute span, with no burst at a window edge.

Keys are ``<namespace>:<rule>:<sha256(key)>`` (namespace ``portal``): the email address, IP or
API-key prefix is hashed before it reaches storage, so Redis never holds them in the clear.
(An unsalted SHA-256 of an IPv4 address can be brute-forced; the point is to keep personal data
out of plain sight in Redis, not to make it secret from someone who owns the Redis server.)

Time is the wall clock (``time.time()``, read by ``limits`` in this process and by us), so all
workers sharing a Redis should keep their clocks in sync (NTP); they need not share a host.
Storage errors (Redis down) fail closed: ``check``, ``hit`` and the lockout calls raise
``ServiceUnavailable`` (a PortalError with a message fit to show), so nothing rate-limited goes
ahead unthrottled while Redis is away, and the caller shows "try again in a moment".
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import limits
import redis
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage, storage_from_string

from portal_app.config import load_settings
from portal_app.services.errors import ServiceUnavailable

__all__ = [
    "IP_RULES",
    "RULES",
    "Backoff",
    "Decision",
    "RateLimiter",
    "client_ip",
    "get_backoff",
    "get_limiter",
    "ip_bucket",
    "reset_singletons",
    "staff_lock_key",
    "trusted_proxies_from_env",
]

RULES: dict[str, str] = {
    "link_email": "3/15 minutes",  # magic-link requests per email address (R2.2)
    "link_ip_minute": "10/minute",  # magic-link requests per client IP (R2.2)
    "link_ip_hour": "50/hour",  # magic-link requests per client IP (R2.2)
    "redeem_ip": "30/5 minutes",  # failed link redemptions per client IP (R2.3)
    "password_ip": "20/5 minutes",  # failed password attempts per client IP
    # failed staff passwords per account from all addresses together: past it the password form
    # is refused for that account and the member signs in with an emailed link instead
    "password_account": "200/hour",
    # merchant API calls per key; PORTAL_API_RATE raises it (a busy integration, the API fuzz test)
    "api_key": os.environ.get("PORTAL_API_RATE", "120/minute"),
    "email_change_customer": "3/hour",  # email-change requests per customer (services.profile)
    "email_change_ip": "10/hour",  # email-change requests per client IP
    "checkout_open_ip": "30/10 minutes",  # checkout sessions opened (/buy links) per client IP
    "checkout_ip": "30/10 minutes",  # checkout confirms and discount-code tries per client IP
    "checkout_email": "10/hour",  # checkout confirms per email address
}

# Rules keyed by a client IP: an IPv6 client is counted per /64 (see ip_bucket), since one
# subscriber usually holds a whole /64 and could otherwise rotate addresses past the limit.
IP_RULES: frozenset[str] = frozenset(
    {
        "link_ip_minute",
        "link_ip_hour",
        "redeem_ip",
        "password_ip",
        "email_change_ip",
        "checkout_open_ip",
        "checkout_ip",
    }
)

DEFAULT_NAMESPACE = "portal"
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "unix")
_REDIS_OPTIONS = {"socket_connect_timeout": 5, "socket_timeout": 5}


STORAGE_UNAVAILABLE = "The service is briefly unavailable. Try again in a moment."


def _now() -> float:
    return time.time()


def _fail_closed(method):
    """Redis unreachable: refuse (ServiceUnavailable) rather than let requests through
    uncounted; the error chains the RedisError for the log."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (redis.RedisError, StorageError) as exc:
            raise ServiceUnavailable(STORAGE_UNAVAILABLE) from exc

    return wrapper


def _digest(text: str) -> str:
    """Keyed with the server secret: whoever reads Redis cannot brute-force emails or IPs back."""
    return hmac.new(_hmac_key(), text.encode("utf-8"), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=1)
def _hmac_key() -> bytes:
    return load_settings().secret_key.encode()


def _scheme(uri: str) -> str:
    scheme = urlsplit(uri).scheme
    if scheme != "memory" and scheme not in _REDIS_SCHEMES:
        raise ValueError(f"Unsupported rate-limit storage {scheme!r}: use memory:// or redis://")
    return scheme


@dataclass(frozen=True)
class Decision:
    """The answer to "may this go ahead?"; ``rule`` names the limit that refused (for the audit
    log, never for the customer)."""

    allowed: bool
    retry_after_seconds: int = 0
    rule: str = ""

    def message(self) -> str:
        """Customer-facing text; empty when allowed."""
        if self.allowed:
            return ""
        if self.retry_after_seconds < 60:
            return "Too many attempts. Try again in a minute."
        minutes = math.ceil(self.retry_after_seconds / 60)
        unit = "minute" if minutes == 1 else "minutes"
        return f"Too many attempts. Try again in {minutes} {unit}."


class RateLimiter:
    """Named moving-window limits (``RULES``) over (rule, key) pairs.

    ``hit`` is test-then-hit: it tests every pair, then consumes one from each, and each
    consumption is atomic in storage (a Lua script on Redis), so no limit is ever exceeded.
    The race it leaves: between the test and the consumption another worker may fill one of
    the windows; that consumption then fails and the request is refused, having already used
    one slot of the pairs consumed before it. A refused request may so count against a
    sibling limit in that instant; the error is on the strict side and at most one per race.
    """

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        rules: Mapping[str, str] | None = None,
        ip_rules: Iterable[str] = IP_RULES,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.rules: dict[str, limits.RateLimitItem] = {
            name: limits.parse(text) for name, text in (RULES if rules is None else rules).items()
        }
        self.ip_rules = frozenset(ip_rules)
        self.namespace = namespace
        self._redis = _scheme(storage_uri) != "memory"
        if self._redis:
            # Reflex spells a socket unix://, limits spells it redis+unix://
            uri = f"redis+{storage_uri}" if storage_uri.startswith("unix:") else storage_uri
            storage = storage_from_string(uri, key_prefix=namespace, **_REDIS_OPTIONS)
        else:
            storage = storage_from_string(storage_uri)
        assert isinstance(storage, Storage) and isinstance(storage, MovingWindowSupport)
        self.storage = storage

    def storage_key(self, rule: str, key: str) -> str:
        """The key as it sits in Redis (without the namespace in memory storage)."""
        return f"{self.namespace}:{self._logical_key(rule, key)}"

    def _logical_key(self, rule: str, key: str) -> str:
        if rule not in self.rules:
            raise KeyError(f"Unknown rate-limit rule {rule!r}")
        if rule in self.ip_rules:
            key = ip_bucket(key)
        return f"{rule}:{_digest(key)}"

    def _resolve(self, checks: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
        if not checks:
            raise ValueError("Give at least one (rule, key) pair.")
        # the same pair twice would be consumed twice by one request
        return list(dict.fromkeys((rule, self._logical_key(rule, key)) for rule, key in checks))

    def _refusal(self, rule: str, key: str) -> Decision | None:
        item = self.rules[rule]
        start, count = self.storage.get_moving_window(key, item.amount, item.get_expiry())
        if count < item.amount:
            return None
        retry = max(1, math.ceil(start + item.get_expiry() - _now()))
        return Decision(False, retry, rule)

    def _first_refusal(self, pairs: list[tuple[str, str]]) -> Decision | None:
        refusals = [d for rule, key in pairs if (d := self._refusal(rule, key)) is not None]
        # the caller has to wait for every exhausted limit, so report the longest wait
        return max(refusals, key=lambda d: d.retry_after_seconds, default=None)

    @_fail_closed
    def check(self, *checks: tuple[str, str]) -> Decision:
        """Would one more event pass every pair? Consumes nothing."""
        return self._first_refusal(self._resolve(checks)) or Decision(True)

    @_fail_closed
    def hit(self, *checks: tuple[str, str]) -> Decision:
        """Consume one from every pair, only if every pair allows it (see the class note)."""
        pairs = self._resolve(checks)
        if (refused := self._first_refusal(pairs)) is not None:
            return refused
        for rule, key in pairs:
            item = self.rules[rule]
            if not self.storage.acquire_entry(key, item.amount, item.get_expiry()):
                # lost a race with another worker since the test (or, in memory storage, an
                # entry exactly on the window's edge: there limits' test and acquire disagree)
                return self._refusal(rule, key) or Decision(False, 1, rule)
        return Decision(True)

    @_fail_closed
    def clear(self, rule: str, key: str) -> None:
        """Forget one (rule, key) pair's count (an owner unlocking an account)."""
        self.storage.clear(self._logical_key(rule, key))

    def reset(self) -> None:
        """Forget every count of this limiter's rules (tests)."""
        if not self._redis:
            self.storage.reset()
            return
        connection = self.storage.get_connection()
        for rule in self.rules:
            keys = list(connection.scan_iter(match=f"{self.namespace}:{rule}:*", count=1000))
            if keys:
                connection.delete(*keys)


def _lock_ms(failures: int, base_ms: int, cap_ms: int) -> int:
    duration = base_ms
    for _ in range(failures - 1):
        if duration >= cap_ms:
            break
        duration *= 2
    return min(duration, cap_ms)


class _BackoffStore(Protocol):
    def record(self, key: str, now_ms: int, base_ms: int, cap_ms: int, ttl_ms: int) -> int: ...

    def locked_until(self, key: str) -> int: ...

    def clear(self, key: str) -> None: ...

    def reset(self, prefix: str) -> None: ...


# KEYS[1] = the account's hash {n: failures, last: last failure ms, until: locked until ms};
# ARGV = now_ms, base_ms, cap_ms, ttl_ms. Atomic, so concurrent failures on several workers each
# count and the lock only grows. Returns the new lock duration in ms.
_RECORD_LUA = """
local now = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local prev = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if now - last >= ttl then n = 0 end
n = n + 1
local duration = base
local i = 1
while i < n and duration < cap do
  duration = duration * 2
  i = i + 1
end
if duration > cap then duration = cap end
local locked = now + duration
if prev > locked then locked = prev end
redis.call('HSET', KEYS[1], 'n', n, 'last', now, 'until', locked)
redis.call('PEXPIRE', KEYS[1], math.max(ttl, duration))
return duration
"""


class _RedisBackoffStore:
    def __init__(self, uri: str) -> None:
        self.redis = redis.Redis.from_url(uri, **_REDIS_OPTIONS)
        self._record = self.redis.register_script(_RECORD_LUA)

    def record(self, key: str, now_ms: int, base_ms: int, cap_ms: int, ttl_ms: int) -> int:
        return int(self._record(keys=[key], args=[now_ms, base_ms, cap_ms, ttl_ms]))

    def locked_until(self, key: str) -> int:
        value = self.redis.hget(key, "until")
        return int(float(value)) if value is not None else 0

    def clear(self, key: str) -> None:
        self.redis.delete(key)

    def reset(self, prefix: str) -> None:
        keys = list(self.redis.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            self.redis.delete(*keys)


class _MemoryBackoffStore:
    """The same rules as the Lua script, for one process."""

    _SWEEP_EVERY_MS = 60_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[int, int, int]] = {}  # key -> (failures, last, until)
        self._swept = 0

    def record(self, key: str, now_ms: int, base_ms: int, cap_ms: int, ttl_ms: int) -> int:
        with self._lock:
            self._sweep(now_ms, ttl_ms)
            failures, last, previous = self._rows.get(key, (0, 0, 0))
            if now_ms - last >= ttl_ms:
                failures = 0
            failures += 1
            duration = _lock_ms(failures, base_ms, cap_ms)
            self._rows[key] = (failures, now_ms, max(previous, now_ms + duration))
            return duration

    def _sweep(self, now_ms: int, ttl_ms: int) -> None:
        if now_ms - self._swept < self._SWEEP_EVERY_MS:
            return
        self._swept = now_ms
        stale = [
            k for k, (_, last, until) in self._rows.items() if now_ms >= max(until, last + ttl_ms)
        ]
        for key in stale:
            del self._rows[key]

    def locked_until(self, key: str) -> int:
        with self._lock:
            return self._rows.get(key, (0, 0, 0))[2]

    def clear(self, key: str) -> None:
        with self._lock:
            self._rows.pop(key, None)

    def reset(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._rows if k.startswith(prefix)]:
                del self._rows[key]


class Backoff:
    """Lockout after failures (R2.5): 30 s, 60 s, 120 s, ... capped at an hour, never
    permanent. The failure count is forgotten ``failure_ttl_seconds`` (24 h) after the last
    failure; ``clear`` forgets it at once (on success).

    A key is a string or a tuple of parts, e.g. ``staff_lock_key(account, ip)``: the account
    and the client address, so a stranger's failures lock only their own address out of that
    account. ``clear_all(first_part)`` forgets every key that starts with that part (every
    address of one account)."""

    def __init__(
        self,
        storage_uri: str = "memory://",
        base_seconds: int = 30,
        cap_seconds: int = 3600,
        *,
        failure_ttl_seconds: int = 24 * 3600,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        if not 0 < base_seconds <= cap_seconds:
            raise ValueError("Need 0 < base_seconds <= cap_seconds.")
        if failure_ttl_seconds <= 0:
            raise ValueError("failure_ttl_seconds must be positive.")
        self.base_seconds, self.cap_seconds = base_seconds, cap_seconds
        self.failure_ttl_seconds = failure_ttl_seconds
        self.namespace = namespace
        self._store: _BackoffStore
        if _scheme(storage_uri) == "memory":
            self._store = _MemoryBackoffStore()
        else:
            self._store = _RedisBackoffStore(storage_uri)

    def storage_key(self, key: str | tuple[str, ...]) -> str:
        parts = (key,) if isinstance(key, str) else key
        return f"{self.namespace}:lockout:" + ":".join(_digest(part) for part in parts)

    @_fail_closed
    def locked_for(self, key: str | tuple[str, ...]) -> int:
        """Seconds until ``key`` may try again; 0 when not locked."""
        remaining_ms = self._store.locked_until(self.storage_key(key)) - int(_now() * 1000)
        return max(0, math.ceil(remaining_ms / 1000))

    @_fail_closed
    def record_failure(self, key: str | tuple[str, ...]) -> int:
        """Count a failure and lock ``key``; returns the new lock's length in seconds."""
        duration_ms = self._store.record(
            self.storage_key(key),
            int(_now() * 1000),
            self.base_seconds * 1000,
            self.cap_seconds * 1000,
            self.failure_ttl_seconds * 1000,
        )
        return math.ceil(duration_ms / 1000)

    @_fail_closed
    def clear(self, key: str | tuple[str, ...]) -> None:
        self._store.clear(self.storage_key(key))

    @_fail_closed
    def clear_all(self, first_part: str) -> None:
        """Forget every tuple key whose first part is ``first_part`` (and that key alone)."""
        self._store.clear(self.storage_key(first_part))
        self._store.reset(self.storage_key(first_part) + ":")

    def reset(self) -> None:
        """Forget every lockout in this namespace (tests)."""
        self._store.reset(f"{self.namespace}:lockout:")


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address, also as ``1.2.3.4:port`` or ``[v6]:port``; IPv4-mapped IPv6 becomes IPv4."""
    text = text.strip()
    if text.startswith("["):
        text, bracket, _ = text[1:].partition("]")
        if not bracket:
            return None
    elif text.count(":") == 1:  # IPv4 with a port (bare IPv6 has at least two colons)
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(peer_ip: str, forwarded_for: str | Iterable[str] | None, trusted_proxies: int) -> str:
    """The client's address given ``trusted_proxies`` reverse proxies in front of the app: the
    one decision for HTTP routes and the event socket (see portal_app.http.common).

    With 0 the TCP peer is the client and X-Forwarded-For is ignored (anyone can send one).
    With N, each trusted proxy appended the address it saw, so the N-th entry from the right is
    what the outermost trusted proxy saw: the client. Entries further left are the client's own
    claims and never used. A header too short or not an address there falls back to the peer.
    ``forwarded_for`` is the header's value, or every X-Forwarded-For line of the request in
    order: they are one list (RFC 9110 5.3), joined with ", " as Reflex joins them for the socket.
    """
    if trusted_proxies < 0:
        raise ValueError("trusted_proxies must be 0 or more.")
    peer = _parse_ip(peer_ip)
    fallback = str(peer) if peer is not None else peer_ip
    if forwarded_for is not None and not isinstance(forwarded_for, str):
        forwarded_for = ", ".join(forwarded_for)
    if trusted_proxies == 0 or not forwarded_for:
        return fallback
    entries = forwarded_for.split(",")
    if len(entries) < trusted_proxies:
        return fallback
    address = _parse_ip(entries[-trusted_proxies])
    return str(address) if address is not None else fallback


def trusted_proxies_from_env() -> int:
    """``PORTAL_TRUSTED_PROXIES``: how many reverse proxies sit in front of the app (default 0)."""
    raw = os.environ.get("PORTAL_TRUSTED_PROXIES", "").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"PORTAL_TRUSTED_PROXIES must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ValueError("PORTAL_TRUSTED_PROXIES must be 0 or more.")
    return value


def staff_lock_key(account: str, ip: str) -> tuple[str, str]:
    """The staff lockout's key: (account, client address by its rate-limit bucket)."""
    return (f"staff:{account.strip().lower()}", ip_bucket(ip))


def ip_bucket(ip: str) -> str:
    """The rate-limit bucket of a client address: IPv4 as is, IPv6 by its /64 network."""
    address = _parse_ip(ip)
    if address is None:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


_singleton_lock = threading.Lock()
# RateLimiter and Backoff, each made once on the configured storage
_singletons: dict[type, object] = {}


def _storage_uri() -> str:
    return load_settings().redis_url or "memory://"


def _singleton(kind):
    """The process-wide `kind` on the configured Redis (memory without one), made once."""
    found = _singletons.get(kind)
    if found is None:
        with _singleton_lock:
            found = _singletons.get(kind)
            if found is None:
                found = _singletons[kind] = kind(_storage_uri())
    return found


def get_limiter() -> RateLimiter:
    """The process-wide limiter on the configured Redis (memory without one)."""
    return _singleton(RateLimiter)


def get_backoff() -> Backoff:
    """The process-wide account lockout on the configured Redis (memory without one)."""
    return _singleton(Backoff)


def reset_singletons() -> None:
    """Drop the process-wide instances so the next call reads the settings again (tests)."""
    with _singleton_lock:
        _singletons.clear()
