"""The hosted checkout page, /checkout/<id>: public (no session needed), the id in the URL is the
capability.

Every handler takes the checkout id from the page's route (`router.page.params`), never from
its arguments, and re-reads the session through `services.checkout` (which keeps every rule:
expiry, codes, throttles per client IP and email, the one confirm). A signed-in customer, if the
connection carries a live customer cookie, is looked up again at each call and passed on, so the
purchase attaches to them. The card number passes through `confirm`'s payload to the gateway and
is never kept in a state var or logged. This state is not private state (its handlers are
public); it holds only what the page shows of this one checkout."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.components import gateway_js
from portal_app.db import session_scope
from portal_app.http.common import router_client_ip
from portal_app.services import auth, checkout, ratelimit
from portal_app.services.errors import (
    CheckoutError,
    NotFound,
    PortalError,
    ServiceUnavailable,
)
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import CLOCK, session_id_of
from portal_app.state.profile import ADDRESS_FIELDS

log = logging.getLogger(__name__)

EMAIL_EXISTS = (
    "This email already has an account — we sent you a sign-in link. Open it to come back "
    "here signed in and finish."
)
LINK_ALREADY_SENT = (
    "This email already has an account, and we sent it a sign-in link a moment ago. Open that "
    "link to come back here signed in."
)
NOT_VALID = "That request was not valid."
WENT_WRONG = "Something went wrong. Please try again."
_CLOSED = ("expired", "completed")  # CheckoutError codes of a session that can't change now
_FIELD_LIMIT = 20_000  # longer than any field the service accepts: it refuses, never we cut
_CARD_LIMIT = 64


@dataclass
class QuoteRow:
    description: str = ""
    amount: str = ""


@dataclass
class Shown:
    """`services.checkout.CheckoutView` as the page shows it (strings and flags, with defaults
    so the state has an empty one before the first load)."""

    id: str = ""
    status: str = ""  # open | completed | expired
    mode: str = ""
    merchant_name: str = ""
    title: str = ""
    description: str = ""
    features: list[str] = field(default_factory=list)
    interval: str = ""
    can_switch_interval: bool = False
    other_interval: str = ""
    other_interval_label: str = ""
    price_label: str = ""
    trial_label: str = ""
    card_required: bool = True
    lines: list[QuoteRow] = field(default_factory=list)
    total: str = ""
    due_today: str = ""
    next_renewal: str = ""
    code_applied: str = ""
    code_problem: str = ""
    email: str = ""
    name: str = ""
    billing_address: dict[str, str] = field(default_factory=dict)
    shipping_address: dict[str, str] = field(default_factory=dict)
    needs_billing_address: bool = False
    needs_shipping_address: bool = False
    customer_signed_in_email: str = ""
    expires_at_label: str = ""


def shown_from(view: Any) -> Shown:
    """Copy the fields the page uses; addresses and lines become plain strings."""
    values = {}
    for name in Shown.__dataclass_fields__:
        if hasattr(view, name):
            values[name] = getattr(view, name)
    values["lines"] = [
        QuoteRow(str(line.description), str(line.amount)) for line in values.get("lines", [])
    ]
    values["features"] = [str(f) for f in values.get("features", [])]
    for key in ("billing_address", "shipping_address"):
        values[key] = {k: str(v) for k, v in (values.get(key) or {}).items()}
    return Shown(**values)


def _address_from(form_data: dict, prefix: str) -> dict[str, str]:
    """The address typed under `prefix`. A field that is not on the page arrives as None: the
    form's submit handler lists every input with an id, shown or not (str(None) is "None")."""
    values = {key: form_data.get(f"{prefix}_{key}") for key in ADDRESS_FIELDS}
    return {
        key: str(raw)[:_FIELD_LIMIT].strip()
        for key, raw in values.items()
        if raw is not None and str(raw).strip()
    }


def _card_from(form_data: dict) -> checkout.CardInput | None:
    """The card as typed, or None when the number is left empty (a trial without a card)."""
    number = str(form_data.get("number", ""))[:_CARD_LIMIT].replace(" ", "")
    if not number:
        return None
    try:
        month, year = str(form_data.get("expiry", ""))[:16].replace(" ", "").split("/")
        exp_month, exp_year = int(month), int(year)
    except ValueError:
        raise CheckoutError("Enter the card's expiry as MM/YY.", code="invalid") from None
    if exp_year < 100:
        exp_year += 2000
    return checkout.CardInput(
        number=number,
        exp_month=exp_month,
        exp_year=exp_year,
        cvc=str(form_data.get("cvc", ""))[:8].strip(),
    )


def signed_in_customer_id(cookie_sid: str | None) -> int | None:
    """The customer behind a live customer cookie, or None (no cookie, ended, a staff member's
    support session). Never required: a visitor without one is simply not signed in."""
    if not cookie_sid:
        return None
    with session_scope() as session:
        try:
            row = auth.load_session(session, CLOCK, cookie_sid, role="customer")
        except auth.SessionEnded:
            return None
    if row.acting_staff_id is not None:
        return None  # staff acting for a customer do not buy in their name
    return row.customer_id


