"""Rate limits and lockout (security spec section 2), each run on memory storage and on Redis.

Time is a fake clock patched into `limits`' storages and the module, so windows of 15 minutes
or an hour pass instantly. The Redis variant uses DB 15 and a namespace of its own per test
(deleted afterwards), so it never touches other data or a parallel run; it is skipped when
Redis is unreachable, except in CI (CI=true) where that is a failure.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
import uuid

import limits.storage.memory
import limits.storage.redis
import pytest
import redis

from portal_app.config import load_settings
from portal_app.services import ratelimit
from portal_app.services.ratelimit import Backoff, Decision, RateLimiter, client_ip
from tests.factories import run_threads

REDIS_URL = "redis://127.0.0.1:6379/15"


def _sha(text: str) -> str:
    """The key digest: HMAC-SHA256 with the server secret (tests/conftest.py sets it)."""
    secret = load_settings().secret_key.encode()
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


class FakeTime:
    """Stands in for the `time` module where `limits` and ratelimit read the wall clock."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "moving windows assume time only goes forward"
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeTime(float(int(time.time())))
    for module in (limits.storage.memory, limits.storage.redis, ratelimit):
        monkeypatch.setattr(module, "time", fake)
    return fake


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request):
    if request.param == "memory":
        yield "memory://"
        return
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable in CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    yield REDIS_URL
    client.close()


@pytest.fixture
def namespace(storage_uri):
    name = f"portal-test-{uuid.uuid4().hex[:12]}"
    yield name
    if storage_uri != "memory://":
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{name}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def limiter(storage_uri, namespace, clock):
    return RateLimiter(storage_uri, namespace=namespace)


@pytest.fixture
def backoff(storage_uri, namespace, clock):
    return Backoff(storage_uri, namespace=namespace)


def _redis_keys(pattern: str) -> list[str]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return sorted(client.scan_iter(match=pattern))
    finally:
        client.close()


# --- the rules ---------------------------------------------------------------------------------


def test_rules_are_the_spec_values():
    assert ratelimit.RULES == {
        "link_email": "3/15 minutes",
        "link_ip_minute": "10/minute",
        "link_ip_hour": "50/hour",
        "redeem_ip": "30/5 minutes",
        "password_ip": "20/5 minutes",
        "password_account": "200/hour",
        "api_key": "120/minute",
        "email_change_customer": "3/hour",
        "email_change_ip": "10/hour",
        # Checkout (ours, not the spec's): opening sessions and acting on them per address,
        # sign-in links sent from a checkout per email.
        "checkout_open_ip": "30/10 minutes",
        "checkout_ip": "30/10 minutes",
        "checkout_email": "10/hour",
    }


@pytest.mark.parametrize(
    ("rule", "amount", "window", "key", "minutes"),
    [
        ("link_email", 3, 900, "ada@example.com", "15 minutes"),
        ("link_ip_minute", 10, 60, "203.0.113.7", "1 minute"),
        ("link_ip_hour", 50, 3600, "203.0.113.7", "60 minutes"),
        ("redeem_ip", 30, 300, "203.0.113.7", "5 minutes"),
        ("password_ip", 20, 300, "2001:db8::7", "5 minutes"),
        ("api_key", 120, 60, "pk_live_abc123", "1 minute"),
    ],
)
def test_each_rule_admits_its_amount_then_refuses_until_the_window_passes(
    limiter, clock, rule, amount, window, key, minutes
):
    for n in range(amount):
        assert limiter.hit((rule, key)).allowed, f"hit {n + 1} of {amount} refused"
    refused = limiter.hit((rule, key))
    assert refused == Decision(False, window, rule)
    assert refused.message() == f"Too many attempts. Try again in {minutes}."
    assert limiter.check((rule, key)) == refused

    clock.advance(window - 1)
    assert limiter.check((rule, key)) == Decision(False, 1, rule)
    clock.advance(1.5)  # all entries leave the window together: a full allowance again
    again = [limiter.hit((rule, key)).allowed for _ in range(amount + 1)]
    assert again == [True] * amount + [False]


