"""What the fault tests drive: a private PostgreSQL cluster and a private Redis that a test may
stop, kill and restart (never the shared servers on 5432/6379), a tiny SMTP server that can go
down, the real sign-in form and the real command line."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import pwd
import shutil
import socket
import socketserver
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlmodel import Session

from portal_app import db
from portal_app.clock import SystemClock
from portal_app.config import PROJECT_ROOT
from portal_app.models import Customer, PaymentMethod, SandboxCard, Subscription
from tests import factories

CLOCK = SystemClock()
PUBLIC_URL = "http://localhost:3000"


def require(what: str, present: bool) -> None:
    """Skip with a reason when a service binary is absent; in CI, fail instead."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required for the fault tests in CI but is missing", pytrace=False)
    pytest.skip(f"{what} is not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- PostgreSQL ------------------------------------------------------------------------------


def writer_busy(engine) -> bool:
    """Is another connection inside an uncommitted write transaction right now? (A process to
    be killed "in the middle of writing" is there.)"""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                    )
                ).scalar()
            )
    probe = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")  # only one writer at a time: fails while one is busy
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def postgres_bindir() -> Path | None:
    """Debian's newest /usr/lib/postgresql/<v>/bin, else initdb and pg_ctl found on PATH."""
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    for bindir in sorted(versions, key=lambda p: int(p.parent.name), reverse=True):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    pg_ctl, initdb = shutil.which("pg_ctl"), shutil.which("initdb")
    if pg_ctl and initdb:
        return Path(pg_ctl).resolve().parent
    return None


class PrivatePostgres:
    """A throwaway cluster in a temporary folder on a free port. initdb refuses to run as root,
    so as root every command runs as the `postgres` user (runuser)."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="portal-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str, check: bool = True):
        command = [str(self.bindir / program), *args]
        if self.as_postgres:
            command = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--",
                       *command]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{program} {args[:3]} failed: {result.stderr or result.stdout}")
        return result

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=120"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w",
                  "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """fast: terminate sessions and shut down cleanly; immediate: like a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# --- Redis -----------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port, no persistence; `kill` is SIGKILL (a crash)."""

    def __init__(self, binary: str):
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="portal-faults-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 (kept open by the server)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        wait_until(self.ping, 15, f"redis-server on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


# --- SMTP ------------------------------------------------------------------------------------


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO/HELO, MAIL, RCPT, DATA (dot-unstuffed), RSET, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 localhost portal-test SMTP")
        sender, recipients = None, []
        while line := self.rfile.readline():
            command = line.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "MAIL":
                sender, recipients = command[10:].strip(" <>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command[8:].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    chunks.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                message = email.message_from_bytes(b"".join(chunks), policy=email.policy.default)
                self.server.received.append((sender, recipients, message))
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class _SMTPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class LocalSMTP:
    """A mail server on a fixed local port that can be stopped and started again; `received`
    holds (sender, recipients, message) for every message accepted, across restarts."""

    def __init__(self):
        self.port = free_port()
        self.received: list = []
        self._server: _SMTPServer | None = None

    def start(self) -> None:
        self._server = _SMTPServer(("127.0.0.1", self.port), _SMTPHandler)
        self._server.received = self.received
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True


# --- the app's own database, the sign-in form, the command line ------------------------------


@dataclass
class Site:
    url: str
    engine: object
    merchant_id: int
    customer_id: int
    email: str


def seed_site(url: str) -> Site:
    """A merchant with plans and one customer, zoe@example.com, on `url` (tables created)."""
    engine = db.make_engine(url)
    db.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        zoe = factories.make_customer(session, CLOCK, catalog.merchant, "zoe@example.com")
        session.commit()
    return Site(url, engine, catalog.merchant.id, zoe.id, zoe.email)


def submit_login_form(email_address: str):
    """The sign-in form as Reflex runs it: LoginState.request_link with the form's data.
    Returns the LoginState afterwards (sent / error / submitting are what the page shows)."""
    from portal_app.state import LoginState
    from tests.statekit import root_with

    async def scenario():
        root = root_with(None)
        state = await root.get_state(LoginState)
        async for _ in LoginState.request_link.fn(state, {"email": email_address}):
            pass
        return state

    return asyncio.run(scenario())


def portal_cli(*args: str, env: dict[str, str], timeout: float = 600):
    """`python -m portal_app.cli ...` in a child process, as cron would run it."""
    return subprocess.run(
        [sys.executable, "-m", "portal_app.cli", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def build_due_renewals(engine: sa.Engine, count: int) -> datetime:
    """`count` customers with a vaulted card and a monthly subscription whose period ended an hour
    ago (so the real clock, which the command uses, finds each one due exactly once)."""
    db.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        session.commit()
    merchant_id, price = catalog.merchant.id, catalog.monthly["Pro"]
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=31)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Customer),
            [
                {
                    "merchant_id": merchant_id,
                    "email": f"c{n}@faults.test",
                    "name": f"Customer {n}",
                    "currency": "USD",
                    "credit_balance": 0,
                    "billing_address": {},
                    "shipping_address": {},
                    "custom_fields": {},
                    "created_at": start,
                }
                for n in range(count)
            ],
        )
        ids = list(conn.execute(sa.select(Customer.id).order_by(Customer.id)).scalars())
        card = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": end.year + 3}
        conn.execute(
            sa.insert(SandboxCard),
            [
                {"token": f"tok_fault_{cid}", **card, "behaviour": "succeed", "created_at": start}
                for cid in ids
            ],
        )
        conn.execute(
            sa.insert(PaymentMethod),
            [
                {
                    "merchant_id": merchant_id,
                    "customer_id": cid,
                    "gateway_token": f"tok_fault_{cid}",
                    **card,
                    "is_default": True,
                    "created_at": start,
                }
                for cid in ids
            ],
        )
        conn.execute(
            sa.insert(Subscription),
            [
                {
                    "merchant_id": merchant_id,
                    "customer_id": cid,
                    "plan_id": price.plan_id,
                    "price_id": price.id,
                    "status": "active",
                    "current_period_start": start,
                    "current_period_end": end,
                    "cancel_at_period_end": False,
                    "discount_percent": 0,
                    "discount_cycles_remaining": 0,
                    "version": 1,
                    "created_at": start,
                }
                for cid in ids
            ],
        )
    return end
