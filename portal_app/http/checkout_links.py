"""GET /buy/<plan slug>?interval=month|year[&success_url=…]: the stable, shareable link of a plan
(the landing page's Subscribe buttons, a merchant's own site). Each visit opens a fresh checkout
session of the storefront merchant (the one the landing page shows) and answers 303 to
/checkout/<id>. An unknown slug, a plan not sold publicly or public checkout switched off is the
same plain 404 page; a `success_url` off the merchant's allow-list is a 400 page that says so;
opening sessions is limited per client IP (each one is a row)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal_app import routes
from portal_app.db import session_scope
from portal_app.http import common
from portal_app.http.routes import CLOCK, _run_sync
from portal_app.services import checkout, pricing_view, ratelimit, refusals
from portal_app.services.errors import CheckoutError, PortalError, ServiceUnavailable

PATH = routes.BUY + "/{slug}"
INTERVALS = ("month", "year")
RULE = "checkout_open_ip"  # ratelimit.RULES: checkout sessions opened per client IP
_SLUG_LIMIT = 80  # Plan.slug's length


def _not_available() -> Response:
    return common.page(
        "Plan not available",
        "<h1>This plan is not available</h1><p>The link may be out of date, or the plan is no "
        "longer sold online. See the plans we offer now.</p>"
        f'<a class="button" href="{routes.PRICING}">See plans and prices</a>',
        status=404,
    )


def _bad_return_page() -> Response:
    return common.page(
        "Return page not allowed",
        "<h1>This checkout link is not valid</h1><p>It names a page to return to after paying "
        "that this shop has not allowed. Ask the shop for a new link, or choose a plan here.</p>"
        f'<a class="button" href="{routes.PRICING}">See plans and prices</a>',
        status=400,
    )


def _too_many(request: Request, decision: ratelimit.Decision) -> Response:
    """429, tallied (services.refusals) like every other throttle."""
    common.tally_refusal(request, action=refusals.THROTTLED, rule=f"checkout_open:{decision.rule}")
    return common.page(
        "Too many checkouts",
        "<h1>Too many checkouts started</h1><p>Many checkouts were opened from your network "
        f"in a short time. {common.escape(decision.message())}</p>"
        f'<a class="button" href="{routes.PRICING}">Back to plans and prices</a>',
        status=429,
    )


async def buy(request: Request) -> Response:
    return await _run_sync(_buy, request)


def _buy(request: Request) -> Response:
    slug = str(request.path_params.get("slug", ""))
    if not slug or len(slug) > _SLUG_LIMIT:
        return _not_available()
    interval = request.query_params.get("interval")
    interval = interval if interval in INTERVALS else None  # anything else: the plan's default
    decision = ratelimit.get_limiter().hit((RULE, common.client_ip(request)))
    if not decision.allowed:
        response = _too_many(request, decision)
        response.headers["Retry-After"] = str(decision.retry_after_seconds)
        return response
    try:
        with session_scope() as session:
            merchant = pricing_view._demo_merchant(session)
            if merchant is None:
                return _not_available()
            checkout_id = checkout.open_link(
                session,
                CLOCK,
                merchant_id=merchant.id,
                slug=slug,
                interval=interval,
                success_url=request.query_params.get("success_url"),
            )
    except ServiceUnavailable:
        raise  # the app's 503 page (http.routes._unavailable)
    except CheckoutError as exc:
        if exc.code == "success_url":
            return _bad_return_page()
        return _not_available()
    except PortalError:  # unknown slug, not public, public checkout off: one answer for all
        return _not_available()
    return RedirectResponse(
        routes.checkout(checkout_id), status_code=303, headers={"Cache-Control": "no-store"}
    )


ROUTES = [Route(PATH, buy, methods=["GET"])]