def test_three_link_requests_per_email_pass_and_the_fourth_is_refused(limiter):
    email, ip = "grace@example.com", "198.51.100.4"
    pairs = (("link_email", email), ("link_ip_minute", ip), ("link_ip_hour", ip))
    assert [limiter.hit(*pairs).allowed for _ in range(3)] == [True, True, True]
    fourth = limiter.hit(*pairs)
    assert not fourth.allowed
    assert fourth.rule == "link_email"
    assert fourth.retry_after_seconds > 0
    assert re.fullmatch(r"Too many attempts\. Try again in \d+ minutes\.", fourth.message())


def test_the_window_moves_with_each_entry(limiter, clock):
    email = "moving@example.com"
    for _ in range(3):
        assert limiter.hit(("link_email", email)).allowed
        clock.advance(100)
    # entries at t=0, 100, 200; now t=300: the first leaves the window at t=900
    assert limiter.check(("link_email", email)) == Decision(False, 600, "link_email")
    clock.advance(600.5)
    assert limiter.hit(("link_email", email)).allowed
    # entries at 100, 200, 900.5: the one from t=100 leaves at t=1000, 99.5 s from now
    assert limiter.check(("link_email", email)) == Decision(False, 100, "link_email")


def test_ip_limits_count_every_email_from_that_ip(limiter):
    ip = "198.51.100.9"
    for n in range(10):
        pairs = (("link_email", f"user{n}@example.com"), ("link_ip_minute", ip))
        assert limiter.hit(*pairs).allowed
    eleventh = limiter.hit(("link_email", "user10@example.com"), ("link_ip_minute", ip))
    assert (eleventh.allowed, eleventh.rule) == (False, "link_ip_minute")
    # another address is not held back by this one's limit
    other = limiter.hit(("link_email", "user10@example.com"), ("link_ip_minute", "198.51.100.10"))
    assert other.allowed


def test_email_limit_holds_whatever_ip_the_requests_come_from(limiter):
    email = "target@example.com"
    for n in range(3):
        assert limiter.hit(("link_email", email), ("link_ip_minute", f"192.0.2.{n}")).allowed
    fourth = limiter.hit(("link_email", email), ("link_ip_minute", "192.0.2.99"))
    assert (fourth.allowed, fourth.rule) == (False, "link_email")


def test_hourly_ip_limit_catches_what_the_minute_limit_lets_through(limiter, clock):
    ip = "198.51.100.20"
    for n in range(50):
        if n and n % 10 == 0:
            clock.advance(61)  # a fresh minute each ten requests
        pairs = (("link_ip_minute", ip), ("link_ip_hour", ip))
        assert limiter.hit(*pairs).allowed, f"request {n + 1} refused"
    clock.advance(61)
    refused = limiter.hit(("link_ip_minute", ip), ("link_ip_hour", ip))
    assert (refused.allowed, refused.rule) == (False, "link_ip_hour")
    # the first request was at t=0 and it is now t=5*61: it leaves the hour window at t=3600
    assert refused.retry_after_seconds == 3600 - 5 * 61


def test_check_does_not_consume(limiter):
    pair = ("link_email", "check@example.com")
    for _ in range(10):
        assert limiter.check(pair).allowed
    assert [limiter.hit(pair).allowed for _ in range(4)] == [True, True, True, False]


def test_hit_consumes_only_when_every_pair_allows(limiter):
    ip = "203.0.113.50"
    for _ in range(3):
        assert limiter.hit(("link_email", "full@example.com"), ("link_ip_minute", ip)).allowed
    for _ in range(5):  # refused by the email rule (listed last): the IP's allowance is untouched
        refused = limiter.hit(("link_ip_minute", ip), ("link_email", "full@example.com"))
        assert (refused.allowed, refused.rule) == (False, "link_email")
    # 3 of the IP's 10 per minute are used, so exactly 7 more pass
    allowed = [limiter.hit(("link_ip_minute", ip)).allowed for _ in range(8)]
    assert allowed == [True] * 7 + [False]


