"""Shared by the bench scripts (not a benchmark itself): scratch databases, the production server,
bench customers and customer sign-in.

- `scratch_database("sqlite" | "postgres" | URL)`: a private SQLite file, or a private PostgreSQL
  database created on BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres, trust
  auth) and dropped afterwards; a URL is used as given (it must be an empty database you own).
- `scratch_redis()`: an empty Redis database number on BENCH_REDIS_URL (default
  redis://127.0.0.1:6379), flushed afterwards. Reflex keeps state there with several workers.
- `PortalServer`: `reflex db migrate`, `seed-demo`, then `reflex run --env prod` on 127.0.0.1
  with N granian workers (GRANIAN_WORKERS; Redis state manager when N > 1), as `make run` does.
- `add_bench_customers`: customers of the demo merchant made through the services (card,
  subscription, open invoices), so every row is what the app itself would write.
- `sign_in`: the merchant API's one-time portal link (POST /api/v1/portal-sessions with a key from
  `create-api-key`), redeemed by POST /auth/verify: the session cookie. The API allows 120 links
  per minute per key, so `api_keys(n)` makes one key per 100 customers; redeeming a valid link
  is not rate-limited (only failed redemptions count against the client IP).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
# BENCH_APP_DIR: benchmark the app of another checkout (e.g. `git worktree add /tmp/v1 v1.0`)
# with these scripts. The server runs there and the bench imports portal_app from there.
APP_DIR = Path(os.environ.get("BENCH_APP_DIR") or ROOT).resolve()
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))


def _harness():
    """tests/browser/harness.py of this checkout (even with BENCH_APP_DIR): starting and stopping
    a server's process group and the socket.io connect, as the browser tests do them."""
    spec = importlib.util.spec_from_file_location(
        "portal_browser_harness", ROOT / "tests" / "browser" / "harness.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _harness()
start_group = harness.start_group
stop_process_group = harness.stop_group

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
COOKIE = "portal_sid"  # the bench server's public URL is http://, so no __Host- prefix
START_TIMEOUT = 600.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def describe_url(url: str) -> str:
    """A database URL without any password, for printing."""
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":***@")
    return url


# --- scratch databases ---------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_postgres(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A new database on the server of `admin_url`; yields its SQLAlchemy URL, drops it after."""
    import psycopg

    name = f"portal_bench_{os.getpid()}_{secrets.token_hex(3)}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(plain)
    url = parts._replace(scheme="postgresql+psycopg", path=f"/{name}").geturl()
    try:
        yield url
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """`sqlite` (a temporary file), `postgres` (a scratch database) or a URL used as given."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="portal-bench-db-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
    elif kind in ("postgres", "postgresql", "pg"):
        with scratch_postgres() as url:
            yield url
    else:
        yield kind


@contextlib.contextmanager
def scratch_redis(base_url: str = REDIS_BASE_URL, first_db: int = 12) -> Iterator[str]:
    """An empty Redis database number (first_db..15), claimed with a marker key, flushed after."""
    import redis

    for number in range(first_db, 16):
        client = redis.Redis.from_url(f"{base_url}/{number}")
        if client.dbsize() == 0 and client.set("portal-bench:claimed", os.getpid(), nx=True):
            break
    else:
        raise RuntimeError(f"no empty Redis database among {first_db}..15 on {base_url}")
    try:
        yield f"{base_url}/{number}"
    finally:
        client.flushdb()


# --- the production server -----------------------------------------------------------------------


class PortalServer:
    """`reflex run --env prod` on <host>:<port> (loopback by default) against `db_url`, in a
    private work directory (build, states, files, log). `prepare()` migrates and seeds once;
    `start(workers)` and `stop()` may be repeated (the build in the work directory is reused)."""

    def __init__(
        self,
        db_url: str,
        port: int | None = None,
        workdir: Path | None = None,
        host: str = "127.0.0.1",
    ):
        self.db_url = db_url
        self.host = host
        self.port = port or free_port()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="portal-bench-"))
        self.log_path = self.workdir / "server.log"
        self.secret = secrets.token_urlsafe(32)
        self.proc: subprocess.Popen | None = None
        self.workers = 0
        self.redis_url: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.endswith("_REDIS_URL") and k not in ("PORTAL_SECRET_KEY", "GRANIAN_WORKERS")
        }
        tools = [
            str(d / ".tools" / "node_modules" / ".bin") for d in dict.fromkeys((APP_DIR, ROOT))
        ]
        env["PATH"] = os.pathsep.join([*tools, str(Path(sys.executable).parent), env["PATH"]])
        env.update(
            PORTAL_DB_URL=self.db_url,
            REFLEX_DB_URL=self.db_url,
            PORTAL_SECRET_KEY=self.secret,
            PORTAL_PUBLIC_URL=self.base_url,
            PORTAL_PORT=str(self.port),
            PORTAL_FILES_DIR=str(self.workdir / "files"),
            REFLEX_WEB_WORKDIR=str(self.workdir / "web"),
            REFLEX_STATES_WORKDIR=str(self.workdir / "states"),
            REFLEX_CHECK_LATEST_VERSION="false",
            REFLEX_TELEMETRY_ENABLED="false",
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["PORTAL_REDIS_URL"] = env["REFLEX_REDIS_URL"] = self.redis_url
        if self.workers:
            env["GRANIAN_WORKERS"] = str(self.workers)
        return env

    def _run(self, *cmd: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, *cmd],
            cwd=APP_DIR,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def prepare(self) -> None:
        self._run("-m", "reflex", "db", "migrate")
        self._run("-m", "portal_app.cli", "seed-demo")

    def cli(self, *args: str) -> str:
        return self._run("-m", "portal_app.cli", *args)

    def api_keys(self, customers: int, per_key: int = 100) -> list[str]:
        """Enough merchant API keys to make `customers` portal links within the 120/min limit."""
        keys = []
        for n in range(max(1, math.ceil(customers / per_key))):
            out = self.cli("create-api-key", "--name", f"bench-{n}")
            match = re.search(r"sk_portal_[A-Za-z0-9_\-]+", out)
            if not match:
                raise RuntimeError(f"create-api-key printed no key: {out!r}")
            keys.append(match.group(0))
        return keys

    def start(self, workers: int = 1, redis_url: str | None = None) -> None:
        """Start with `workers` granian workers; several workers need `redis_url`."""
        if workers > 1 and not redis_url:
            raise ValueError("more than one worker needs Redis (Reflex's state manager)")
        self.workers, self.redis_url = workers, redis_url
        cmd = [sys.executable, "-m", "reflex", "run", "--env", "prod"]
        cmd += ["--frontend-port", str(self.port), "--backend-port", str(self.port)]
        cmd += ["--backend-host", self.host]
        log = self.log_path.open("a")
        log.write(f"\n$ GRANIAN_WORKERS={workers} {' '.join(cmd)}\n")
        log.flush()
        self.proc = start_group(cmd, cwd=APP_DIR, env=self.env(), log=log)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"reflex run exited:\n{self.log_tail()}")
            if _answers(f"{self.base_url}/ping") and _answers(f"{self.base_url}/"):
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"server not up after {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def processes(self) -> list[psutil.Process]:
        """The server's process tree (reflex run, granian workers), for CPU accounting."""
        if self.proc is None:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process_group(self.proc)
        self.proc = None

    def close(self) -> None:
        """Stop, and delete the work directory except the logs (a build is 30-200 MB)."""
        self.stop()
        for name in ("web", "states", "files"):
            shutil.rmtree(self.workdir / name, ignore_errors=True)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


