"""What the browser tests (tests/browser/conftest.py) and the bench scripts (bench/) both do to a
server: start `reflex run` (or granian) in a process group of its own and stop that whole group,
and open a socket.io connection the way the generated frontend does. Only the standard library
and psutil here, so a bench script can import it without pytest."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import psutil

ROOT_STATE = "reflex___state____state"


def start_group(cmd: list[str], *, cwd: Path, env: dict[str, str], log) -> subprocess.Popen:
    """`cmd` in a new session (its own process group), output to the open file `log`."""
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process started by `start_group` and everything it started (granian workers, bun)."""
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


async def connect_event_socket(
    sio,
    base_url: str,
    token: str,
    headers: dict[str, str],
    router_data: dict | None,
    wait_timeout: float,
) -> None:
    """Connect `sio` (a socketio.AsyncClient) to Reflex's `/_event` namespace as a tab with client
    token `token`; with `router_data`, the CONNECT packet carries the page's hydrate event."""
    auth = None
    if router_data is not None:
        auth = {
            "event": {
                "name": f"{ROOT_STATE}.hydrate_and_load",
                "payload": {},
                "router_data": router_data,
            }
        }
    await sio.connect(
        f"{base_url}?token={token}",
        socketio_path="/_event",
        transports=["websocket"],
        namespaces=["/_event"],
        headers=headers,
        auth=auth,
        wait_timeout=wait_timeout,
    )