def test_when_several_limits_refuse_the_longest_wait_is_reported(limiter):
    email, ip = "both@example.com", "203.0.113.60"
    for n in range(10):
        limiter.hit(("link_email", email if n < 3 else f"x{n}@example.com"), ("link_ip_minute", ip))
    decision = limiter.check(("link_ip_minute", ip), ("link_email", email))
    assert decision == Decision(False, 900, "link_email")


def test_the_same_pair_twice_counts_once(limiter):
    pair = ("link_email", "twice@example.com")
    assert limiter.hit(pair, pair).allowed
    assert limiter.hit(pair, pair).allowed
    assert limiter.hit(pair).allowed
    assert not limiter.hit(pair).allowed


def test_ipv6_clients_are_counted_per_64(limiter):
    for n in range(10):
        assert limiter.hit(("link_ip_minute", f"2001:db8:1:2::{n + 1:x}")).allowed
    same_64 = limiter.hit(("link_ip_minute", "2001:db8:1:2:ffff:ffff:ffff:ffff"))
    assert (same_64.allowed, same_64.rule) == (False, "link_ip_minute")
    assert limiter.hit(("link_ip_minute", "2001:db8:1:3::1")).allowed
    # not IP rules: an API key that looks like an address is not grouped
    assert limiter.hit(("api_key", "2001:db8:1:2::1")).allowed


def test_ipv4_mapped_ipv6_shares_the_ipv4_count(limiter):
    for _ in range(10):
        assert limiter.hit(("link_ip_minute", "192.0.2.33")).allowed
    assert not limiter.hit(("link_ip_minute", "::ffff:192.0.2.33")).allowed


def test_unknown_rule_and_empty_call_are_programming_errors(limiter):
    with pytest.raises(KeyError):
        limiter.hit(("no_such_rule", "x"))
    with pytest.raises(ValueError):
        limiter.check()


def test_custom_rules(storage_uri, namespace, clock):
    limiter = RateLimiter(storage_uri, rules={"tiny": "2/10 seconds"}, namespace=namespace)
    assert [limiter.hit(("tiny", "k")).allowed for _ in range(3)] == [True, True, False]
    assert limiter.check(("tiny", "k")).retry_after_seconds == 10
    clock.advance(10.5)
    assert limiter.check(("tiny", "k")).allowed
    with pytest.raises(KeyError):
        limiter.check(("link_email", "a@example.com"))  # the defaults are replaced


def test_reset_forgets_counts(limiter):
    pair = ("link_email", "reset@example.com")
    for _ in range(3):
        limiter.hit(pair)
    assert not limiter.check(pair).allowed
    limiter.reset()
    assert limiter.check(pair).allowed


# --- what sits in storage ----------------------------------------------------------------------


def test_keys_are_namespaced_by_rule_and_hashed(limiter, storage_uri, namespace):
    email, ip = "private.person@example.com", "198.51.100.77"
    limiter.hit(("link_email", email), ("link_ip_minute", ip), ("link_ip_hour", ip))
    assert limiter.storage_key("link_email", email) == f"{namespace}:link_email:{_sha(email)}"
    assert limiter.storage_key("link_ip_hour", ip) == f"{namespace}:link_ip_hour:{_sha(ip)}"

    if storage_uri == "memory://":
        stored = repr(vars(limiter.storage))
        assert _sha(email) in stored and _sha(ip) in stored
    else:
        keys = _redis_keys(f"{namespace}:*")
        assert keys == sorted(
            [
                f"{namespace}:link_email:{_sha(email)}",
                f"{namespace}:link_ip_minute:{_sha(ip)}",
                f"{namespace}:link_ip_hour:{_sha(ip)}",
            ]
        )
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        stored = repr(keys) + repr([client.lrange(key, 0, -1) for key in keys])
        client.close()
    for secret in (email, "private.person", ip):
        assert secret not in stored


def test_default_namespace_is_portal(storage_uri, clock):
    email = f"{uuid.uuid4().hex}@example.com"
    limiter = RateLimiter(storage_uri)
    key = f"portal:link_email:{_sha(email)}"
    assert limiter.storage_key("link_email", email) == key
    limiter.hit(("link_email", email))
    if storage_uri != "memory://":
        try:
            assert _redis_keys(key) == [key]
        finally:
            redis.Redis.from_url(REDIS_URL).delete(key)


