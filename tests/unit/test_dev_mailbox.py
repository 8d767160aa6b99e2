"""The dev mailbox is never a way in: the server refuses to start with it on where others can
reach it, and its state answers only a direct connection from this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from reflex_base import constants
from sqlmodel import Session

from portal_app import dev_mailbox
from portal_app.models import OutboxEmail
from portal_app.services import sealing
from portal_app.state import MailboxState
from portal_app.state.guard import CLOCK
from tests.statekit import call, run

ROOT = Path(__file__).resolve().parents[2]
LINK = "http://localhost:3000/auth/verify?token=mailbox-unit-test-token"


@pytest.fixture
def mailbox_on(monkeypatch):
    monkeypatch.setenv("PORTAL_DEV_MAILBOX", "1")


# --- refusing to start ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "public_url",
    [
        "https://billing.example.com",
        "http://192.0.2.10:3000",
        "http://0.0.0.0:3000",
        "http://[2001:db8::1]:3000",
    ],
)
def test_refuses_to_start_with_a_public_url(mailbox_on, public_url):
    with pytest.raises(SystemExit) as refused:
        dev_mailbox.refuse_unsafe_start(public_url=public_url, bind_host="127.0.0.1")
    message = str(refused.value)
    assert "PORTAL_DEV_MAILBOX=1 shows every sign-in link" in message
    assert f"PORTAL_PUBLIC_URL is {public_url}" in message
    assert "unset PORTAL_DEV_MAILBOX and set PORTAL_SMTP_HOST" in message
    assert "serve on 127.0.0.1" in message


@pytest.mark.parametrize("bind_host", ["0.0.0.0", "::", "192.0.2.10", "example.com", ""])
def test_refuses_to_start_on_a_public_bind_address(mailbox_on, bind_host):
    with pytest.raises(SystemExit) as refused:
        dev_mailbox.refuse_unsafe_start(public_url="http://localhost:3000", bind_host=bind_host)
    message = str(refused.value)
    assert "PORTAL_DEV_MAILBOX=1 shows every sign-in link" in message
    assert "where other machines can reach it" in message
    assert "REFLEX_BACKEND_HOST or --backend-host" in message


@pytest.mark.parametrize(
    ("public_url", "bind_host"),
    [
        ("http://localhost:3000", "127.0.0.1"),
        ("http://127.0.0.1:8080", "localhost"),
        ("http://127.1.2.3:3000", "127.0.0.1"),
        ("http://[::1]:3000", "::1"),
        ("http://LOCALHOST.:3000", "::ffff:127.0.0.1"),
    ],
)
def test_starts_on_loopback(mailbox_on, public_url, bind_host):
    assert dev_mailbox.unsafe_start_reason(public_url=public_url, bind_host=bind_host) is None
    dev_mailbox.refuse_unsafe_start(public_url=public_url, bind_host=bind_host)  # no SystemExit


def test_mailbox_off_never_refuses(monkeypatch):
    monkeypatch.delenv("PORTAL_DEV_MAILBOX", raising=False)
    dev_mailbox.refuse_unsafe_start(public_url="https://billing.example.com", bind_host="0.0.0.0")
    monkeypatch.setenv("PORTAL_DEV_MAILBOX", "0")
    dev_mailbox.refuse_unsafe_start(public_url="https://billing.example.com", bind_host="0.0.0.0")


def _load_rxconfig(**env: str) -> subprocess.CompletedProcess:
    """Load rxconfig.py in a fresh interpreter, as `reflex run` and every worker do."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "REFLEX_"))}
    clean.update(PORTAL_SECRET_KEY="unit-test-secret-not-for-production", **env)
    script = "import rxconfig; print('bind', rxconfig.config.backend_host)"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rxconfig_binds_loopback_and_refuses_what_others_can_reach():
    demo = _load_rxconfig(PORTAL_DEV_MAILBOX="1", PORTAL_PUBLIC_URL="http://localhost:3000")
    assert demo.returncode == 0, demo.stderr
    assert "bind 127.0.0.1" in demo.stdout

    public_url = _load_rxconfig(
        PORTAL_DEV_MAILBOX="1", PORTAL_PUBLIC_URL="https://billing.example.com"
    )
    assert public_url.returncode != 0
    assert "Refusing to start" in public_url.stderr
    assert "PORTAL_PUBLIC_URL is https://billing.example.com" in public_url.stderr

    # What `reflex run --backend-host 0.0.0.0` does: it sets REFLEX_BACKEND_HOST and reloads.
    public_bind = _load_rxconfig(
        PORTAL_DEV_MAILBOX="1",
        PORTAL_PUBLIC_URL="http://localhost:3000",
        REFLEX_BACKEND_HOST="0.0.0.0",
    )
    assert public_bind.returncode != 0
    assert "the server would listen on 0.0.0.0" in public_bind.stderr

    production = _load_rxconfig(PORTAL_PUBLIC_URL="https://billing.example.com")
    assert production.returncode == 0, production.stderr
    assert "bind 0.0.0.0" in production.stdout  # Reflex's default; the proxy setup picks one


