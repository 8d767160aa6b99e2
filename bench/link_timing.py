"""Asking for a sign-in link: does a known address take longer to answer than an unknown one?
(security spec R1.7: same response, p95 under 50 ms apart.)

    python bench/link_timing.py                     # SQLite (temporary file), 200 + 200 requests
    python bench/link_timing.py --db postgres       # scratch database on 127.0.0.1:5432
    python bench/link_timing.py --requests 1000 --redis   # rate limits on Redis, as in production

Each request runs `LoginState.request_link` the way Reflex runs it (the handler's generator, in
this process, on a state tree with a client IP and headers as a socket gives them), with a form
for either a customer's address ("known") or an address no one has ("unknown"), in random
order. Timed from the call to the moment the handler hands the page its answer (the `yield`
after which `sent` or `error` is set: what the browser is shown), and to the handler's end (the
rest of the work, the link and the mail for a known address, runs after the answer).

No rate limit is changed: every request comes from its own client address (198.18.0.0/15,
the benchmarking range) and every address is asked for once, so none is throttled; the script
checks afterwards that each known address got exactly one link mail and no unknown one any."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PORTAL_SECRET_KEY", "bench-secret-not-for-production")
os.environ.setdefault("PORTAL_PUBLIC_URL", "http://localhost:3000")

from _server import describe_url, machine_note, percentile, scratch_database, scratch_redis


def build(engine, known: int) -> list[str]:
    """A merchant with `known` customers; returns their addresses."""
    from sqlmodel import Session, SQLModel

    from portal_app.db import create_all
    from portal_app.models import Customer, Merchant

    SQLModel.metadata.drop_all(engine)
    create_all(engine)
    now = datetime.now(UTC)
    with Session(engine) as session:
        merchant = Merchant(slug="bench", name="Bench", created_at=now)
        session.add(merchant)
        session.flush()
        emails = [f"known{n}@bench.example" for n in range(known)]
        session.add_all(
            Customer(merchant_id=merchant.id, email=e, name=f"Known {n}", created_at=now)
            for n, e in enumerate(emails)
        )
        session.commit()
    return emails


def _state_for(ip: str):
    """A fresh state tree on a connection from `ip` (what a socket gives the handler)."""
    import reflex as rx
    from reflex_base import constants

    root = rx.State(_reflex_internal_init=True)
    router_data = {
        constants.RouteVar.HEADERS: {"user-agent": "portal-bench", "origin": "http://localhost"},
        constants.RouteVar.CLIENT_IP: ip,
        constants.RouteVar.PATH: "/login",
        constants.RouteVar.ORIGIN: "/login",
    }
    root.router_data = root._update_router_vars(router_data, root.router_data or {})
    return root


async def one_request(email: str, ip: str) -> tuple[float, float, str]:
    """(seconds to the answer, seconds to the handler's end, what the page shows)."""
    from portal_app.state import LoginState

    state = await _state_for(ip).get_state(LoginState)
    answered = None
    start = time.perf_counter()
    async for _ in LoginState.request_link.fn(state, {"email": email}):
        if answered is None and (state.sent or state.error):
            answered = time.perf_counter()
    end = time.perf_counter()
    if answered is None:  # the answer came with the handler's return
        answered = end
    shown = "sent" if state.sent else f"error: {state.error}"
    return answered - start, end - start, shown


def summary(label: str, values: list[float]) -> str:
    ordered = sorted(v * 1000 for v in values)
    return (
        f"{label:<8} n={len(ordered):<5} median {statistics.median(ordered):7.2f} ms   "
        f"p95 {percentile(ordered, 95):7.2f} ms   max {ordered[-1]:7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="half known, half unknown")
    parser.add_argument("--db", default="sqlite", help="sqlite (default) | postgres | a URL")
    parser.add_argument("--redis", action="store_true", help="rate limits on Redis (scratch db)")
    parser.add_argument("--seed", type=int, default=7, help="order of known/unknown requests")
    args = parser.parse_args()
    per_kind = max(1, args.requests // 2)
    note = machine_note()

    with scratch_database(args.db) as db_url, _maybe_redis(args.redis) as redis_url:
        os.environ["PORTAL_DB_URL"] = db_url
        if redis_url:
            os.environ["PORTAL_REDIS_URL"] = redis_url
        import portal_app.portal_app  # noqa: F401  (registers every state)
        from portal_app.db import get_engine
        from portal_app.services import ratelimit

        ratelimit.reset_singletons()
        engine = get_engine()
        known = build(engine, per_kind + 5)
        unknown = [f"nobody{n}@bench.example" for n in range(per_kind + 5)]
        plan = [("known", e) for e in known[5:]] + [("unknown", e) for e in unknown[5:]]
        random.Random(args.seed).shuffle(plan)
        warm = [("known", e) for e in known[:5]] + [("unknown", e) for e in unknown[:5]]
        print("link_timing: LoginState.request_link for known and unknown addresses")
        print(
            f"config: database {engine.dialect.name} ({describe_url(db_url)}); rate limits on "
            f"{'Redis' if redis_url else 'memory'}; {per_kind} known + {per_kind} unknown "
            f"requests in random order (seed {args.seed}) after 10 warm-up; {note}"
        )
        answer: dict[str, list[float]] = {"known": [], "unknown": []}
        total: dict[str, list[float]] = {"known": [], "unknown": []}
        shown: dict[str, set[str]] = {"known": set(), "unknown": set()}

        async def run() -> None:
            for n, (kind, email) in enumerate(warm + plan):
                ip = str(IPv4Address("198.18.0.1") + n)
                to_answer, to_end, what = await one_request(email, ip)
                if n >= len(warm):
                    answer[kind].append(to_answer)
                    total[kind].append(to_end)
                    shown[kind].add(what)

        asyncio.run(run())
        mails = _link_mails(engine)
        print("time to the answer (what the browser is shown):")
        for kind in ("known", "unknown"):
            print("  " + summary(kind, answer[kind]))
        print("time to the handler's end (the link and its mail included):")
        for kind in ("known", "unknown"):
            print("  " + summary(kind, total[kind]))
        p95 = {k: percentile(sorted(v), 95) * 1000 for k, v in answer.items()}
        medians = {k: statistics.median(v) * 1000 for k, v in answer.items()}
        gap = abs(p95["known"] - p95["unknown"])
        print(
            f"answer: medians {medians['known']:.2f} / {medians['unknown']:.2f} ms "
            f"(known / unknown), p95 gap {gap:.2f} ms: "
            f"{'within' if gap < 50 else 'OVER'} R1.7's 50 ms"
        )
        print(f"page showed: known {sorted(shown['known'])}, unknown {sorted(shown['unknown'])}")
        wrong = [e for e in known if mails.get(e, 0) != 1] + [e for e in unknown if e in mails]
        print(
            f"check: {sum(mails.values())} link mails, one per known address and none for an "
            f"unknown one: {'ok' if not wrong else f'FAILED for {wrong[:5]}'}"
        )
        if wrong or shown["known"] != shown["unknown"]:
            sys.exit(1)


def _link_mails(engine) -> dict[str, int]:
    import sqlalchemy as sa

    from portal_app.models import OutboxEmail

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(OutboxEmail.to_address, sa.func.count())
            .where(OutboxEmail.kind == "magic_link")
            .group_by(OutboxEmail.to_address)
        )
        return {address: count for address, count in rows}


class _maybe_redis:
    def __init__(self, wanted: bool):
        self.wanted, self._cm = wanted, None

    def __enter__(self):
        if not self.wanted:
            return None
        self._cm = scratch_redis()
        return self._cm.__enter__()

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc) if self._cm else False


if __name__ == "__main__":
    main()
