"""The Stripe gateway (PORTAL_GATEWAY=stripe), through the official `stripe` package.

Cards never reach this server: the browser collects them with Stripe.js against a SetupIntent
(`card_setup`), and `attach_card` keeps the PaymentMethod id (our gateway token), brand, last4 and
expiry. Each of our customers has one Stripe customer (StripeCustomer), made on first need under
an idempotency key, so two racing requests make one.

Charges are PaymentIntents confirmed at once, under the caller's idempotency key (prefixed with
this install's id, so a staging and a production install sharing a Stripe account never collide):
a crash after Stripe charged and before our commit replays the same key and gets the first answer,
never a second charge. Declines come back as results with the messages of gateway.CARD_MESSAGES;
3-D Secure comes back as `requires_action`. Stripe unreachable, or answering with a server
error, raises GatewayUnavailable: nothing is decided and the caller rolls back.

The Stripe customer ids and PaymentMethod ids are not secrets; the API key and the client
secrets are never stored, logged, or put in a message."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.config import StripeSettings
from portal_app.models import Customer, PaymentMethod, StripeCustomer
from portal_app.services.errors import CardError, GatewayUnavailable, PaymentError
from portal_app.services.gateway import (
    CARD_MESSAGES,
    CardSetup,
    ChargeResult,
    PaymentConfirmation,
    RefundResult,
    TokenizedCard,
    check_charge,
    check_refund,
)
from portal_app.services.sandbox_gateway import validate_expiry

log = logging.getLogger(__name__)
T = TypeVar("T")

# Stripe's decline codes that have a message of their own; every other decline is generic.
_DECLINES = {
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "invalid_cvc": "incorrect_cvc",
    "processing_error": "processing_error",
    "authentication_required": "authentication_required",
    "payment_intent_authentication_failure": "authentication_failed",
}
_RETRYABLE = frozenset({"processing_error"})


STRIPE_JS = "https://js.stripe.com/v3/"


def stripe_js_url(settings: StripeSettings) -> str:
    """Stripe.js from Stripe, or a test server's stand-in (localstripe serves one) when
    PORTAL_STRIPE_API_BASE points at one."""
    if settings.api_base == "https://api.stripe.com":
        return STRIPE_JS
    return f"{settings.api_base}/js.stripe.com/v3/"


def stripe_js_origins(settings: StripeSettings) -> tuple[str, list[str], str]:
    """(script, frames, API) origins the Content-Security-Policy lets the pages use."""
    if settings.api_base == "https://api.stripe.com":
        return (
            "https://js.stripe.com",
            ["https://js.stripe.com", "https://hooks.stripe.com"],
            ("https://api.stripe.com"),
        )
    return settings.api_base, [settings.api_base], settings.api_base


def decline_code(code: str | None, decline: str | None = None) -> str:
    """Our code for a Stripe error code (and its decline code): one of CARD_MESSAGES's keys."""
    for candidate in (decline, code):
        if candidate in _DECLINES:
            return _DECLINES[candidate]
    return "card_declined"


def _declined(charge_id: str, code: str, at: datetime | None = None) -> ChargeResult:
    return ChargeResult(
        charge_id=charge_id,
        succeeded=False,
        failure_code=code,
        failure_message=CARD_MESSAGES[code],
        retryable=code in _RETRYABLE,
        created_at=at,
        requires_action=code == "authentication_required",
    )


def _card_error(code: str) -> CardError:
    return CardError(CARD_MESSAGES[code], code=code)