def test_reset_only_touches_this_limiters_rules(storage_uri, namespace, clock):
    mine = RateLimiter(storage_uri, rules={"a": "1/minute"}, namespace=namespace)
    other = RateLimiter(storage_uri, rules={"b": "1/minute"}, namespace=namespace)
    mine.hit(("a", "k"))
    other.hit(("b", "k"))
    mine.reset()
    assert mine.check(("a", "k")).allowed
    assert not other.check(("b", "k")).allowed


# --- several workers ---------------------------------------------------------------------------


def test_concurrent_workers_never_exceed_a_limit(storage_uri, namespace):
    """Eight threads, each with its own limiter on Redis (as separate workers would be), or
    sharing one in memory (as threads of one worker do): exactly the limit gets through."""
    rules = {"burst": "5/minute"}
    shared = RateLimiter(storage_uri, rules=rules, namespace=namespace)
    redis_storage = storage_uri != "memory://"
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(_index, _work) -> None:
        limiter = (
            RateLimiter(storage_uri, rules=rules, namespace=namespace) if redis_storage else shared
        )
        start.wait()
        for _ in range(5):
            allowed = limiter.hit(("burst", "same-key")).allowed
            with lock:
                results.append(allowed)

    run_threads(worker, [None] * 8)
    assert len(results) == 40
    assert results.count(True) == 5


def test_redis_limiters_share_counts_memory_ones_do_not(storage_uri, namespace, clock):
    first = RateLimiter(storage_uri, namespace=namespace)
    second = RateLimiter(storage_uri, namespace=namespace)
    pair = ("link_email", "shared@example.com")
    for _ in range(3):
        assert first.hit(pair).allowed
    assert second.check(pair).allowed is (storage_uri == "memory://")


# --- the customer's message --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "Too many attempts. Try again in a minute."),
        (1, "Too many attempts. Try again in a minute."),
        (59, "Too many attempts. Try again in a minute."),
        (60, "Too many attempts. Try again in 1 minute."),
        (61, "Too many attempts. Try again in 2 minutes."),
        (180, "Too many attempts. Try again in 3 minutes."),
        (899, "Too many attempts. Try again in 15 minutes."),
        (3600, "Too many attempts. Try again in 60 minutes."),
    ],
)
def test_message_rounds_up_to_whole_minutes(seconds, text):
    assert Decision(False, seconds, "link_email").message() == text


def test_message_never_names_the_rule_and_is_empty_when_allowed():
    for rule in ratelimit.RULES:
        text = Decision(False, 120, rule).message()
        assert rule not in text and "/" not in text
    assert Decision(True).message() == ""


# --- account lockout ---------------------------------------------------------------------------


def test_backoff_doubles_from_30_seconds_to_an_hour(backoff):
    assert backoff.locked_for("staff:ada") == 0
    durations = [backoff.record_failure("staff:ada") for _ in range(10)]
    assert durations == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert backoff.locked_for("staff:ada") == 3600
    assert backoff.locked_for("staff:someone-else") == 0


def test_backoff_lock_runs_down_and_is_never_permanent(backoff, clock):
    for _ in range(25):
        backoff.record_failure("k")
    assert backoff.locked_for("k") == 3600
    clock.advance(1000.5)
    assert backoff.locked_for("k") == 2600  # rounded up
    clock.advance(2599.5)
    assert backoff.locked_for("k") == 0


def test_backoff_clear_on_success_starts_over(backoff):
    for _ in range(4):
        backoff.record_failure("k")
    assert backoff.locked_for("k") == 240
    backoff.clear("k")
    assert backoff.locked_for("k") == 0
    assert backoff.record_failure("k") == 30


def test_backoff_keeps_counting_after_a_lock_expires(backoff, clock):
    assert backoff.record_failure("k") == 30
    clock.advance(31)
    assert backoff.locked_for("k") == 0
    assert backoff.record_failure("k") == 60
    clock.advance(23 * 3600)
    assert backoff.record_failure("k") == 120


