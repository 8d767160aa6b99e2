"""One rule decides the client's address for HTTP routes and for the event socket: every
X-Forwarded-For line of the request, joined in order, counted from the right through
PORTAL_TRUSTED_PROXIES hops. The socket side is fed through Reflex's own handshake code
(`EventNamespace._build_static_router_data`, what `on_connect` runs), so both sides see the same
raw headers a server would hand them, and must agree."""

from __future__ import annotations

import pytest
import reflex as rx
from reflex.app import EventNamespace
from reflex.istate.data import RouterData
from starlette.requests import Request

from portal_app.http import common
from portal_app.services.ratelimit import client_ip
from portal_app.state.guard import actor_of

PEER = "10.0.0.9"  # the nearest proxy (or the client itself with no proxy)

# (X-Forwarded-For lines as sent, trusted hops, the client's address)
CASES = [
    # two lines: the client's own claim, then what the one trusted proxy appended
    (["6.6.6.6", "198.51.100.1"], 0, PEER),
    (["6.6.6.6", "198.51.100.1"], 1, "198.51.100.1"),
    (["6.6.6.6", "198.51.100.1"], 2, "6.6.6.6"),  # two proxies trusted: the first line is theirs
    # two lines of two proxies; the spoofed leftmost entry never wins
    (["6.6.6.6, 198.51.100.1", "10.0.0.2"], 1, "10.0.0.2"),
    (["6.6.6.6, 198.51.100.1", "10.0.0.2"], 2, "198.51.100.1"),
    (["7.7.7.7", "6.6.6.6, 198.51.100.1", "10.0.0.2"], 2, "198.51.100.1"),
    # fewer entries than trusted hops: no proxy wrote the one we would need, use the peer
    (["198.51.100.1"], 2, PEER),
    ([], 1, PEER),
    # garbage: where the trusted entry should be, the peer; left of it, ignored
    (["198.51.100.1", "not-an-ip"], 1, PEER),
    (["garbage", "198.51.100.1"], 1, "198.51.100.1"),
    (["198.51.100.1", ""], 1, PEER),
    (["198.51.100.1, 999.1.1.1"], 1, PEER),
    (["<script>", "%00", "198.51.100.1"], 1, "198.51.100.1"),
    # IPv6: bare, bracketed with a port, IPv4-mapped; across two lines
    (["2001:db8::7", "2001:DB8::1"], 1, "2001:db8::1"),
    (["2001:db8::7", "[2001:db8::1]:443"], 2, "2001:db8::7"),
    (["6.6.6.6", "[2001:db8::1]:443"], 1, "2001:db8::1"),
    (["::ffff:198.51.100.1"], 1, "198.51.100.1"),
    (["6.6.6.6", "[2001:db8::1"], 1, PEER),  # unclosed bracket is not an address
]


def _raw(lines: list[str]) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"portal.example"), (b"user-agent", b"pytest")]
    return headers + [(b"x-forwarded-for", line.encode()) for line in lines]


def http_ip(lines: list[str], peer: str = PEER) -> str:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/auth/verify",
        "headers": _raw(lines),
        "client": (peer, 50123),
        "query_string": b"",
    }
    return common.client_ip(Request(scope))


def socket_router(lines: list[str], peer: str = PEER) -> RouterData:
    """The router of a socket event, built as Reflex builds it at the handshake."""
    environ = {"asgi.scope": {"type": "websocket", "headers": _raw(lines), "client": (peer, 1)}}
    data = EventNamespace._build_static_router_data(None, "sid-1", environ)
    return RouterData.from_router_data(data)


@pytest.fixture
def hops(monkeypatch):
    def set_hops(n: int) -> None:
        monkeypatch.setenv("PORTAL_TRUSTED_PROXIES", str(n))

    return set_hops


@pytest.mark.parametrize(("lines", "trusted", "expected"), CASES)
def test_http_and_socket_agree(hops, lines, trusted, expected):
    hops(trusted)
    assert http_ip(lines) == expected
    assert common.router_client_ip(socket_router(lines)) == expected


@pytest.mark.parametrize(("lines", "trusted", "expected"), CASES)
def test_the_rule_itself_takes_the_lines(lines, trusted, expected):
    assert client_ip(PEER, lines, trusted) == expected
    # the same lines already joined, as a proxy that merges them would send one
    assert client_ip(PEER, ", ".join(lines), trusted) == expected


def test_only_the_first_line_would_let_a_spoofed_entry_win(hops):
    """The bug this fixes: `request.headers.get` returns the first line only, which is the
    client's own claim when a proxy appends a second line."""
    hops(1)
    lines = ["6.6.6.6", "198.51.100.1"]
    assert client_ip(PEER, lines[0], 1) == "6.6.6.6"  # what reading one line would decide
    assert http_ip(lines) == "198.51.100.1"
    assert common.router_client_ip(socket_router(lines)) == "198.51.100.1"


def test_ipv6_peer_without_proxies(hops):
    hops(0)
    assert http_ip(["6.6.6.6"], peer="2001:db8::42") == "2001:db8::42"
    assert common.router_client_ip(socket_router(["6.6.6.6"], "2001:db8::42")) == "2001:db8::42"
    assert http_ip([], peer="::ffff:203.0.113.5") == "203.0.113.5"


def test_reflex_is_not_trusted_to_read_forwarded_for_itself():
    """rxconfig keeps Reflex's trusted_proxy_hops at 0, so `router.session.client_ip` is the TCP
    peer and only our rule reads X-Forwarded-For (Reflex's own would take a garbage entry, or
    skip an empty one, at the trusted position)."""
    import rxconfig

    assert rxconfig.config.trusted_proxy_hops == 0
    assert socket_router(["198.51.100.1", "not-an-ip"]).session.client_ip == PEER


def test_actor_of_uses_the_same_rule(hops):
    """What every state handler audits and rate-limits by (login's link limits included)."""
    hops(1)
    state = rx.State(_reflex_internal_init=True)
    environ = {"asgi.scope": {"headers": _raw(["6.6.6.6", "198.51.100.1"]), "client": (PEER, 1)}}
    data = EventNamespace._build_static_router_data(None, "sid-2", environ)
    data = {**data, "pathname": "/login", "asPath": "/login"}
    state.router_data = state._update_router_vars(data, {})
    assert actor_of(state).ip == "198.51.100.1"
