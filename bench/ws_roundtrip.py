"""Event round trip over the websocket: N signed-in socket.io clients on 1 or more workers, and the
same service call behind a bare Starlette route (granian, same workers), for Reflex's overhead.

    python bench/ws_roundtrip.py                                   # 50,200 clients; 1,4 workers
    python bench/ws_roundtrip.py --clients 50,200,500 --workers 1,4 --duration 60
    python bench/ws_roundtrip.py --think 0        # closed loop: every client sends back to back

Each client is a different bench customer (card, subscription, one open invoice), signed in
through the merchant API, with its own socket (a raw socket.io client, as the generated frontend
talks; no browser). In a loop for --duration seconds it sends `PortalState.load` (the portal
overview's guarded handler: session check in the database, then `read_overview`) and times the
round trip: from sending the event to the delta carrying the overview. Between calls it waits
--think seconds (uniformly 0.5x to 1.5x; 0 = closed loop, which measures the most a worker can do).
The first --warmup seconds are not counted. An answer that is not the overview (a toast, a
redirect to sign-in) or none within --timeout is an error.

The bare comparison: GET /overview on `bench/_bare_app.py` (the same session check and
`read_overview`), one aiohttp session (keep-alive connection) per client, same loop and think time.

Set-up (not timed): a private database (--db postgres: a scratch database on 127.0.0.1:5432,
dropped at the end; sqlite: a temporary file), migrated and seeded as `make run` does; a private
Redis database number (12..15, flushed at the end) when a run has more than one worker; the
production server `reflex run --env prod` with GRANIAN_WORKERS. Everything runs on this machine:
the clients share the CPUs with the server, so CPU use is printed per part, in % of one CPU over
the run: srvCPU the server's processes, dbCPU the PostgreSQL backends of the scratch database,
cliCPU this process (all the clients). "service call alone" is the same session check and
`read_overview` timed in this process one at a time, the floor under every round trip."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from _client import PORTAL, PortalSocket, check_state_names
from _server import (
    APP_DIR,
    COOKIE,
    PortalServer,
    add_bench_customers,
    cpu_seconds,
    describe_url,
    free_port,
    machine_note,
    percentile,
    scratch_database,
    scratch_redis,
    sign_in_all,
    start_group,
    stop_process_group,
)

BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class Run:
    server: str  # reflex | bare
    workers: int
    clients: int
    connected: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    measured_seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    db_cpu: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.measured_seconds if self.measured_seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) * 1000


class Loop:
    """The shared client loop: warm-up, measured window, think time."""

    def __init__(self, args):
        self.duration, self.warmup = args.duration, args.warmup
        self.think, self.timeout = args.think, args.timeout
        self.begin = self.measure_from = self.end = 0.0

    def start(self) -> None:
        self.begin = time.perf_counter()
        self.measure_from = self.begin + self.warmup
        self.end = self.measure_from + self.duration

    async def pause(self) -> None:
        if self.think > 0:
            await asyncio.sleep(self.think * random.uniform(0.5, 1.5))
        else:
            await asyncio.sleep(0)

    async def stagger(self) -> None:
        await asyncio.sleep(random.uniform(0, self.think if self.think > 0 else 0.05))


def postgres_name(db_url: str) -> str:
    return urlsplit(db_url).path.lstrip("/") if db_url.startswith("postgresql") else ""


def database_cpu(db_name: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `db_name` (empty for SQLite)."""
    found = {}
    if not db_name:
        return found
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if cmdline.startswith("postgres:") and f" {db_name} " in f"{cmdline} ":
            with contextlib.suppress(psutil.NoSuchProcess):
                found[proc.pid] = cpu_seconds([proc])
    return found


def database_seconds_since(db_name: str, before: dict[int, float]) -> float:
    return sum(now - before.get(pid, 0.0) for pid, now in database_cpu(db_name).items())