# --- who may read it -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("Localhost.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_what_counts_as_loopback(host, expected):
    assert dev_mailbox.is_loopback(host) is expected


LOCAL_HEADERS = {
    "host": "localhost:3000",
    "origin": "http://localhost:3000",
    "user-agent": "pytest",
    dev_mailbox.PEER_HEADER: "127.0.0.1",
}


def _root(headers: dict[str, str], client_ip: str):
    """A state tree on a socket with these headers; `client_ip` as Reflex reports it."""
    import reflex as rx

    root = rx.State(_reflex_internal_init=True)
    router_data = {
        constants.RouteVar.HEADERS: headers,
        constants.RouteVar.CLIENT_IP: client_ip,
        constants.RouteVar.PATH: "/dev/mailbox",
        constants.RouteVar.ORIGIN: "/dev/mailbox",
    }
    root.router_data = root._update_router_vars(router_data, root.router_data or {})
    return root


def _open_mailbox(headers: dict[str, str], client_ip: str) -> MailboxState:
    async def scenario():
        root = _root(headers, client_ip)
        await call(root, MailboxState, "load")
        return await root.get_state(MailboxState)

    return run(scenario())


@pytest.fixture
def sign_in_mail(app_db, mailbox_on):
    with Session(app_db["engine"]) as session:
        session.add(
            OutboxEmail(
                merchant_id=app_db["merchant"].id,
                customer_id=app_db["alice"].id,
                to_address="alice@example.com",
                kind="magic_link",
                subject="Your sign-in link",
                body=sealing.seal(f"Open {LINK} to sign in."),
                created_at=CLOCK.now(),
            )
        )
        session.commit()
    return LINK


def test_a_direct_local_connection_reads_the_mailbox(sign_in_mail):
    mailbox = _open_mailbox(LOCAL_HEADERS, "127.0.0.1")
    assert mailbox.enabled and mailbox.local
    assert any(sign_in_mail in message.body for message in mailbox.messages)


@pytest.mark.parametrize(
    ("extra", "client_ip"),
    [
        # A proxy on this host: loopback peer, PORTAL_TRUSTED_PROXIES=0 (client IP = the peer).
        ({"x-forwarded-for": "203.0.113.9"}, "127.0.0.1"),
        # The same through a trusted hop: Reflex reports the forwarded address.
        ({"x-forwarded-for": "203.0.113.9"}, "203.0.113.9"),
        # A forwarded address that claims to be loopback is still a proxy hop.
        ({"x-forwarded-for": "127.0.0.1"}, "127.0.0.1"),
        ({"X-Forwarded-For": "203.0.113.9, 127.0.0.1"}, "127.0.0.1"),
        ({"forwarded": "for=203.0.113.9;proto=https"}, "127.0.0.1"),
        ({"x-real-ip": "203.0.113.9"}, "127.0.0.1"),
        ({"x-forwarded-host": "billing.example.com"}, "127.0.0.1"),
        ({"x-forwarded-proto": "https"}, "127.0.0.1"),
        ({"via": "1.1 proxy"}, "127.0.0.1"),
        # No proxy header, but the request names another host (a proxy that forwards the Host).
        ({"host": "billing.example.com"}, "127.0.0.1"),
        ({"origin": "https://billing.example.com"}, "127.0.0.1"),
    ],
)
def test_a_connection_through_a_proxy_gets_nothing(sign_in_mail, extra, client_ip):
    mailbox = _open_mailbox({**LOCAL_HEADERS, **extra}, client_ip)
    assert mailbox.enabled and not mailbox.local
    assert mailbox.messages == []


@pytest.mark.parametrize("peer", ["198.51.100.7", "0.0.0.0", "10.1.2.3", "::ffff:192.0.2.1"])
def test_a_connection_from_another_machine_gets_nothing(sign_in_mail, peer):
    mailbox = _open_mailbox({**LOCAL_HEADERS, dev_mailbox.PEER_HEADER: peer}, peer)
    assert not mailbox.local and mailbox.messages == []


def test_a_connection_with_no_known_peer_gets_nothing(sign_in_mail):
    headers = {k: v for k, v in LOCAL_HEADERS.items() if k != dev_mailbox.PEER_HEADER}
    assert _open_mailbox(headers, "").messages == []


def test_mailbox_off_shows_nothing_even_locally(sign_in_mail, monkeypatch):
    monkeypatch.delenv("PORTAL_DEV_MAILBOX")
    mailbox = _open_mailbox(LOCAL_HEADERS, "127.0.0.1")
    assert not mailbox.enabled and not mailbox.local and mailbox.messages == []
