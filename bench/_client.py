"""Shared by the bench scripts (not a benchmark itself): a signed-in customer's browser tab as a
bare socket.io client speaking Reflex's event protocol, as the generated frontend does (namespace
and path `/_event`, the client token in the query string, the hydrate event in the CONNECT
packet's auth, then `event` messages of {name, payload, router_data}).

Reflex sends no "done" message per event, but it runs one tab's events one after another. So
`call` sends the event and then a cheap fence (`LoginState.load`, which sets vars without touching
the database and so always answers with a delta): everything that arrives before the fence's
delta is the answer to the event. `call_until` sends no fence and stops at the first delta of a
given state (or a toast or redirect): what the round-trip benchmark times."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field

import socketio
from _server import COOKIE, harness

ROOT_STATE = harness.ROOT_STATE
_PRIVATE = f"{ROOT_STATE}.portal_app___state___guard____private_state"
PORTAL = f"{_PRIVATE}.portal_app___state___portal_home____portal_state"
SUBSCRIPTIONS = f"{_PRIVATE}.portal_app___state___subscriptions____subscriptions_state"
CARDS = f"{_PRIVATE}.portal_app___state___payment_methods____cards_state"
INVOICES = f"{_PRIVATE}.portal_app___state___invoices____invoices_state"
DOWNLOADS = f"{_PRIVATE}.portal_app___state___downloads____downloads_state"
NAV = f"{_PRIVATE}.portal_app___state___nav____nav_state"
LOGIN = f"{ROOT_STATE}.portal_app___state___login____login_state"
FENCE = f"{LOGIN}.load"
VAR_SUFFIX = "_rx_state_"
_TOAST = re.compile(r"""\[\\?"(success|error|info|warning)\\?"\]\(""")

_JSON = json.JSONDecoder()


def check_state_names() -> None:
    """Fail early if the state classes were renamed (the names above are what goes on the wire)."""
    from portal_app.state import (
        CardsState,
        DownloadsState,
        InvoicesState,
        LoginState,
        NavState,
        PortalState,
        SubscriptionsState,
    )

    for cls, name in (
        (PortalState, PORTAL),
        (SubscriptionsState, SUBSCRIPTIONS),
        (CardsState, CARDS),
        (InvoicesState, INVOICES),
        (DownloadsState, DOWNLOADS),
        (NavState, NAV),
        (LoginState, LOGIN),
    ):
        if cls.get_full_name() != name:
            raise RuntimeError(f"{cls.__name__} is now {cls.get_full_name()}: update _client.py")


@dataclass
class Reply:
    """What the server sent back for one event."""

    messages: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False

    def delta(self, state: str) -> dict:
        """The last value of each var of `state` across the messages (names without suffix)."""
        merged: dict = {}
        for message in self.messages:
            for name, value in ((message.get("delta") or {}).get(state) or {}).items():
                merged[name.removesuffix(VAR_SUFFIX)] = value
        return merged

    @property
    def events(self) -> list[dict]:
        return [event for message in self.messages for event in message.get("events") or []]

    @property
    def toasts(self) -> list[tuple[str, str]]:
        found = []
        for event in self.events:
            if event.get("name") == "_call_function":
                source = str((event.get("payload") or {}).get("function", ""))
                for match in _TOAST.finditer(source):
                    # the message is the call's first argument, a JSON string literal
                    try:
                        text, _ = _JSON.raw_decode(source, match.end())
                    except ValueError:
                        text = source[match.end() : match.end() + 200]
                    found.append((match.group(1), str(text)))
        return found

    @property
    def redirects(self) -> list[str]:
        return [
            str((e.get("payload") or {}).get("path", ""))
            for e in self.events
            if "redirect" in e.get("name", "")
        ]

    @property
    def downloads(self) -> list[dict]:
        return [e for e in self.events if "download" in e.get("name", "")]


class PortalSocket:
    """One browser tab of a signed-in customer (the session cookie rides on the websocket)."""

    def __init__(self, base_url: str, cookie: str, user_agent: str = "portal-bench"):
        self.base_url = base_url
        self.token = str(uuid.uuid4())
        self.headers = {
            "Origin": base_url,
            "User-Agent": user_agent,
            "Cookie": f"{COOKIE}={cookie}",
        }
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[dict] = []
        self._arrived = asyncio.Event()
        self.fences_sent = 0
        self.fences_seen = 0
        self.sio.on("event", self._on_event, namespace="/_event")

    async def _on_event(self, data) -> None:
        if isinstance(data, str):
            data = json.loads(data)
        if LOGIN in (data.get("delta") or {}) and self.fences_seen < self.fences_sent:
            self.fences_seen += 1  # (hydrate's own LoginState delta is not a fence)
        self.received.append(data)
        self._arrived.set()

    @staticmethod
    def router_data(path: str) -> dict:
        return {"pathname": path.split("?")[0], "asPath": path}

    async def connect(self, path: str = "/portal", timeout: float = 60) -> Reply:
        """Open the socket with the page's hydrate event; returns once the state is hydrated."""
        start = time.perf_counter()
        await harness.connect_event_socket(
            self.sio, self.base_url, self.token, self.headers, self.router_data(path), timeout
        )

        def hydrated(message: dict) -> bool:
            root = (message.get("delta") or {}).get(ROOT_STATE) or {}
            return root.get(f"is_hydrated{VAR_SUFFIX}") is True

        return await self._wait(0, hydrated, start, timeout)

    async def _wait(self, index: int, done, start: float, timeout: float) -> Reply:
        deadline = start + timeout
        while True:
            while index < len(self.received):
                index += 1
                if done(self.received[index - 1]):
                    reply = Reply(self.received[:index], time.perf_counter() - start)
                    del self.received[:index]
                    return reply
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                reply = Reply(list(self.received), time.perf_counter() - start, timed_out=True)
                self.received.clear()
                return reply
            self._arrived.clear()
            if index < len(self.received):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def _emit(self, handler: str, payload: dict | None, path: str) -> None:
        await self.sio.emit(
            "event",
            {"name": handler, "payload": payload or {}, "router_data": self.router_data(path)},
            namespace="/_event",
        )

    async def call(
        self, handler: str, payload: dict | None = None, *, path: str, timeout: float = 30
    ) -> Reply:
        """Send one event and return everything it caused (see the module note on the fence)."""
        if self.fences_seen < self.fences_sent:
            # An earlier call timed out: let its answer drain before this one starts.
            await self._wait(
                0,
                lambda _m: self.fences_seen >= self.fences_sent,
                time.perf_counter(),
                timeout,
            )
        self.received.clear()
        start = time.perf_counter()
        await self._emit(handler, payload, path)
        self.fences_sent += 1  # before the emit: its answer may arrive while we await it
        await self._emit(FENCE, {}, path)

        def fence_arrived(message: dict) -> bool:
            return LOGIN in (message.get("delta") or {})

        reply = await self._wait(0, fence_arrived, start, timeout)
        if not reply.timed_out:
            reply.messages.pop()  # the fence's own delta
        return reply

    async def call_until(
        self,
        handler: str,
        state: str,
        payload: dict | None = None,
        *,
        path: str,
        timeout: float = 30,
    ) -> Reply:
        """Send one event and stop at the first delta of `state`, or a toast/redirect (refusal)."""
        self.received.clear()
        start = time.perf_counter()
        await self._emit(handler, payload, path)

        def answered(message: dict) -> bool:
            return state in (message.get("delta") or {}) or bool(message.get("events"))

        return await self._wait(0, answered, start, timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
