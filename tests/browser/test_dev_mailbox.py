"""The dev mailbox is never a way in, checked against the production server (`reflex run --env
prod` with PORTAL_DEV_MAILBOX=1 and one trusted proxy hop, as conftest.py starts it): a page or
a raw socket that comes through a proxy hop (`X-Forwarded-For`) gets no mail, while the developer's
own browser on this machine reads it; and `reflex run` refuses to start where others could reach
the mailbox."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest

from tests.browser.conftest import (
    ROOT,
    ROOT_STATE,
    VERIFY_LINK,
    RawClient,
    _free_port,
    fresh_client_ip,
    merged_delta,
    remember_secret,
    request_link_in_browser,
    run_async,
    token_of,
)

pytestmark = pytest.mark.browser

MAILBOX_STATE = f"{ROOT_STATE}.portal_app___state___dev_mailbox____mailbox_state"
# A demo customer no other browser test signs in (demo.FLOW_CUSTOMERS): one link request only.
PROBE = "kwame@example.com"


@pytest.fixture(scope="module")
def probe_link(browser, running_app) -> str:
    """Ask for a real sign-in link for PROBE (from a simulated client behind the proxy, as every
    customer in production is) and read it from the mailbox in a local browser."""
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": fresh_client_ip()})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        request_link_in_browser(page, running_app, PROBE)
        assert page.get_by_test_id("login-sent").is_visible()
    finally:
        context.close()
    local = browser.new_context()
    try:
        page = local.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{running_app.base_url}/dev/mailbox")
        mail = page.get_by_test_id("mail").filter(has_text=f"To: {PROBE}").first
        match = VERIFY_LINK.search(mail.get_by_test_id("mail-body").inner_text())
    finally:
        local.close()
    assert match, "the local browser did not find the sign-in mail in the dev mailbox"
    remember_secret("link_token", token_of(match.group(0)))
    return match.group(0)


def test_a_page_through_a_proxy_hop_sees_no_mail(page_at, running_app, probe_link):
    page = page_at(1280, client_ip=fresh_client_ip())
    page.goto(f"{running_app.base_url}/dev/mailbox")
    refusal = page.get_by_test_id("mailbox-local-only")
    refusal.wait_for()
    assert "only for local use" in refusal.inner_text()
    assert page.get_by_test_id("mail").count() == 0
    assert token_of(probe_link) not in page.content()


def _mailbox_over_socket(base_url: str, headers: dict[str, str]) -> dict:
    """Open /dev/mailbox over a bare socket.io connection with these extra headers, press
    "Refresh" too, and return the mailbox state's vars as the server sent them (by var name)."""

    async def scenario():
        client = RawClient(base_url)
        client.headers.update(headers)
        try:
            messages = await client.connect("/dev/mailbox")
            messages += await client.call(f"{MAILBOX_STATE}.load", "/dev/mailbox")
        finally:
            await client.close()
        sent = merged_delta(messages).get(MAILBOX_STATE, {})
        return {name.removesuffix("_rx_state_"): value for name, value in sent.items()}

    return run_async(scenario)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "203.0.113.9"},
        {"X-Forwarded-For": "127.0.0.1"},  # a forwarded "loopback" address is still forwarded
        {"Forwarded": "for=203.0.113.9"},
        {"X-Real-IP": "203.0.113.9"},
        {"X-Forwarded-Host": "billing.example.com"},
    ],
    ids=["xff", "xff-loopback", "forwarded", "x-real-ip", "x-forwarded-host"],
)
def test_a_raw_socket_through_a_proxy_hop_gets_nothing(running_app, probe_link, headers):
    local = _mailbox_over_socket(running_app.base_url, {})
    assert local.get("local") is True
    assert any(m["to"] == PROBE for m in local.get("messages", [])), "control: local read failed"

    forwarded = _mailbox_over_socket(running_app.base_url, headers)
    assert forwarded.get("enabled") is True
    assert forwarded.get("local") is not True
    assert not forwarded.get("messages")
    assert token_of(probe_link) not in repr(forwarded)


@pytest.mark.parametrize(
    ("args", "env", "reason"),
    [
        (["--backend-host", "0.0.0.0"], {}, "the server would listen on 0.0.0.0"),
        ([], {"PORTAL_PUBLIC_URL": "https://billing.example.com"}, "PORTAL_PUBLIC_URL is https"),
    ],
    ids=["bind-0.0.0.0", "public-url"],
)
def test_reflex_run_refuses_to_start_where_others_could_read_it(
    running_app, tmp_path, args, env, reason
):
    port = _free_port()
    run_env = {
        **running_app.env,
        # A build and state directory of its own (`reflex run` wipes the states), so the
        # session's server is left alone even if this one did start.
        "REFLEX_WEB_WORKDIR": str(tmp_path / "web"),
        "REFLEX_STATES_WORKDIR": str(tmp_path / "states"),
        "PORTAL_PORT": str(port),
        **env,
    }
    assert run_env["PORTAL_DEV_MAILBOX"] == "1"
    cmd = [sys.executable, "-m", "reflex", "run", "--env", "prod", *args]
    cmd += ["--frontend-port", str(port), "--backend-port", str(port)]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=run_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"reflex run started instead of refusing:\n{output[-3000:]}")
    assert proc.returncode != 0, output[-3000:]
    assert "Refusing to start: PORTAL_DEV_MAILBOX=1 shows every sign-in link" in output
    assert reason in output
    assert "unset PORTAL_DEV_MAILBOX and set PORTAL_SMTP_HOST" in output