def test_backoff_forgets_failures_a_day_after_the_last(backoff, clock):
    for _ in range(5):
        backoff.record_failure("k")
    clock.advance(24 * 3600)
    assert backoff.locked_for("k") == 0
    assert backoff.record_failure("k") == 30


def test_backoff_custom_steps_and_invalid_settings(storage_uri, namespace, clock):
    backoff = Backoff(storage_uri, base_seconds=5, cap_seconds=40, namespace=namespace)
    assert [backoff.record_failure("k") for _ in range(6)] == [5, 10, 20, 40, 40, 40]
    with pytest.raises(ValueError):
        Backoff(storage_uri, base_seconds=0)
    with pytest.raises(ValueError):
        Backoff(storage_uri, base_seconds=60, cap_seconds=30)


def test_backoff_keys_are_hashed(backoff, storage_uri, namespace):
    account = "staff:owner@example.com"
    backoff.record_failure(account)
    assert backoff.storage_key(account) == f"{namespace}:lockout:{_sha(account)}"
    if storage_uri == "memory://":
        stored = repr(vars(backoff._store))
        assert _sha(account) in stored
    else:
        keys = _redis_keys(f"{namespace}:*")
        assert keys == [f"{namespace}:lockout:{_sha(account)}"]
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        stored = repr(keys) + repr(client.hgetall(keys[0]))
        client.close()
    assert "owner@example.com" not in stored


def test_backoff_reset_forgets_every_lock(backoff):
    backoff.record_failure("a")
    backoff.record_failure("b")
    backoff.reset()
    assert backoff.locked_for("a") == backoff.locked_for("b") == 0
    assert backoff.record_failure("a") == 30


def test_backoff_concurrent_failures_each_count(storage_uri, namespace):
    shared = Backoff(storage_uri, namespace=namespace)
    redis_storage = storage_uri != "memory://"
    durations: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(_index, _work) -> None:
        backoff = Backoff(storage_uri, namespace=namespace) if redis_storage else shared
        start.wait()
        duration = backoff.record_failure("staff:busy")
        with lock:
            durations.append(duration)

    run_threads(worker, [None] * 8)
    assert sorted(durations) == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert shared.locked_for("staff:busy") > 3590


def test_redis_backoff_is_shared_across_instances(storage_uri, namespace, clock):
    first = Backoff(storage_uri, namespace=namespace)
    second = Backoff(storage_uri, namespace=namespace)
    assert first.record_failure("k") == 30
    if storage_uri == "memory://":
        assert second.locked_for("k") == 0
        return
    assert second.locked_for("k") == 30
    assert second.record_failure("k") == 60
    first.clear("k")
    assert second.locked_for("k") == 0


# --- process-wide instances --------------------------------------------------------------------


