"""Reflex configuration. Every value comes from `portal_app.config.load_settings()`, the one place
that reads the environment, so the app, the CLI and `reflex db ...` all agree."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import reflex as rx

from portal_app import dev_mailbox
from portal_app.config import load_settings

settings = load_settings()

# Reflex lets REFLEX_DB_URL / REFLEX_REDIS_URL override this file. Pin them to the values chosen
# by load_settings() (PORTAL_* first) so that migrations, the app and the CLI never talk to two
# different databases when both variables are set.
os.environ["REFLEX_DB_URL"] = settings.db_url
if settings.redis_url:
    os.environ["REFLEX_REDIS_URL"] = settings.redis_url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _allowed_origins(public_url: str) -> list[str]:
    """Only the app's own origin may open the event websocket (the default "*" reflects any
    Origin). A loopback URL also admits its localhost/127.0.0.1 twin, same port."""
    origin = _origin(public_url)
    origins = [origin]
    parts = urlsplit(origin)
    twins = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}
    if parts.hostname in twins:
        port = f":{parts.port}" if parts.port else ""
        origins.append(f"{parts.scheme}://{twins[parts.hostname]}{port}")
    return origins


_public = urlsplit(settings.public_url)
_port = int(os.environ.get("PORTAL_PORT") or _public.port or 3000)

# Behind a reverse proxy the browser reaches the websocket at the public URL. Left unset, Reflex
# points the browser at localhost:<backend port> and swaps in the page's own host name, which is
# right for `reflex run --env prod` (one port) and for dev mode (backend on 8000).
_urls = {}
if os.environ.get("PORTAL_PUBLIC_URL"):
    _urls = {"api_url": _origin(settings.public_url), "deploy_url": _origin(settings.public_url)}

# The dev mailbox shows every sign-in link: with it on, listen on loopback only (an explicit
# REFLEX_BACKEND_HOST / --backend-host still wins, and is then checked below). Off, Reflex's own
# default applies (0.0.0.0); production sets the address its proxy expects (docs/OPERATIONS.md).
_bind = {"backend_host": dev_mailbox.LOOPBACK_BIND} if dev_mailbox.enabled() else {}

config = rx.Config(
    app_name="portal_app",
    db_url=settings.db_url,
    redis_url=settings.redis_url,
    telemetry_enabled=False,
    # state_auto_setters is left out on purpose: False is the 0.10 default, and passing it at all
    # prints a deprecation warning on every command.
    # `reflex run --env prod` serves pages, the event websocket and our HTTP routes on this port.
    frontend_port=_port,
    cors_allowed_origins=_allowed_origins(settings.public_url),
    # 0: Reflex's router.session.client_ip stays the TCP peer. The client's address is decided
    # in one place for HTTP routes and the socket alike, from PORTAL_TRUSTED_PROXIES:
    # portal_app.http.common.client_ip / router_client_ip.
    trusted_proxy_hops=0,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    # No sitemap: the portal's pages are per-customer and not for crawlers.
    disable_plugins=[rx.plugins.SitemapPlugin],
    **_urls,
    **_bind,
)

# `reflex run` applies --backend-host to REFLEX_BACKEND_HOST and loads this file again, and every
# worker loads it too, so this sees the address the server will really bind.
dev_mailbox.refuse_unsafe_start(public_url=settings.public_url, bind_host=config.backend_host)