async def run_reflex(server: PortalServer, cookies: list[str], args, run: Run) -> None:
    db_name = postgres_name(server.db_url)
    sockets = [PortalSocket(server.base_url, cookie) for cookie in cookies]
    gate = asyncio.Semaphore(args.connect_concurrency)

    async def connect(sock: PortalSocket) -> bool:
        async with gate:
            try:
                reply = await sock.connect("/portal", timeout=60)
            except Exception:
                run.error("connect")
                return False
            if reply.timed_out or not reply.delta(PORTAL).get("loaded"):
                run.error("hydrate")
                return False
            return True

    connected = await asyncio.gather(*(connect(s) for s in sockets))
    live = [s for s, ok in zip(sockets, connected, strict=True) if ok]
    run.connected = len(live)
    loop = Loop(args)
    handler = f"{PORTAL}.load"

    async def client(sock: PortalSocket) -> None:
        await loop.stagger()
        while time.perf_counter() < loop.end:
            sent = time.perf_counter()
            reply = await sock.call_until(handler, PORTAL, path="/portal", timeout=loop.timeout)
            counted = sent >= loop.measure_from
            if reply.timed_out:
                if counted:
                    run.error("timeout")
                # the late answer must not be taken for the next call's
                late = await sock._wait(
                    0, lambda m: PORTAL in (m.get("delta") or {}), time.perf_counter(), 60
                )
                if late.timed_out:
                    run.error("no answer (client stopped)")
                    return
            elif not reply.delta(PORTAL).get("loaded"):
                if counted:
                    shown = ", ".join(t[:70] for _, t in reply.toasts) or "redirect"
                    run.error(f"answered with {shown}")
            elif counted:
                run.latencies.append(reply.seconds)
            await loop.pause()

    procs = server.processes()
    me = psutil.Process()
    cpu0, mine0, db0 = cpu_seconds(procs), cpu_seconds([me]), database_cpu(db_name)
    loop.start()
    await asyncio.gather(*(client(s) for s in live))
    run.measured_seconds = loop.end - loop.measure_from
    elapsed = time.perf_counter() - loop.begin
    run.server_cpu = (cpu_seconds(procs) - cpu0) / elapsed
    run.client_cpu = (cpu_seconds([me]) - mine0) / elapsed
    run.db_cpu = database_seconds_since(db_name, db0) / elapsed
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)


async def run_bare(base_url: str, procs, db_url: str, cookies: list[str], args, run: Run) -> None:
    import aiohttp

    db_name = postgres_name(db_url)
    loop = Loop(args)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    sessions = [
        aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"Cookie": f"{COOKIE}={cookie}", "User-Agent": "portal-bench"},
            connector=aiohttp.TCPConnector(limit=1),
            timeout=timeout,
        )
        for cookie in cookies
    ]
    run.connected = len(sessions)

    async def client(http) -> None:
        await loop.stagger()
        while time.perf_counter() < loop.end:
            sent = time.perf_counter()
            kind = None
            try:
                async with http.get(f"{base_url}/overview") as response:
                    body = await response.json()
                    if response.status != 200 or "open_invoices" not in body:
                        kind = f"HTTP {response.status}"
            except TimeoutError:
                kind = "timeout"
            except aiohttp.ClientError as exc:
                kind = type(exc).__name__
            took = time.perf_counter() - sent
            if sent >= loop.measure_from:
                if kind is None:
                    run.latencies.append(took)
                else:
                    run.error(kind)
            await loop.pause()

    me = psutil.Process()
    cpu0, mine0, db0 = cpu_seconds(procs), cpu_seconds([me]), database_cpu(db_name)
    loop.start()
    await asyncio.gather(*(client(h) for h in sessions))
    run.measured_seconds = loop.end - loop.measure_from
    elapsed = time.perf_counter() - loop.begin
    run.server_cpu = (cpu_seconds(procs) - cpu0) / elapsed
    run.client_cpu = (cpu_seconds([me]) - mine0) / elapsed
    run.db_cpu = database_seconds_since(db_name, db0) / elapsed
    await asyncio.gather(*(h.close() for h in sessions))


