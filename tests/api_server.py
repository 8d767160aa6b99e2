"""The plain HTTP side of the app (sign-in routes, downloads, the REST API) served by granian in
a process of its own, for the tests that need a real server (the schemathesis run, the API
guide's examples): no Reflex build needed. `app` is what granian imports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import Session

from portal_app.clock import SystemClock
from portal_app.db import create_all, install_guards, make_engine
from portal_app.http.routes import build_http_app
from portal_app.services import api_keys, audit, coupons_admin
from portal_app.services.sandbox_gateway import SandboxGateway
from tests import factories

ROOT = Path(__file__).resolve().parents[1]
CLOCK = SystemClock()

app = build_http_app()


def seed_shop(url: str) -> str:
    """A fresh database at `url`: merchant acme's catalog (Basic, Pro, Business), three paying
    customers, a coupon with the code LAUNCH; returns an API key with every scope."""
    engine = make_engine(url)
    create_all(engine)
    install_guards(engine)
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, CLOCK)
        gateway = SandboxGateway()
        for n in range(3):
            who = factories.make_customer(session, CLOCK, catalog.merchant, f"c{n}@example.com")
            factories.add_gateway_card(session, CLOCK, gateway, who)
            factories.subscribe(session, CLOCK, gateway, who, catalog.monthly["Pro"])
        coupon = coupons_admin.create_coupon(
            session,
            CLOCK,
            merchant_id=catalog.merchant.id,
            name="Launch",
            percent_off=20,
            code="LAUNCH",
            actor=audit.SYSTEM,
        )
        assert coupon.id == 1  # the ids the fuzzer tries first find something
        key = api_keys.create_api_key(
            session, CLOCK, merchant_id=catalog.merchant.id, name="fuzz", actor=audit.SYSTEM
        )
        session.commit()
    engine.dispose()
    return key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(
    folder: Path, db_url: str, target: str = "tests.api_server:app", extra_env: dict | None = None
) -> Iterator[str]:
    """Serve `target` (this module's `app` unless told) with one granian worker on a free
    loopback port against `db_url`, the API's rate lifted, `extra_env` added; yields the base
    URL."""
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_DB_URL": db_url,
        "PORTAL_API_RATE": "1000000/minute",
        "PORTAL_FILES_DIR": str(folder / "files"),
        "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # Webhook URLs the fuzzer makes up are not resolved (no network but loopback).
        "PORTAL_WEBHOOK_ALLOW_PRIVATE": "1",
        **(extra_env or {}),
    }
    env.pop("PORTAL_REDIS_URL", None)
    base = f"http://127.0.0.1:{port}"
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                target,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=1)
                    break
                except OSError:
                    if process.poll() is not None:
                        break
                    time.sleep(0.1)
            else:
                raise RuntimeError("the API server did not start")
            if process.poll() is not None:
                raise RuntimeError("the API server died: " + (folder / "server.log").read_text())
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)
