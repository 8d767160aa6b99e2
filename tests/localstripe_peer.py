"""localstripe (PyPI: a stateful fake Stripe server) as the tests' Stripe, on a free loopback port.

Run as `python -m tests.localstripe_peer --port N`: localstripe's own aiohttp app, with two
changes made here, both to make it behave as Stripe documents:
- `Idempotency-Key`: localstripe ignores it. A middleware keeps the first response per key (and
  API key) and returns it again for the same request; the same key with other parameters gets
  Stripe's 400 `idempotency_error`. Server errors are not kept, as Stripe doesn't keep them.
- its store is not pickled to /tmp on every write (several runs may share /tmp).
- CORS preflights are answered, as Stripe's API answers them (localstripe has no OPTIONS
  routes; the browser tests' pages send an X-Forwarded-For header, which makes Chromium ask).

`LocalStripe` starts and stops it; `StripeJs` does over HTTP what localstripe's Stripe.js stand-in
does in a browser (confirm a SetupIntent with a card, answer 3-D Secure), for tests without one.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "sk_test_portal_localstripe"
PUBLISHABLE_KEY = "pk_test_portal_localstripe"
WEBHOOK_SECRET = "whsec_portal_localstripe_test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalStripe:
    """One localstripe process for a test run."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> LocalStripe:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.localstripe_peer", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/js.stripe.com/v3/", timeout=1)
                return self
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    raise RuntimeError("localstripe exited at start") from None
                time.sleep(0.1)
        raise RuntimeError("localstripe did not start in 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)

    def add_webhook(self, name: str, url: str, secret: str = WEBHOOK_SECRET) -> None:
        """localstripe posts every event to `url`, signed with `secret` (Stripe-Signature)."""
        httpx.post(
            f"{self.base}/_config/webhooks/{name}", data={"url": url, "secret": secret}
        ).raise_for_status()

    def api(self, method: str, path: str, **data) -> dict:
        """A call with the secret key, as our server makes them (for test setup and checks)."""
        response = httpx.request(
            method,
            f"{self.base}{path}",
            auth=(SECRET_KEY, ""),
            data=_form(data) if method != "GET" else None,
            params=_form(data) if method == "GET" else None,
        )
        response.raise_for_status()
        return response.json()


class StripeJs:
    """What Stripe.js does in the customer's browser, with the publishable key only."""

    def __init__(self, base: str):
        self.base = base

    def _post(self, path: str, data: dict) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", data=_form({"key": PUBLISHABLE_KEY, **data}))

    def confirm_card_setup(
        self,
        client_secret: str,
        number: str,
        *,
        exp_month=12,
        exp_year=2034,
        cvc="123",
        authenticate: bool | None = True,
    ) -> dict:
        """The card element's confirmCardSetup: the card goes to Stripe, never to us. A card that
        asks for 3-D Secure is then confirmed (True), refused (False) or left waiting (None)."""
        setup_id = client_secret.split("_secret_")[0]
        response = self._post(
            f"/v1/setup_intents/{setup_id}/confirm",
            {
                "client_secret": client_secret,
                "payment_method_data": {
                    "type": "card",
                    "card": {
                        "number": number.replace(" ", ""),
                        "exp_month": str(exp_month),
                        "exp_year": str(exp_year),
                        "cvc": cvc,
                    },
                },
            },
        )
        body = response.json()
        if response.status_code == 200 and body.get("status") == "requires_action":
            if authenticate is None:
                return body
            action = "confirm" if authenticate else "cancel"
            body = self._post(
                f"/v1/setup_intents/{setup_id}/{action}", {"client_secret": client_secret}
            ).json()
        return body

    def authenticate_payment(self, client_secret: str, success: bool) -> dict:
        """The 3-D Secure dialog of confirmCardPayment, answered."""
        intent_id = client_secret.split("_secret_")[0]
        return self._post(
            f"/v1/payment_intents/{intent_id}/_authenticate",
            {"client_secret": client_secret, "success": "true" if success else "false"},
        ).json()


def _form(data: dict, prefix: str = "") -> dict[str, str]:
    """Stripe's form encoding: nested dicts as a[b][c], lists as a[0]."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_form(value, name))
        elif isinstance(value, list):
            flat.update(_form(dict(enumerate(value)), name))
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif value is not None:
            flat[name] = str(value)
    return flat


# --- the server process ------------------------------------------------------------------------


def _serve(port: int) -> None:
    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None  # no pickle in /tmp
    resources.store.clear()

    kept: dict[tuple[str, str], tuple[str, int, bytes, str]] = {}
    locks: dict[tuple[str, str], asyncio.Lock] = {}

    @web.middleware
    async def idempotency(request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        body = await request.read()
        fingerprint = hashlib.sha256(request.path.encode() + b"\0" + body).hexdigest()
        async with locks.setdefault(scope, asyncio.Lock()):
            if scope in kept:
                first, status, text, content_type = kept[scope]
                if first != fingerprint:
                    return web.json_response(
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": (
                                    "Keys for idempotent requests can only be used with the "
                                    "same parameters they were first used with."
                                ),
                            }
                        },
                        status=400,
                    )
                return web.Response(
                    body=text,
                    status=status,
                    content_type=content_type,
                    headers={"Idempotent-Replayed": "true"},
                )
            response = await handler(request)
            if response.status < 500 and response.status != 409:
                kept[scope] = (fingerprint, response.status, response.body, "application/json")
            return response

    @web.middleware
    async def preflight(request, handler):
        if request.method == "OPTIONS":
            return web.Response(status=204)
        return await handler(request)

    async def cors(request, response):
        origin = request.headers.get("Origin")
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS, DELETE"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Content-Type, Accept"
            )

    server.app.on_response_prepare.clear()
    server.app.on_response_prepare.append(cors)
    server.app.middlewares.insert(0, preflight)
    server.app.middlewares.insert(1, idempotency)
    web.run_app(server.app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    _serve(parser.parse_args().port)