def _page_redirect(url: str):
    """A full page load of `url`: the sign-in link is an HTTP route, not a page of the app
    (`rx.redirect` would route it inside the app, or open a new tab when external)."""
    if not (url.startswith("/") and not url.startswith("//")) and not url.startswith(
        ("https://", "http://")
    ):
        raise ValueError("unexpected redirect target")
    return rx.call_script(f"window.location.assign({json.dumps(url)})")


def _public(handler):
    """A public checkout handler: its database work in a worker thread; a refusal shown where
    it belongs (inline, by the handler), the database briefly away as a toast, a forged or
    malformed call as a toast that changes nothing."""

    @functools.wraps(handler)
    async def wrapper(self, *args, **kwargs):
        try:
            return await asyncio.to_thread(handler, self, *args, **kwargs)
        except ServiceUnavailable as exc:
            return rx.toast.error(str(exc))
        except NotFound as exc:
            self.missing = True
            return rx.toast.error(str(exc))
        except PortalError as exc:
            return rx.toast.error(str(exc))
        except (ValueError, TypeError, KeyError):
            log.warning("rejected malformed arguments for checkout %s", handler.__name__)
            return rx.toast.error(NOT_VALID)
        except Exception:
            log.exception("checkout handler %s failed", handler.__name__)
            return rx.toast.error(WENT_WRONG)

    return wrapper


