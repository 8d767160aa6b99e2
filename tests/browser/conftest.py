"""Browser-test fixtures: one production build of the app per session, served by
`reflex run --env prod` on a free port against a scratch SQLite database (migrated with
`reflex db migrate` and seeded with `python -m portal_app.cli seed-demo`), driven by Playwright
in Debian's Chromium. Run these in their own pytest process (`make test` does)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = float(os.environ.get("PORTAL_BROWSER_START_TIMEOUT", "300"))


@dataclass(frozen=True)
class RunningApp:
    base_url: str
    db_url: str
    log_path: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _app_env(tmp: Path, db_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_REDIS_URL")}
    tools_bin = ROOT / ".tools" / "node_modules" / ".bin"
    path = [str(Path(sys.executable).parent), env.get("PATH", "")]
    if tools_bin.is_dir():
        path.insert(0, str(tools_bin))
    env.update(
        PATH=os.pathsep.join(path),
        PORTAL_DB_URL=db_url,
        REFLEX_DB_URL=db_url,
        PORTAL_PUBLIC_URL=f"http://localhost:{port}",
        PORTAL_PORT=str(port),
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_TELEMETRY_ENABLED="false",
        # A private build and state directory: a `make run` on port 3000 keeps its own .web/.
        REFLEX_WEB_WORKDIR=str(tmp / "web"),
        REFLEX_STATES_WORKDIR=str(tmp / "states"),
        PORTAL_FILES_DIR=str(tmp / "files"),
        PYTHONUNBUFFERED="1",
        PORTAL_DEV_MAILBOX="1",
        PORTAL_SECRET_FILE=str(tmp / "secret"),
    )
    return env


def _tail(path: Path, chars: int = 6000) -> str:
    return path.read_text(errors="replace")[-chars:]


def _run(cmd: list[str], env: dict[str, str], log, log_path: Path) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        log.flush()
        pytest.fail(
            f"{' '.join(cmd[1:])} exited with {done.returncode}:\n{_tail(log_path)}",
            pytrace=False,
        )


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop `reflex run` and everything it started (granian workers, bun): its process group."""
    try:
        parent = psutil.Process(proc.pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=15)
    for leftover in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=15)


def _wait_until_up(base_url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"reflex run exited with {proc.returncode}:\n{_tail(log_path)}", pytrace=False
            )
        try:
            with urllib.request.urlopen(f"{base_url}/ping", timeout=2) as ping:
                if ping.status == 200:
                    with urllib.request.urlopen(f"{base_url}/", timeout=5) as page:
                        if page.status == 200:
                            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"app not up after {START_TIMEOUT:.0f}s:\n{_tail(log_path)}", pytrace=False)


@pytest.fixture(scope="session")
def running_app(tmp_path_factory) -> Iterator[RunningApp]:
    tmp = tmp_path_factory.mktemp("app")
    port = _free_port()
    db_url = f"sqlite:///{tmp / 'portal.db'}"
    env = _app_env(tmp, db_url, port)
    log_path = tmp / "reflex.log"
    base_url = f"http://localhost:{port}"
    with log_path.open("w") as log:
        _run([sys.executable, "-m", "reflex", "db", "migrate"], env, log, log_path)
        _run([sys.executable, "-m", "portal_app.cli", "seed-demo"], env, log, log_path)
        cmd = [sys.executable, "-m", "reflex", "run", "--env", "prod"]
        cmd += ["--frontend-port", str(port), "--backend-port", str(port)]
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_up(base_url, proc, log_path)
            yield RunningApp(base_url=base_url, db_url=db_url, log_path=log_path)
        finally:
            _stop_group(proc)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_at(browser, running_app):
    """page_at(width) -> a fresh page in its own context; JS errors fail the test."""
    contexts, errors = [], []

    def open_page(width: int, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
