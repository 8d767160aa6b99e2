"""schemathesis (an independent OpenAPI fuzzer) against the REST API on a real server process
(granian serving the app's HTTP routes): every operation of /api/v1/openapi.json, valid and
invalid input, with every check schemathesis has but one: no 500, every status, header and body
as the document says, input the document forbids refused (0 is not false), undeclared methods
answered 405 with the right `Allow`, no auth refused. It must generate at least 1,000 requests.

The check left out, `positive_data_acceptance`, wants every schema-valid body accepted; a
business rule refuses some that a JSON schema cannot describe (cancel what is already set to
cancel, delete a customer who still pays, a coupon with both kinds of discount), with a 400
naming the rule, as Stripe does. Those refusals are tested in test_api.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import Session

from portal_app.clock import SystemClock
from portal_app.db import create_all, install_guards, make_engine
from portal_app.services import api_keys, audit, coupons_admin
from portal_app.services.sandbox_gateway import SandboxGateway
from tests import factories

CLOCK = SystemClock()
ROOT = Path(__file__).resolve().parents[2]
MIN_REQUESTS = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed(url: str) -> str:
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if os.environ.get("PORTAL_TEST_DB_URL"):
        pytest.skip("runs once, on SQLite: the fuzzer tests the HTTP contract, not the database")
    folder = tmp_path_factory.mktemp("api")
    url = f"sqlite:///{folder / 'api.db'}"
    key = _seed(url)
    port = _free_port()
    env = {
        **os.environ,
        "PORTAL_DB_URL": url,
        "PORTAL_API_RATE": "100000/minute",
        "PORTAL_FILES_DIR": str(folder / "files"),
        "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("PORTAL_REDIS_URL", None)
    log = open(folder / "server.log", "w")  # noqa: SIM115  (closed below)
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
            "tests.api_server:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the API server did not start: " + (folder / "server.log").read_text())
        yield {"base": base, "key": key, "folder": folder}
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_schemathesis_finds_no_failure_over_every_operation(server):
    report = server["folder"] / "report.json"
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{server['base']}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {server['key']}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "30",
            "--seed",
            "20261203",
            "--workers",
            "2",
            "--no-color",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        cwd=server["folder"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    output = result.stdout + result.stderr
    (server["folder"] / "st.log").write_text(output)
    print(server["folder"] / "st.log")
    assert result.returncode == 0, output[-6000:]
    summary = json.loads(report.read_text())
    print("schemathesis:", summary["test_cases"], summary["operations"])
    assert summary["operations"]["tested"] == summary["operations"]["total"] >= 37
    assert summary["test_cases"]["generated"] >= MIN_REQUESTS
    assert summary["failures"] == [] and summary["errors"] == []