class CheckoutState(rx.State):
    shown: Shown = Shown()
    loaded: bool = False
    missing: bool = False  # no such checkout (or a malformed id)
    code_error: str = ""
    form_error: str = ""
    notice: str = ""  # the sign-in link for an email that has an account
    confirming: bool = False
    done: bool = False  # confirmed: the browser is on its way
    form_key: int = 0  # remounts the uncontrolled forms with fresh default values
    # Stripe's card field (Stripe.js) instead of ours; the form's values wait in `_pending`
    # while Stripe.js confirms the card.
    gateway_form: bool = False
    card_form_ready: bool = False
    _pending: dict = {}

    # --- what every handler needs, read server-side -----------------------------------------

    def _checkout_id(self) -> str:
        """This page's checkout id, from the route (the only id a handler acts on)."""
        value = self.router.page.params.get("id", "")
        if not isinstance(value, str) or not value or len(value) > checkout.ID_MAX:
            raise NotFound(checkout.NOT_FOUND)
        return value

    def _customer_id(self) -> int | None:
        return signed_in_customer_id(session_id_of(self, "customer"))

    def _ip(self) -> str:
        return router_client_ip(self.router)

    def _reload(self, checkout_id: str, customer_id: int | None) -> None:
        with session_scope() as session:  # view marks an expired session expired
            view = checkout.view(session, CLOCK, checkout_id, customer_id=customer_id)
        self.shown = shown_from(view)
        self.missing = False
        self.loaded = True

    def _write(self, service, *args, **kwargs):
        with session_scope() as session:
            return service(session, CLOCK, *args, **kwargs)

    # --- handlers (all public: see tests/unit/test_handler_inventory.py) --------------------

    @rx.event
    @_public
    def load(self):
        self.code_error = self.form_error = self.notice = ""
        self.confirming = self.done = False
        self.form_key += 1  # the forms start again from what the session keeps
        try:
            self._reload(self._checkout_id(), self._customer_id())
        except NotFound:
            self.shown, self.missing, self.loaded = Shown(), True, True
            return None
        return self._mount_card_form()

    def _mount_card_form(self):
        """With Stripe, a fresh card setup tied to this checkout in the card field (a setup
        that failed or was used by a confirm that failed can't be used again). The client
        secret goes in this script to this browser only, never into state."""
        self.card_form_ready = False
        gateway = configured_gateway()
        self.gateway_form = gateway.browser_form
        setup = (
            self._write(checkout.start_card_setup, gateway, self._checkout_id())
            if self.gateway_form and self.shown.card_required
            else None
        )
        if setup is None:
            return None
        return rx.call_script(gateway_js.mount_card(setup), callback=CheckoutState.card_mounted)

    @rx.event
    def card_mounted(self, mounted):
        self.card_form_ready = mounted is True
        if mounted is not True:
            self.form_error = "The card form could not load. Reload the page to try again."

    @rx.event
    @_public
    def switch_interval(self, interval: str):
        checkout_id, customer_id = self._checkout_id(), self._customer_id()
        if interval not in checkout.INTERVALS:
            raise ValueError(interval)
        try:
            self._write(checkout.switch_interval, checkout_id, interval)
        except CheckoutError as exc:  # expired or completed meanwhile: the reload shows it
            self.form_error = str(exc)
        self._reload(checkout_id, customer_id)

    @rx.event
    @_public
    def apply_code(self, form_data: dict):
        checkout_id, customer_id = self._checkout_id(), self._customer_id()
        code = str(form_data.get("code", ""))[:200]
        self.code_error = ""
        try:
            self._write(checkout.apply_code, checkout_id, code, ip=self._ip())
        except (ServiceUnavailable, NotFound):
            raise
        except PortalError as exc:  # a bad code (CouponError), too many tries, expired
            self.code_error = str(exc)
            if getattr(exc, "code", "") in _CLOSED:
                self._reload(checkout_id, customer_id)
            return
        self._reload(checkout_id, customer_id)

    @rx.event
    @_public
    def remove_code(self):
        checkout_id, customer_id = self._checkout_id(), self._customer_id()
        self.code_error = ""
        try:
            self._write(checkout.remove_code, checkout_id)
        except CheckoutError as exc:
            if exc.code not in _CLOSED:
                raise
        self._reload(checkout_id, customer_id)

    @rx.event
    @_public
    def renew(self):
        """ "Start again" on an expired link: a fresh session for the same plan."""
        fresh = self._write(checkout.renew_link, self._checkout_id())
        return rx.redirect(routes.checkout(fresh))

    @rx.event
    async def confirm(self, form_data: dict):
        """The one Confirm button: details kept (so a sign-in round trip keeps them), then the
        confirm itself; success sends the browser on (the portal signed in, or the merchant's
        success page). Ignored while a confirm of this tab runs or after one succeeded."""
        if self.confirming or self.done:
            return
        self.confirming, self.form_error, self.notice = True, "", ""
        if self.gateway_form and self.shown.card_required:
            # Stripe.js confirms the card first; `card_collected` goes on from there.
            self._pending = {str(k): v for k, v in dict(form_data).items()}
            yield rx.call_script(
                gateway_js.confirm_card(make_default=True), callback=CheckoutState.card_collected
            )
            return
        yield
        try:
            outcome = await _public(CheckoutState._confirm)(self, form_data)
        finally:
            self.confirming = self.done
        yield outcome

    @rx.event
    async def card_collected(self, result: dict):
        """Stripe.js's answer: an error to show, or the setup to confirm the checkout with (the
        gateway checks with Stripe that it finished and belongs to this checkout)."""
        form_data, self._pending = dict(self._pending), {}
        if not self.confirming or self.done or not form_data:
            return
        setup_id = result.get("setup_id") if isinstance(result, dict) else None
        if not isinstance(setup_id, str) or not setup_id:
            message = result.get("error") if isinstance(result, dict) else None
            self.form_error = str(message or "The card was not accepted.")[:200]
            self.confirming = False
            yield await _public(CheckoutState._mount_card_form)(self)
            return
        try:
            outcome = await _public(CheckoutState._confirm)(
                self, {**form_data, "setup_id": setup_id[:64]}
            )
        finally:
            self.confirming = self.done
        yield outcome
        if not self.done:  # refused (a decline, a code that ran out): the setup is spent
            yield await _public(CheckoutState._mount_card_form)(self)

    def _confirm(self, form_data: dict):
        checkout_id, customer_id, ip = self._checkout_id(), self._customer_id(), self._ip()
        email = "" if customer_id is not None else str(form_data.get("email", ""))[:_FIELD_LIMIT]
        details = {
            "name": str(form_data.get("name", ""))[:_FIELD_LIMIT],
            "billing_address": _address_from(form_data, "billing"),
            "shipping_address": _address_from(form_data, "shipping"),
        }
        try:
            setup_id = form_data.get("setup_id")
            card = (
                checkout.CollectedCard(str(setup_id)[:64])
                if self.gateway_form and setup_id
                else _card_from(form_data)
            )
            # Kept first, in a unit of its own: a decline or a sign-in round trip keeps them.
            self._write(checkout.save_details, checkout_id, email=email, **details)
            with session_scope() as session:
                result = checkout.confirm(
                    session,
                    CLOCK,
                    configured_gateway(),
                    checkout_id,
                    card=card,
                    customer_id=customer_id,
                    ip=ip,
                    email=email or None,  # None: the signed-in customer's own address
                    **details,
                )
        except CheckoutError as exc:
            if exc.code == "email_exists":
                self.notice = self._send_sign_in_link(checkout_id, email, ip)
                return None
            if exc.code in _CLOSED:
                self._reload(checkout_id, customer_id)
            self.form_error = str(exc)
            return None
        except (ServiceUnavailable, NotFound):
            raise
        except PortalError as exc:  # a declined card, a code that ran out meanwhile
            self.form_error = str(exc)
            return None
        self.done = True
        return _page_redirect(result.redirect_to)

    def _send_sign_in_link(self, checkout_id: str, email: str, ip: str) -> str:
        """One sign-in link for the address typed, limited like the sign-in form's links."""
        decision = ratelimit.get_limiter().hit(
            ("link_email", auth.normalize_email(email)),
            ("link_ip_minute", ip),
            ("link_ip_hour", ip),
        )
        if not decision.allowed:
            return LINK_ALREADY_SENT
        self._write(checkout.send_sign_in_link, checkout_id, ip=ip)
        return EMAIL_EXISTS
