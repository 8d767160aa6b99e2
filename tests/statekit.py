"""Call Reflex state handlers the way Reflex does, with the cookie header a socket carries."""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex_base import constants

import portal_app.portal_app  # noqa: F401  (registers every state)


def root_with(cookie_sid: str | None) -> rx.State:
    root = rx.State(_reflex_internal_init=True)
    connect(root, cookie_sid)
    return root


def connect(root: rx.State, cookie_sid: str | None) -> None:
    headers = {"user-agent": "pytest", "origin": "http://localhost:3000"}
    if cookie_sid:
        headers["cookie"] = f"portal_sid={cookie_sid}; other=1"
    router_data = {
        constants.RouteVar.HEADERS: headers,
        constants.RouteVar.CLIENT_IP: "198.51.100.7",
        constants.RouteVar.PATH: "/portal",
        constants.RouteVar.ORIGIN: "/portal",
    }
    root.router_data = root._update_router_vars(router_data, root.router_data or {})


def run(coroutine):
    return asyncio.run(coroutine)


async def call(root, state_cls, name, *args):
    substate = await root.get_state(state_cls)
    handler = getattr(state_cls, name)
    return await handler.fn(substate, *args)