def test_singletons_follow_the_configured_redis(storage_uri, monkeypatch, clock):
    monkeypatch.delenv("REFLEX_REDIS_URL", raising=False)
    if storage_uri == "memory://":
        monkeypatch.delenv("PORTAL_REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("PORTAL_REDIS_URL", storage_uri)
    email = f"{uuid.uuid4().hex}@example.com"
    account = f"staff:{email}"
    ratelimit.reset_singletons()
    try:
        limiter, backoff = ratelimit.get_limiter(), ratelimit.get_backoff()
        assert ratelimit.get_limiter() is limiter and ratelimit.get_backoff() is backoff
        for _ in range(3):
            limiter.hit(("link_email", email))
        backoff.record_failure(account)
        # a second worker on the same settings sees the counts only through Redis
        on_redis = storage_uri != "memory://"
        assert RateLimiter(storage_uri).check(("link_email", email)).allowed is not on_redis
        assert Backoff(storage_uri).locked_for(account) == (30 if on_redis else 0)
    finally:
        ratelimit.reset_singletons()
        if storage_uri != "memory://":
            redis.Redis.from_url(REDIS_URL).delete(
                f"portal:link_email:{_sha(email)}", f"portal:lockout:{_sha(account)}"
            )


def test_unsupported_storage_is_refused():
    with pytest.raises(ValueError):
        RateLimiter("memcached://localhost:11211")
    with pytest.raises(ValueError):
        Backoff("mongodb://localhost")


# --- the client's address ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "xff", "proxies", "expected"),
    [
        # no proxy: the peer is the client, whatever the header says
        ("203.0.113.5", None, 0, "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4", 0, "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4, 5.6.7.8", 0, "203.0.113.5"),
        # one proxy: it appended what it saw, the rightmost entry
        ("10.0.0.2", "198.51.100.1", 1, "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", 1, "198.51.100.1"),  # spoofed entry on the left
        ("10.0.0.2", "6.6.6.6,7.7.7.7,198.51.100.1", 1, "198.51.100.1"),
        # two proxies: the outer one's entry is second from the right
        ("10.0.0.3", "198.51.100.1, 10.0.0.2", 2, "198.51.100.1"),
        ("10.0.0.3", "6.6.6.6, 198.51.100.1, 10.0.0.2", 2, "198.51.100.1"),
        # too short: fall back to the peer
        ("10.0.0.3", "198.51.100.1", 2, "10.0.0.3"),
        ("10.0.0.2", None, 1, "10.0.0.2"),
        ("10.0.0.2", "", 1, "10.0.0.2"),
        # malformed where the trusted entry should be: fall back to the peer
        ("10.0.0.2", "198.51.100.1, not-an-ip", 1, "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, ", 1, "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, 999.1.1.1", 1, "10.0.0.2"),
        ("10.0.0.2", "garbage, 198.51.100.1", 1, "198.51.100.1"),  # junk left of it is ignored
        # forms proxies use: ports, brackets, IPv6, mapped IPv4, odd spacing
        ("10.0.0.2", "198.51.100.1:5678", 1, "198.51.100.1"),
        ("10.0.0.2", "[2001:DB8::1]:443", 1, "2001:db8::1"),
        ("10.0.0.2", "  2001:db8:0:0::1  ", 1, "2001:db8::1"),
        ("10.0.0.2", "::ffff:198.51.100.1", 1, "198.51.100.1"),
        ("10.0.0.2", "[2001:db8::1", 1, "10.0.0.2"),
        ("::ffff:203.0.113.5", None, 0, "203.0.113.5"),
        ("testclient", "198.51.100.1", 0, "testclient"),
    ],
)
def test_client_ip(peer, xff, proxies, expected):
    assert client_ip(peer, xff, proxies) == expected


def test_spoofed_forwarded_for_does_not_reset_counters(limiter):
    """R2.4: a client that rotates a made-up X-Forwarded-For still counts as itself."""
    for n in range(12):
        ip = client_ip("10.0.0.2", f"6.6.6.{n}, 198.51.100.1", 1)
        decision = limiter.hit(("link_ip_minute", ip))
        assert decision.allowed is (n < 10)
    for n in range(3):
        ip = client_ip("203.0.113.9", f"6.6.6.{n}", 0)
        assert ip == "203.0.113.9"


def test_negative_proxy_count_is_refused():
    with pytest.raises(ValueError):
        client_ip("10.0.0.1", None, -1)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 0), ("", 0), ("0", 0), ("1", 1), (" 2 ", 2)]
)
def test_trusted_proxies_from_env(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("PORTAL_TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("PORTAL_TRUSTED_PROXIES", value)
    assert ratelimit.trusted_proxies_from_env() == expected


@pytest.mark.parametrize("value", ["-1", "one", "1.5"])
def test_trusted_proxies_from_env_refuses_nonsense(monkeypatch, value):
    monkeypatch.setenv("PORTAL_TRUSTED_PROXIES", value)
    with pytest.raises(ValueError):
        ratelimit.trusted_proxies_from_env()


def test_ip_bucket():
    assert ratelimit.ip_bucket("192.0.2.1") == "192.0.2.1"
    assert ratelimit.ip_bucket("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ratelimit.ip_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert ratelimit.ip_bucket("unknown") == "unknown"