@contextlib.contextmanager
def bare_server(server: PortalServer, workers: int):
    """granian serving bench/_bare_app.py with the Portal server's environment and database."""
    port = free_port()
    env = server.env()
    env["PYTHONPATH"] = str(APP_DIR)
    log = (server.workdir / "bare.log").open("a")
    proc = start_group(
        [
            *(sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", str(workers), "--log-level", "warning"),
            "_bare_app:app",
        ],
        cwd=BENCH_DIR,
        env=env,
        log=log,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        import urllib.request

        while True:
            if proc.poll() is not None:
                raise RuntimeError("granian exited: see " + str(server.workdir / "bare.log"))
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        parent = psutil.Process(proc.pid)
        yield base, [parent, *parent.children(recursive=True)]
    finally:
        stop_process_group(proc)
        log.close()


def service_alone(server: PortalServer, cookie: str, repeat: int = 200) -> str:
    """The service call both servers make, in this process, one call at a time: its time and SQL
    statements, the floor under every round trip. (The portal runs it in a worker thread, so the
    event loop serves other tabs meanwhile; the CPU it takes still counts against the worker.)"""
    import os
    import statistics

    import sqlalchemy as sa

    os.environ["PORTAL_DB_URL"] = server.db_url
    os.environ["PORTAL_SECRET_KEY"] = server.secret
    from portal_app.clock import SystemClock
    from portal_app.db import get_engine, read_scope, session_scope
    from portal_app.services import auth
    from portal_app.services.portal_home_view import overview as read_overview

    clock, statements = SystemClock(), []
    sa.event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.append(a[2]))

    def call() -> None:
        with session_scope() as session:
            row = auth.load_session(session, clock, cookie, role="customer")
            customer_id, row_id = row.customer_id, row.id
        with read_scope() as session:
            read_overview(session, clock, customer_id=customer_id, session_row_id=row_id)

    call()
    statements.clear()
    call()
    per_call = len([s for s in statements if not s.lstrip().upper().startswith("BEGIN")])
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = statistics.median(times) * 1000
    return (
        f"service call alone (session check + read_overview, in this process, one at a time, "
        f"{repeat}x): median {median:.1f} ms, p95 {percentile(times, 95) * 1000:.1f} ms, "
        f"{per_call} SQL statements"
    )


def print_run(run: Run) -> None:
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(run.errors.items())) or "0"
    print(
        f"{run.server:<6} {run.workers:>2} {run.clients:>5} {run.connected:>5} "
        f"{len(run.latencies):>7} {run.throughput:>8.1f} {run.p(50):>8.1f} {run.p(95):>8.1f} "
        f"{run.p(99):>8.1f} {run.server_cpu * 100:>6.0f}% {run.db_cpu * 100:>6.0f}% "
        f"{run.client_cpu * 100:>6.0f}%  {errors}",
        flush=True,
    )


