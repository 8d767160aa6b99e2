"""Page load of the portal home in headless Chromium, for a signed-in customer: cold and warm.

    python bench/page_load.py                 # 10 cold + 10 warm loads, SQLite, 1 worker
    python bench/page_load.py --runs 20 --db postgres --path /invoices --ready "[data-testid=...]"

"Interactive" here means: the overview's data is on screen, i.e. `[data-testid=greeting]`
("Hello, <name>", rendered only once `PortalState.load` has answered over the websocket) is
visible. Timed from `page.goto` until then, so it covers HTML, scripts, the websocket connect,
hydrate and the guarded load handler.
- cold: a new browser context each time (empty HTTP cache, no service worker), like a first visit;
- warm: a new tab in a context that has loaded the page before (scripts and styles cached).
Also printed: the browser's own DOMContentLoaded and load event times (Navigation Timing).

Set-up (not timed): a private database migrated and seeded as `make run` does, the production
server (`reflex run --env prod`, built in a private work directory), one bench customer signed in
through the merchant API; the session cookie is put into each context. Chromium is Debian's
/usr/bin/chromium (PORTAL_CHROMIUM to change), driven by Playwright; nothing is downloaded."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import (
    COOKIE,
    PortalServer,
    add_bench_customers,
    describe_url,
    machine_note,
    percentile,
    scratch_database,
    sign_in_all,
)

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NAV_TIMING = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return n ? [n.domContentLoadedEventEnd, n.loadEventEnd] : [NaN, NaN];
}"""


def load_once(context, url: str, ready: str, timeout_ms: int) -> tuple[float, float, float]:
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout_ms)
        page.locator(ready).first.wait_for(state="visible", timeout=timeout_ms)
        interactive = time.perf_counter() - start
        page.wait_for_load_state("load", timeout=timeout_ms)
        dom_ready, loaded = page.evaluate(NAV_TIMING)
        return interactive * 1000, dom_ready, loaded
    finally:
        page.close()


def summary(label: str, samples: list[tuple[float, float, float]]) -> None:
    interactive = sorted(s[0] for s in samples)
    dom = [s[1] for s in samples]
    load = [s[2] for s in samples]
    print(
        f"{label:<6} n={len(samples):<3} interactive median "
        f"{statistics.median(interactive):7.0f} ms"
        f"  p90 {percentile(interactive, 90):7.0f} ms  min {interactive[0]:6.0f}  max "
        f"{interactive[-1]:6.0f} | DOMContentLoaded median {statistics.median(dom):6.0f} ms, "
        f"load median {statistics.median(load):6.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="cold loads and warm loads each")
    parser.add_argument("--path", default="/portal")
    parser.add_argument("--ready", default="[data-testid=greeting]", help="CSS of 'interactive'")
    parser.add_argument("--db", default="sqlite", help="sqlite (default) | postgres | a URL")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--timeout", type=float, default=30, help="seconds per load")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    print(f"page_load: {args.path} in headless Chromium until {args.ready} is visible")
    print(
        f"config: {args.runs} cold + {args.runs} warm loads, viewport {args.width}x900, "
        f"db {args.db}"
    )
    print(f"machine: {machine_note()}")
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(scratch_database(args.db))
        server = PortalServer(db_url)
        t0 = time.perf_counter()
        server.prepare()
        customer = add_bench_customers(db_url, 1, open_invoices=2)[0]
        stack.callback(server.close)
        server.start(1)
        keys = server.api_keys(1)
        cookie = asyncio.run(sign_in_all(server.base_url, keys, [customer.id]))[customer.id]
        print(
            f"set-up: {time.perf_counter() - t0:.1f} s (migrate, seed, build, start; not timed); "
            f"database {describe_url(db_url)}; server {server.base_url}"
        )
        url = server.base_url + args.path
        timeout_ms = int(args.timeout * 1000)
        cookies = [
            {
                "name": COOKIE,
                "value": cookie,
                "url": server.base_url,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            viewport = {"width": args.width, "height": 900}

            def new_context():
                context = browser.new_context(viewport=viewport)
                context.add_cookies(cookies)
                return context

            # one throw-away load: the server's first render of each route and its caches
            with contextlib.closing(new_context()) as context:
                load_once(context, url, args.ready, timeout_ms)
            cold = []
            for _ in range(args.runs):
                with contextlib.closing(new_context()) as context:
                    cold.append(load_once(context, url, args.ready, timeout_ms))
            warm = []
            with contextlib.closing(new_context()) as context:
                load_once(context, url, args.ready, timeout_ms)  # fills the cache
                for _ in range(args.runs):
                    warm.append(load_once(context, url, args.ready, timeout_ms))
            browser.close()
        summary("cold", cold)
        summary("warm", warm)


if __name__ == "__main__":
    main()
