"""docs/API.md's quick start, run as written: every ```sh block with bash (curl) and every
```python block with this Python, against the API on a real server, in order. A guide whose
example no longer works fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.api_server import ROOT, seed_shop, serve

GUIDE = ROOT / "docs" / "API.md"


def _quick_start_blocks() -> list[tuple[str, str]]:
    text = GUIDE.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(sh|python)\n(.*?)```", section, flags=re.S)


def test_the_quick_start_has_curl_and_python_examples():
    kinds = [kind for kind, _ in _quick_start_blocks()]
    assert kinds.count("sh") >= 2 and kinds.count("python") >= 1


def test_every_quick_start_example_runs_against_the_server(tmp_path):
    if os.environ.get("PORTAL_TEST_DB_URL"):
        pytest.skip("runs once, on SQLite: the examples test the HTTP contract")
    url = f"sqlite:///{tmp_path / 'guide.db'}"
    key = seed_shop(url)
    with serve(tmp_path, url) as base:
        env = {**os.environ, "PORTAL_URL": base, "PORTAL_KEY": key}
        outputs = []
        for kind, code in _quick_start_blocks():
            command = ["bash", "-euo", "pipefail", "-c", code] if kind == "sh" else [sys.executable]
            done = subprocess.run(
                command,
                input=code if kind == "python" else None,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, f"{kind} block failed:\n{code}\n{done.stderr}"
            outputs.append(done.stdout)
    customer, checkout, python = outputs
    assert '"external_id":"user_42"' in customer and '"object":"customer"' in customer
    assert '"url":"http://127.0.0.1:' in checkout and "/checkout/" in checkout
    assert '"trial_days":14' in checkout
    lines = python.strip().splitlines()
    assert lines[0] == "ada@example.com not paying seats: 1"
    assert lines[1].startswith(f"{base}/auth/verify?token=")


def test_the_guide_names_no_operation_the_document_lacks():
    from portal_app.api.app import build_api

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path.removeprefix("/api/v1"))

    paths = {shape(p) for p in build_api().openapi()["paths"]}
    named = set(re.findall(r"`(?:GET|POST|DELETE) (/[^`?\s]+)", GUIDE.read_text()))
    unknown = {p for p in map(shape, named) if p not in paths and p != "/openapi.json"}
    assert len(named) >= 15 and not unknown, unknown