class StripeGateway:
    """`PaymentGateway` on Stripe; see the module docstring."""

    name = "stripe"
    browser_form = True  # cards are typed into Stripe.js

    def __init__(self, settings: StripeSettings, *, install_key: str, timeout: float = 20.0):
        self.settings = settings
        self.publishable_key = settings.publishable_key
        # Stable per install (from PORTAL_SECRET_KEY), and not the key itself.
        self.key_prefix = "portal-" + hashlib.sha256(install_key.encode()).hexdigest()[:12]
        self.client = stripe.StripeClient(
            settings.secret_key,
            base_addresses={"api": settings.api_base},
            # A retry reuses the request's idempotency key, so it never charges twice.
            max_network_retries=1,
            http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
        )

    # --- calls ---------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return f"{self.key_prefix}:{key}"

    @staticmethod
    def _call(work: Callable[[], T]) -> T:
        """One Stripe call; trouble reaching Stripe becomes GatewayUnavailable, a refused request
        PaymentError. CardError is the caller's to read."""
        try:
            return work()
        except stripe.CardError:
            raise
        except stripe.IdempotencyError:
            raise PaymentError(
                "This payment request conflicts with an earlier one "
                "(idempotency key reused with different parameters).",
                code="idempotency_key_reused",
            ) from None
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            log.warning("stripe unreachable: %s", type(error).__name__)
            raise GatewayUnavailable(
                "The payment service can't be reached right now. Nothing was charged; "
                "try again in a minute."
            ) from None
        except stripe.AuthenticationError:
            log.error("stripe refused the API key (PORTAL_STRIPE_SECRET_KEY)")
            raise GatewayUnavailable("The payment service is not set up correctly.") from None
        except stripe.InvalidRequestError as error:
            log.warning("stripe refused a request: %s %s", error.http_status, error.code)
            raise PaymentError("The payment service refused the request.", code="invalid") from None
        except stripe.StripeError as error:  # 5xx and anything unexpected
            log.warning("stripe error: %s %s", type(error).__name__, error.http_status)
            raise GatewayUnavailable(
                "The payment service had a problem. Nothing was charged; try again in a minute."
            ) from None

    # --- customers -----------------------------------------------------------------------------

    def stripe_customer(self, session: Session, clock: Clock, customer_id: int) -> str:
        """The Stripe customer of one of ours, created on first need: the idempotency key is the
        customer's, so a retried or racing first call makes one Stripe customer."""
        row = session.get(StripeCustomer, customer_id)
        if row is not None:
            return row.stripe_id
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise PaymentError("Customer not found.", code="not_found")
        created = self._call(
            lambda: self.client.v1.customers.create(
                params={
                    "email": customer.email,
                    "name": customer.name or customer.email,
                    "metadata": {
                        "portal_customer_id": str(customer.id),
                        "portal_merchant_id": str(customer.merchant_id),
                    },
                },
                options={"idempotency_key": self._key(f"customer_{customer.id}")},
            )
        )
        try:
            with session.begin_nested():
                session.add(
                    StripeCustomer(
                        customer_id=customer_id, stripe_id=created.id, created_at=clock.now()
                    )
                )
                session.flush()
        except IntegrityError:  # a concurrent first call won: the same Stripe customer
            pass
        return session.get(StripeCustomer, customer_id).stripe_id

    def _customer_of_token(self, session: Session, token: str) -> str:
        card = session.exec(
            select(PaymentMethod).where(PaymentMethod.gateway_token == token)
        ).first()
        row = session.get(StripeCustomer, card.customer_id) if card is not None else None
        if row is None:
            raise _card_error("invalid_token")
        return row.stripe_id

    # --- cards ---------------------------------------------------------------------------------

    def card_setup(
        self, session: Session, clock: Clock, *, customer_id: int | None, reference: str = ""
    ) -> CardSetup:
        """A SetupIntent for Stripe.js: for a known customer, or for a checkout (`reference`, the
        checkout's id) whose customer is made when it is confirmed."""
        params: dict[str, Any] = {
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": {"portal_reference": reference} if reference else {},
        }
        if customer_id is not None:
            params["customer"] = self.stripe_customer(session, clock, customer_id)
        intent = self._call(lambda: self.client.v1.setup_intents.create(params=params))
        return CardSetup(
            intent.id, intent.client_secret, self.publishable_key, stripe_js_url(self.settings)
        )

    def attach_card(
        self,
        session: Session,
        clock: Clock,
        *,
        customer_id: int,
        setup_id: str,
        reference: str = "",
    ) -> TokenizedCard:
        """The browser says which SetupIntent it finished; Stripe says whose it is and whether it
        succeeded. A SetupIntent of another customer (or checkout) is refused as not finished."""
        if not isinstance(setup_id, str) or not setup_id.startswith("seti_") or len(setup_id) > 64:
            raise _card_error("setup_incomplete")
        stripe_id = self.stripe_customer(session, clock, customer_id)
        try:
            intent = self._call(lambda: self.client.v1.setup_intents.retrieve(setup_id))
        except PaymentError:
            raise _card_error("setup_incomplete") from None
        metadata = _plain(intent.metadata)
        owner_ok = intent.customer == stripe_id or (
            intent.customer is None
            and bool(reference)
            and metadata.get("portal_reference") == reference
        )
        if not owner_ok or intent.status != "succeeded" or not intent.payment_method:
            raise _card_error("setup_incomplete")
        pm_id = (
            intent.payment_method
            if isinstance(intent.payment_method, str)
            else intent.payment_method.id
        )
        method = self._call(lambda: self.client.v1.payment_methods.retrieve(pm_id))
        if method.customer != stripe_id:
            try:
                method = self._call(
                    lambda: self.client.v1.payment_methods.attach(
                        pm_id, params={"customer": stripe_id}
                    )
                )
            except stripe.CardError as error:
                raise _card_error(decline_code(error.code, _decline(error))) from None
        return _tokenized(method)

    def card_details(self, session: Session, clock: Clock, token: str) -> TokenizedCard | None:
        """The card as Stripe has it now (the card updater may have changed it); None when
        Stripe no longer knows it."""
        try:
            method = self._call(lambda: self.client.v1.payment_methods.retrieve(token))
        except GatewayUnavailable:
            raise
        except PaymentError:
            return None
        return _tokenized(method)

    def tokenize(
        self, session: Session, clock: Clock, number: str, exp_month: int, exp_year: int, cvc: str
    ) -> TokenizedCard:
        """Card numbers never come to this server when Stripe charges: Stripe.js takes them."""
        raise _card_error("setup_incomplete")

    def update_expiry(
        self, session: Session, clock: Clock, token: str, exp_month: int, exp_year: int
    ) -> None:
        month, year = validate_expiry(clock.now(), exp_month, exp_year)
        self._customer_of_token(session, token)
        try:
            self._call(
                lambda: self.client.v1.payment_methods.update(
                    token, params={"card": {"exp_month": month, "exp_year": year}}
                )
            )
        except stripe.CardError as error:
            raise _card_error(decline_code(error.code, _decline(error))) from None

    def detach(self, session: Session, clock: Clock, token: str) -> None:
        try:
            self._call(lambda: self.client.v1.payment_methods.detach(token))
        except PaymentError as error:
            if isinstance(error, GatewayUnavailable):
                raise
            # Already detached or gone at Stripe: what removing it wanted.

    def set_default(self, session: Session, clock: Clock, *, customer_id: int, token: str) -> None:
        stripe_id = self.stripe_customer(session, clock, customer_id)
        self._call(
            lambda: self.client.v1.customers.update(
                stripe_id, params={"invoice_settings": {"default_payment_method": token}}
            )
        )

    # --- charges -------------------------------------------------------------------------------

    def charge(
        self,
        session: Session,
        clock: Clock,
        *,
        token: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        off_session: bool = True,
    ) -> ChargeResult:
        currency = check_charge(amount, currency, idempotency_key)
        if not isinstance(token, str):
            raise _card_error("invalid_token")
        customer = self._customer_of_token(session, token)
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": token,
            "confirm": True,
            "metadata": {"portal_key": idempotency_key},
        }
        if off_session:
            params["off_session"] = True
        try:
            intent = self._call(
                lambda: self.client.v1.payment_intents.create(
                    params=params, options={"idempotency_key": self._key(idempotency_key)}
                )
            )
        except stripe.CardError as error:
            intent_id = _intent_of(error)
            return _declined(intent_id, decline_code(error.code, _decline(error)), clock.now())
        return _intent_result(intent)

    def charge_status(self, session: Session, clock: Clock, charge_id: str) -> ChargeResult:
        return _intent_result(self._intent(charge_id))

    def _intent(self, charge_id: str, *expand: str) -> Any:
        """Our charge, a PaymentIntent, as Stripe has it now; an unknown id is no payment."""
        if not isinstance(charge_id, str) or not charge_id.startswith("pi_"):
            raise PaymentError("There is no such payment.", code="invalid_charge")
        params = {"expand": list(expand)} if expand else None
        try:
            return self._call(
                lambda: self.client.v1.payment_intents.retrieve(charge_id, params=params)
            )
        except GatewayUnavailable:
            raise
        except PaymentError:
            raise PaymentError("There is no such payment.", code="invalid_charge") from None

    def client_secret(self, session: Session, clock: Clock, charge_id: str) -> str:
        """The PaymentIntent's client secret, for the one browser that confirms it (3-D Secure).
        Never stored: asked for again each time."""
        return self._intent(charge_id).client_secret

    def confirmation(self, session: Session, clock: Clock, charge_id: str) -> PaymentConfirmation:
        return PaymentConfirmation(
            charge_id,
            self.client_secret(session, clock, charge_id),
            self.publishable_key,
            stripe_js_url(self.settings),
        )

    def refund(
        self,
        session: Session,
        clock: Clock,
        *,
        charge_id: str,
        amount: int,
        idempotency_key: str,
    ) -> RefundResult:
        """A refund under its idempotency key. The key is also kept in the refund's metadata, so
        a repeated key finds the first refund before the amount left is checked (a replay is
        never refused for having been counted already)."""
        check_refund(amount, idempotency_key)
        intent = self._intent(charge_id, "latest_charge")
        if not _intent_result(intent).succeeded:
            raise PaymentError("There is no payment to refund.", code="invalid_charge")
        charge = intent.latest_charge
        earlier = self._call(
            lambda: self.client.v1.refunds.list(params={"payment_intent": charge_id, "limit": 100})
        )
        for refund in earlier.data:
            if _plain(refund.metadata).get("portal_key") == idempotency_key:
                if refund.amount != amount:
                    raise PaymentError(
                        "This refund request conflicts with an earlier one "
                        "(idempotency key reused with different parameters).",
                        code="idempotency_key_reused",
                    )
                return _refund_result(refund, charge_id)
        if amount > charge.amount - (charge.amount_refunded or 0):
            raise PaymentError(
                "That is more than is left to refund of this payment.",
                code="refund_exceeds_charge",
            )
        refund = self._call(
            lambda: self.client.v1.refunds.create(
                params={
                    "payment_intent": charge_id,
                    "amount": amount,
                    "metadata": {"portal_key": idempotency_key},
                },
                options={"idempotency_key": self._key(idempotency_key)},
            )
        )
        return _refund_result(refund, charge_id)


