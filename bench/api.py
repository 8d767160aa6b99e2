"""REST API latency: `GET /customers/{id}/state` and `POST /subscriptions` (a charge through
the sandbox), p50/p95 over sequential requests, each beside a bare Starlette route doing the
same service call (bench/_api_app.py): the ratio is what the API's layer costs (key, scope and
rate checks, validation, errors, idempotency, the OpenAPI models).

    python bench/api.py [--requests 300] [--creates 100] [--db sqlite|postgres|URL]

One granian worker on 127.0.0.1; one client, one request at a time (latency, not throughput).
Creates alternate API and bare, each for a customer of its own with a card."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from sqlmodel import Session

from portal_app.clock import SystemClock
from portal_app.db import create_all, install_guards, make_engine
from portal_app.services import api_keys, audit
from portal_app.services.sandbox_gateway import SandboxGateway
from tests import factories
from tests.api_server import serve

CLOCK = SystemClock()


def _seed(url: str, creates: int):
    engine = make_engine(url)
    create_all(engine)
    install_guards(engine)
    gateway = SandboxGateway()
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        watched = factories.make_customer(session, CLOCK, catalog.merchant, "state@example.com")
        factories.add_gateway_card(session, CLOCK, gateway, watched)
        factories.subscribe(session, CLOCK, gateway, watched, catalog.monthly["Pro"])
        buyers = []
        for n in range(2 * creates):
            who = factories.make_customer(session, CLOCK, catalog.merchant, f"b{n}@example.com")
            factories.add_gateway_card(session, CLOCK, gateway, who)
            buyers.append(who.id)
        key = api_keys.create_api_key(
            session, CLOCK, merchant_id=catalog.merchant.id, name="bench", actor=audit.SYSTEM
        )
        session.commit()
    engine.dispose()
    return key, watched.id, buyers, catalog.monthly["Basic"].id


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[
        min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))
    ]


def _timed(client: httpx.Client, method: str, url: str, **kwargs) -> float:
    started = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return elapsed


def run(url: str, requests: int, creates: int) -> None:
    key, watched, buyers, price_id = _seed(url, creates)
    with (
        tempfile.TemporaryDirectory(prefix="portal-bench-api-") as folder,
        serve(Path(folder), url, "bench._api_app:app") as base,
    ):
        _measure(base, url, key, watched, buyers, price_id, requests, creates)


def _measure(base, url, key, watched, buyers, price_id, requests, creates) -> None:
    from _server import describe_url, machine_note

    print(f"{describe_url(url)}; {machine_note()}")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(20):  # warm up both paths
            _timed(client, "GET", f"/api/v1/customers/{watched}/state")
            _timed(client, "GET", f"/bare/state/{watched}")
        api_state, bare_state = [], []
        for _ in range(requests):
            api_state.append(_timed(client, "GET", f"/api/v1/customers/{watched}/state"))
            bare_state.append(_timed(client, "GET", f"/bare/state/{watched}"))
        api_create, bare_create = [], []
        for n in range(creates):
            body = {"customer_id": buyers[2 * n], "price_id": price_id}
            api_create.append(_timed(client, "POST", "/api/v1/subscriptions", json=body))
            body = {"customer_id": buyers[2 * n + 1], "price_id": price_id}
            bare_create.append(_timed(client, "POST", "/bare/subscriptions", json=body))
    for label, api, bare in (
        (f"GET state x{requests}", api_state, bare_state),
        (f"POST subscriptions x{creates}", api_create, bare_create),
    ):
        (a50, a95), (b50, b95) = _percentiles(api), _percentiles(bare)
        print(
            f"{label:>24}: API p50 {a50:6.2f} ms p95 {a95:6.2f} ms | bare p50 {b50:6.2f} ms "
            f"p95 {b95:6.2f} ms | ratio p50 x{a50 / b50:.2f} p95 x{a95 / b95:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or a database URL")
    args = parser.parse_args()
    from _server import scratch_database

    with scratch_database(args.db) as url:
        run(url, args.requests, args.creates)


if __name__ == "__main__":
    main()
