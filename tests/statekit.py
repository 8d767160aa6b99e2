"""Call Reflex state handlers the way Reflex does, with the cookie header a socket carries."""

from __future__ import annotations

import asyncio
import json

import reflex as rx
from reflex_base import constants

import portal_app.portal_app  # noqa: F401  (registers every state)
from portal_app.http.common import cookie_name


def root_with(customer_sid: str | None = None, *, staff_sid: str | None = None) -> rx.State:
    """A state tree on a connection carrying the customer cookie and/or the staff cookie."""
    root = rx.State(_reflex_internal_init=True)
    connect(root, customer_sid, staff_sid=staff_sid)
    return root


def connect(
    root: rx.State, customer_sid: str | None = None, *, staff_sid: str | None = None
) -> None:
    """A new connection for the same state tree, with these cookies (None: that cookie absent)."""
    headers = {"user-agent": "pytest", "origin": "http://localhost:3000"}
    cookies = [
        f"{cookie_name(role)}={sid}"
        for role, sid in (("customer", customer_sid), ("staff", staff_sid))
        if sid
    ]
    if cookies:
        headers["cookie"] = "; ".join([*cookies, "other=1"])
    router_data = {
        constants.RouteVar.HEADERS: headers,
        constants.RouteVar.CLIENT_IP: "198.51.100.7",
        constants.RouteVar.PATH: "/portal",
        constants.RouteVar.ORIGIN: "/portal",
    }
    root.router_data = root._update_router_vars(router_data, root.router_data or {})


def visit(root: rx.State, route: str, **params: str) -> rx.State:
    """Put the tab on a dynamic route ("/checkout/[id]", id="cs_…"): its page params are
    `params`, as Reflex sets them from the URL."""
    origin = route
    for name, value in params.items():
        origin = origin.replace(f"[{name}]", value)
    root.router_data = root._update_router_vars(
        {
            **root.router_data,
            constants.RouteVar.PATH: route,
            constants.RouteVar.ORIGIN: origin,
            constants.RouteVar.QUERY: dict(params),
        },
        root.router_data,
    )
    return root


def app_states() -> list[type[rx.State]]:
    """Every state class the app defines (all of rx.State's substates from portal_app)."""
    found, stack = [], list(rx.State.get_substates())
    while stack:
        cls = stack.pop()
        stack.extend(cls.get_substates())
        if cls.__module__.startswith("portal_app."):
            found.append(cls)
    return found


def run(coroutine):
    return asyncio.run(coroutine)


async def call(root, state_cls, name, *args):
    substate = await root.get_state(state_cls)
    handler = getattr(state_cls, name)
    return await handler.fn(substate, *args)


def settings_form(settings, **overrides) -> dict:
    """What the browser posts from Settings → Customer Portal for `settings` (a FeatureSet):
    checked boxes present, everything else as text; `overrides` by field key."""
    from portal_app.state.merchant_settings import form_rows

    data = {}
    for row in form_rows(settings):
        if row["kind"] == "bool":
            if row["checked"]:
                data[row["key"]] = "on"
        elif row["kind"] == "labels":  # the reasons editor posts their wording as JSON
            data[row["key"]] = json.dumps(settings[row["key"]])
        elif row["kind"] not in ("fields", "image"):  # saved by their own builder, upload
            data[row["key"]] = row["value"]
    data.update(overrides)
    return data