# --- bench customers -----------------------------------------------------------------------------

GOOD_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000002"  # tokenizes; every charge is declined


def bulk_card_rows(merchant_id: int, customer_ids, created_at: datetime) -> list[dict]:
    """Rows for `sa.insert(PaymentMethod)`: each customer's default card, a Visa ending 4242 with
    the gateway token `tok_bench_<customer id>` (the bulk-inserted benches' customers)."""
    return [
        {
            "merchant_id": merchant_id,
            "customer_id": cid,
            "gateway_token": f"tok_bench_{cid}",
            "brand": "visa",
            "last4": "4242",
            "exp_month": 12,
            "exp_year": 2030,
            "is_default": True,
            "created_at": created_at,
        }
        for cid in customer_ids
    ]


@dataclass(frozen=True)
class BenchCustomer:
    id: int
    email: str
    declines: bool  # default card declines every charge


def _add_card(session, clock, gateway, customer, number: str, actor, make_default=False) -> None:
    """A card for the customer through `payment_methods.add_card` (December, three years on)."""
    from portal_app.services import payment_methods

    payment_methods.add_card(
        session,
        clock,
        gateway,
        customer_id=customer.id,
        number=number,
        exp_month=12,
        exp_year=datetime.now(UTC).year + 3,
        cvc="123",
        make_default=make_default,
        actor=actor,
    )