def _tokenized(method: Any) -> TokenizedCard:
    card = method.card
    return TokenizedCard(
        token=method.id,
        brand=str(card.brand or "card")[:16],
        last4=str(card.last4 or "")[-4:],
        exp_month=int(card.exp_month),
        exp_year=int(card.exp_year),
    )


def _plain(obj: Any) -> dict:
    return obj.to_dict() if obj else {}


def _decline(error: stripe.CardError) -> str | None:
    detail = getattr(error, "error", None)
    return getattr(detail, "decline_code", None) if detail is not None else None


def _intent_of(error: stripe.CardError) -> str:
    detail = getattr(error, "error", None)
    intent = getattr(detail, "payment_intent", None) if detail is not None else None
    if intent is None:
        return ""
    return intent if isinstance(intent, str) else str(getattr(intent, "id", "") or "")


def _created(obj: Any) -> datetime | None:
    created = getattr(obj, "created", None)
    return datetime.fromtimestamp(created, UTC) if created else None


def _intent_result(intent: Any) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult(intent.id, True, created_at=_created(intent))
    if intent.status == "requires_action":
        return _declined(intent.id, "authentication_required", _created(intent))
    error = intent.last_payment_error
    code = decline_code(getattr(error, "code", None), getattr(error, "decline_code", None))
    if intent.status == "processing":
        code = "processing_error"
    return _declined(intent.id, code, _created(intent))


def _refund_result(refund: Any, charge_id: str) -> RefundResult:
    return RefundResult(
        refund_id=refund.id,
        charge_id=charge_id,
        amount=int(refund.amount),
        currency=str(refund.currency).upper(),
        succeeded=refund.status in ("succeeded", "pending"),
        failure_code=None if refund.status in ("succeeded", "pending") else refund.status,
        created_at=_created(refund),
    )
