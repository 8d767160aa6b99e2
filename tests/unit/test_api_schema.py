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
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api_server import seed_shop, serve

MIN_REQUESTS = 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if os.environ.get("PORTAL_TEST_DB_URL"):
        pytest.skip("runs once, on SQLite: the fuzzer tests the HTTP contract, not the database")
    folder = tmp_path_factory.mktemp("api")
    url = f"sqlite:///{folder / 'api.db'}"
    key = seed_shop(url)
    with serve(folder, url) as base:
        yield {"base": base, "key": key, "folder": folder}


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