def add_bench_customers(
    db_url: str,
    count: int,
    *,
    open_invoices: int = 0,
    declining_every: int = 0,
    subscription_plans: tuple[str, ...] = ("Starter", "Pro", "Business"),
    batch: int = 50,
) -> list[BenchCustomer]:
    """`count` customers of the demo merchant, each with a card and a monthly subscription made by
    `subscriptions.create` (first invoice charged), and `open_invoices` finalized unpaid invoices.
    Every `declining_every`-th customer then gets a declining card as default."""
    from sqlmodel import select

    from portal_app.clock import SystemClock
    from portal_app.db import make_engine, session_scope
    from portal_app.models import Customer, Merchant, NotificationPreference, Plan, Price
    from portal_app.services import audit, invoices, subscriptions
    from portal_app.services.demo import DEMO_SLUG
    from portal_app.services.invoices import LineSpec
    from portal_app.services.sandbox_gateway import SandboxGateway

    engine = make_engine(db_url)
    clock, gateway = SystemClock(), SandboxGateway()
    made: list[BenchCustomer] = []
    with session_scope(engine) as session:
        merchant_id = session.exec(select(Merchant.id).where(Merchant.slug == DEMO_SLUG)).one()
        prices = [
            price_id
            for name in subscription_plans
            for price_id in session.exec(
                select(Price.id)
                .join(Plan, Plan.id == Price.plan_id)
                .where(Plan.merchant_id == merchant_id, Plan.name == name)
                .where(Price.interval == "month")
            )
        ]
        first = session.exec(select(Customer.id).order_by(Customer.id.desc())).first() or 0
    for start in range(0, count, batch):
        with session_scope(engine) as session:
            for n in range(start, min(count, start + batch)):
                email = f"bench{first + n + 1}@bench.example"
                customer = Customer(
                    merchant_id=merchant_id,
                    email=email,
                    name=f"Bench Customer {n + 1}",
                    created_at=clock.now(),
                )
                session.add(customer)
                session.flush()
                session.add(NotificationPreference(customer_id=customer.id))
                actor = audit.Actor.customer(customer.id)
                _add_card(session, clock, gateway, customer, GOOD_CARD, actor)
                if prices:
                    subscriptions.create(
                        session,
                        clock,
                        gateway,
                        customer_id=customer.id,
                        price_id=prices[n % len(prices)],
                        actor=actor,
                    )
                for k in range(open_invoices):
                    draft = invoices.create_draft(
                        session,
                        clock,
                        customer=customer,
                        currency="USD",
                        lines=[LineSpec("manual", f"Bench services #{k + 1}", 1000 + 250 * k)],
                        billing_reason="manual",
                    )
                    invoices.finalize(session, clock, draft, audit.Actor("system", "bench"))
                declines = bool(declining_every) and n % declining_every == declining_every - 1
                if declines:
                    _add_card(
                        session, clock, gateway, customer, DECLINING_CARD, actor, make_default=True
                    )
                made.append(BenchCustomer(customer.id, email, declines))
    engine.dispose()
    return made


def save_settings(db_url: str, changes: dict) -> None:
    """Change the demo merchant's portal settings through the service (audited)."""
    from sqlmodel import select

    from portal_app.clock import SystemClock
    from portal_app.db import make_engine, session_scope
    from portal_app.models import Merchant
    from portal_app.services import audit, features
    from portal_app.services.demo import DEMO_SLUG

    engine = make_engine(db_url)
    with session_scope(engine) as session:
        merchant_id = session.exec(select(Merchant.id).where(Merchant.slug == DEMO_SLUG)).one()
        features.save(session, SystemClock(), merchant_id, changes, audit.Actor("system", "bench"))
    engine.dispose()


# --- sign-in ------------------------------------------------------------------------------------


async def sign_in(http, base_url: str, api_key: str, customer_id: int, user_agent: str) -> str:
    """A portal link from the merchant API, redeemed like the confirmation form does; returns the
    session cookie. A 429 from the API (120 links/min per key) is waited out and retried."""
    for _ in range(5):
        async with http.post(
            f"{base_url}/api/v1/portal-sessions",
            json={"customer_id": customer_id},
            headers={"Authorization": f"Bearer {api_key}"},
        ) as response:
            if response.status == 429:
                await asyncio.sleep(float(response.headers.get("Retry-After", "5")))
                continue
            data = await response.json()
            if response.status != 201:
                raise RuntimeError(f"portal link for {customer_id}: {response.status} {data}")
            break
    else:
        raise RuntimeError(f"portal link for {customer_id}: still rate-limited")
    token = parse_qs(urlsplit(data["url"]).query)["token"][0]
    async with http.post(
        f"{base_url}/auth/verify",
        data={"token": token},
        headers={"Origin": base_url, "User-Agent": user_agent},
        allow_redirects=False,
    ) as response:
        if response.status != 303:
            raise RuntimeError(f"redeeming the link for {customer_id} gave {response.status}")
        morsel = response.cookies.get(COOKIE)
        if morsel is None:
            raise RuntimeError(f"no {COOKIE} cookie for customer {customer_id}")
        return morsel.value


async def sign_in_all(
    base_url: str, keys: list[str], customer_ids: list[int], concurrency: int = 8
) -> dict[int, str]:
    """Session cookies for every customer (key i serves customers i*100 .. i*100+99)."""
    import aiohttp

    cookies: dict[int, str] = {}
    gate = asyncio.Semaphore(concurrency)
    per_key = max(1, math.ceil(len(customer_ids) / len(keys)))

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:

        async def one(index: int, customer_id: int) -> None:
            async with gate:
                cookies[customer_id] = await sign_in(
                    http, base_url, keys[index // per_key], customer_id, "portal-bench"
                )

        await asyncio.gather(*(one(i, c) for i, c in enumerate(customer_ids)))
    return cookies


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def machine_note() -> str:
    load1, load5, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load1:.2f} (1 min) / {load5:.2f} (5 min) at start"
