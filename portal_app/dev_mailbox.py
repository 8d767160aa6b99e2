"""The dev mailbox (`PORTAL_DEV_MAILBOX=1`): the outbox shown at /dev/mailbox so a demo works
without a mail server. It shows every sign-in link, so whoever can read it can sign in as anyone;
it must be reachable from this machine only. Three locks, all decided here:

- with it on, `rxconfig.py` makes Reflex listen on 127.0.0.1 (`LOOPBACK_BIND`);
- `refuse_unsafe_start` stops the server when the public URL or the bind address is not loopback;
- `direct_local_connection` lets the page answer only a connection from this machine that came
  through no proxy (a proxy on this host has a loopback peer, but adds forwarding headers)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

ENV_VAR = "PORTAL_DEV_MAILBOX"
LOOPBACK_BIND = "127.0.0.1"
# Reflex stores the socket's TCP peer (the ASGI scope's client, which granian always gives)
# under this header name, overwriting any header of that name the client sent. The client IP
# Reflex reports is checked as well, so a scope without a client is covered too.
PEER_HEADER = "asgi-scope-client"
# Headers a proxy adds to say whom it forwards for, or for which host.
FORWARDING_HEADERS = frozenset(
    {
        "forwarded",
        "via",
        "x-real-ip",
        "x-client-ip",
        "client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-cluster-client-ip",
        "x-original-forwarded-for",
        "x-original-host",
    }
)
FORWARDING_PREFIXES = ("x-forwarded-",)


def enabled() -> bool:
    return os.environ.get(ENV_VAR) == "1"


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 (IPv4-mapped forms included) or the name "localhost"; nothing else."""
    name = (host or "").strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def unsafe_start_reason(*, public_url: str, bind_host: str) -> str | None:
    """Why a server with the dev mailbox on must not start with these settings, or None."""
    host = urlsplit(public_url).hostname
    if not is_loopback(host):
        return (
            f"PORTAL_PUBLIC_URL is {public_url}, which is not this machine "
            "(only localhost, 127.0.0.0/8 or ::1 are)"
        )
    if not is_loopback(bind_host):
        return (
            f"the server would listen on {bind_host or '(all addresses)'} "
            "(REFLEX_BACKEND_HOST or --backend-host), where other machines can reach it"
        )
    return None


def refuse_unsafe_start(*, public_url: str, bind_host: str) -> None:
    """Stop here (SystemExit with the reason and the fix) when the dev mailbox is on and the
    server would be reachable from elsewhere. Called by rxconfig.py, so every `reflex run` worker
    and `reflex db migrate` under the same environment check it before anything starts."""
    if not enabled():
        return
    reason = unsafe_start_reason(public_url=public_url, bind_host=bind_host)
    if reason is None:
        return
    raise SystemExit(
        f"Refusing to start: PORTAL_DEV_MAILBOX=1 shows every sign-in link at /dev/mailbox, so it "
        f"is only for a demo on this machine, but {reason}.\n"
        "  - A server others use: unset PORTAL_DEV_MAILBOX and set PORTAL_SMTP_HOST (and "
        "PORTAL_SMTP_PORT) so sign-in mail is delivered (docs/OPERATIONS.md, 'Production').\n"
        f"  - A local demo: serve on {LOOPBACK_BIND} with "
        "PORTAL_PUBLIC_URL=http://localhost:<port> (`make run` does both)."
    )


def forwarding_headers(headers: Mapping[str, str]) -> list[str]:
    """The names of the proxy headers among `headers` (empty when there are none)."""
    return sorted(
        name
        for name in (key.lower() for key in headers)
        if name in FORWARDING_HEADERS or name.startswith(FORWARDING_PREFIXES)
    )


def direct_local_connection(headers: Mapping[str, str], client_ip: str | None) -> bool:
    """True only for a connection made on this machine straight to the server: the TCP peer
    and the client IP Reflex reports are loopback, no forwarding header is present (with none,
    Reflex's client IP is the peer whatever PORTAL_TRUSTED_PROXIES says), and the Host (and
    the Origin, when sent) name this machine."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if forwarding_headers(lowered):
        return False
    peers = [ip for ip in (lowered.get(PEER_HEADER), client_ip) if ip]
    if not peers or not all(is_loopback(ip) for ip in peers):
        return False
    if not is_loopback(_hostname(lowered.get("host", ""))):
        return False
    origin = lowered.get("origin")
    return not origin or is_loopback(_hostname(origin))


def _hostname(value: str) -> str:
    """The host name of a Host header ("localhost:3000", "[::1]:3000") or an origin URL."""
    try:
        return urlsplit(value if "//" in value else f"//{value}").hostname or ""
    except ValueError:
        return ""