HEADER = (
    f"{'server':<6} {'w':>2} {'clnts':>5} {'conn':>5} {'calls':>7} {'calls/s':>8} "
    f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'srvCPU':>7} {'dbCPU':>7} {'cliCPU':>7}  errors"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="50,200", help="comma-separated (default 50,200)")
    parser.add_argument("--workers", default="1,4", help="comma-separated (default 1,4)")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds not counted")
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean seconds between a client's calls"
    )
    parser.add_argument("--timeout", type=float, default=10, help="seconds before an error")
    parser.add_argument(
        "--db", default="postgres", help="postgres (scratch, default) | sqlite | a database URL"
    )
    parser.add_argument(
        "--redis",
        choices=("auto", "always"),
        default="auto",
        help="auto: Redis state only with several workers (as Reflex does); always: also for 1",
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare Starlette runs")
    parser.add_argument("--connect-concurrency", type=int, default=20)
    args = parser.parse_args()
    clients = [int(x) for x in args.clients.split(",")]
    workers_list = [int(x) for x in args.workers.split(",")]
    check_state_names()

    print("ws_roundtrip: PortalState.load over socket.io vs GET /overview on bare Starlette")
    print(
        f"config: clients {clients}, workers {workers_list}, {args.duration:g} s measured after "
        f"{args.warmup:g} s warm-up, think {args.think:g} s, timeout {args.timeout:g} s, "
        f"db {args.db}, redis {args.redis}"
    )
    print(f"machine: {machine_note()}")
    need_redis = args.redis == "always" or max(workers_list) > 1
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(scratch_database(args.db))
        redis_url = stack.enter_context(scratch_redis()) if need_redis else None
        print(f"database: {describe_url(db_url)}; redis: {redis_url or 'not used'}")
        server = PortalServer(db_url)
        t0 = time.perf_counter()
        server.prepare()
        customers = add_bench_customers(db_url, max(clients), open_invoices=1)
        print(
            f"set-up: migrated, seeded, {len(customers)} bench customers in "
            f"{time.perf_counter() - t0:.1f} s (not timed); server log {server.log_path}",
            flush=True,
        )
        cookies: list[str] = []
        try:
            for workers in workers_list:
                use_redis = redis_url if (workers > 1 or args.redis == "always") else None
                server.start(workers, use_redis)
                if not cookies:
                    keys = server.api_keys(len(customers))
                    by_id = asyncio.run(
                        sign_in_all(server.base_url, keys, [c.id for c in customers])
                    )
                    cookies = [by_id[c.id] for c in customers]
                    print(service_alone(server, cookies[0]), flush=True)
                    print(HEADER, flush=True)
                for n in clients:
                    run = Run("reflex", workers, n)
                    asyncio.run(run_reflex(server, cookies[:n], args, run))
                    print_run(run)
                    runs.append(run)
                server.stop()
                if args.no_bare:
                    continue
                with bare_server(server, workers) as (base, procs):
                    for n in clients:
                        run = Run("bare", workers, n)
                        asyncio.run(run_bare(base, procs, db_url, cookies[:n], args, run))
                        print_run(run)
                        runs.append(run)
        finally:
            server.close()
    summarize(runs, args)


def summarize(runs: list[Run], args) -> None:
    by = {(r.server, r.workers, r.clients): r for r in runs}
    print("\nReflex / bare (same workers, clients, think time):")
    for (server, workers, clients), run in sorted(by.items()):
        bare = by.get(("bare", workers, clients))
        if server != "reflex" or bare is None or not bare.latencies or not run.latencies:
            continue
        print(
            f"  {workers} worker(s), {clients} clients: p50 x{run.p(50) / bare.p(50):.2f}, "
            f"p95 x{run.p(95) / bare.p(95):.2f}, throughput x{run.throughput / bare.throughput:.2f}"
        )
    workers = sorted({r.workers for r in runs})
    if len(workers) > 1:
        print(f"\nThroughput from {workers[0]} to {workers[-1]} workers:")
        for (server, w, clients), run in sorted(by.items()):
            other = by.get((server, workers[-1], clients))
            if w == workers[0] and other and run.throughput:
                print(
                    f"  {server} {clients} clients: {run.throughput:.1f} -> "
                    f"{other.throughput:.1f} calls/s (x{other.throughput / run.throughput:.2f})"
                )
    goal = by.get(("reflex", 1, 200))
    if goal and goal.latencies:
        verdict = "met" if goal.p(95) <= 50 else "NOT met"
        print(
            f"\ngoal p95 <= 50 ms at 200 clients on 1 worker (think {args.think:g} s): "
            f"{goal.p(95):.1f} ms, {verdict}"
        )


if __name__ == "__main__":
    main()
