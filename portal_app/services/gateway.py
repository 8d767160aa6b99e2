"""The payment gateway interface. Portal stores a gateway token, brand, last4 and expiry; a card
number exists only during the sandbox's tokenize call, or only in Stripe.js in the browser, and is
never stored or logged.

Two gateways: the sandbox (services/sandbox_gateway.py, the default) and Stripe
(services/stripe_gateway.py, PORTAL_GATEWAY=stripe). Both keep the same contract
(tests/unit/test_gateway_contract.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.services.errors import PaymentError


@dataclass(frozen=True)
class TokenizedCard:
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class ChargeResult:
    charge_id: str
    succeeded: bool
    failure_code: str | None = None
    # Safe to show the customer ("Your card was declined.").
    failure_message: str | None = None
    # True when trying again later may succeed (processing error, network trouble).
    retryable: bool = False
    created_at: datetime | None = None
    # The bank asks the customer to authenticate (3-D Secure): the charge is not made, and the
    # invoice waits for the customer to confirm it in the portal (services/payment_actions.py).
    requires_action: bool = False


@dataclass(frozen=True)
class CardSetup:
    """What the browser needs to collect a card with the gateway's own form (Stripe.js); None from
    a gateway whose cards are typed into our form (the sandbox). The client secret goes to the one
    browser that asked and is never stored."""

    setup_id: str
    client_secret: str
    publishable_key: str
    script_url: str  # Stripe.js (or a test server's stand-in)


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    charge_id: str
    amount: int  # minor units given back by this refund
    currency: str
    succeeded: bool
    failure_code: str | None = None
    failure_message: str | None = None  # safe to show staff
    created_at: datetime | None = None


@dataclass(frozen=True)
class PaymentConfirmation:
    """What the invoice page needs to let the customer confirm a charge that waits for 3-D
    Secure: with Stripe, the PaymentIntent's client secret, the publishable key and Stripe.js
    (for the one browser that asked, never kept); the sandbox needs only the charge (its bank is
    a dialog of the portal's own)."""

    charge_id: str
    client_secret: str = ""
    publishable_key: str = ""
    script_url: str = ""


class PaymentGateway(Protocol):
    name: str
    # The card is typed into the gateway's own field in the browser (`card_setup`), not ours.
    browser_form: bool

    def tokenize(
        self, session: Session, clock: Clock, number: str, exp_month: int, exp_year: int, cvc: str
    ) -> TokenizedCard:
        """Validate and vault a card. Raises CardError with a customer-safe message."""

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
        """Charge once per idempotency key: a repeated key returns the first result unchanged.
        Declines come back as a result, not an exception; an unreachable gateway raises
        GatewayUnavailable. `off_session` is False when the customer is paying in the portal."""

    def charge_status(self, session: Session, clock: Clock, charge_id: str) -> ChargeResult:
        """The charge as the gateway sees it now (after the customer authenticated it)."""

    def confirmation(self, session: Session, clock: Clock, charge_id: str) -> PaymentConfirmation:
        """What the browser needs to confirm a charge that waits for 3-D Secure."""

    def card_setup(
        self, session: Session, clock: Clock, *, customer_id: int | None, reference: str = ""
    ) -> CardSetup | None:
        """Start collecting a card in the browser; None when our own form collects it."""

    def attach_card(
        self,
        session: Session,
        clock: Clock,
        *,
        customer_id: int,
        setup_id: str,
        reference: str = "",
    ) -> TokenizedCard:
        """The card a finished `card_setup` collected, attached to the customer. Raises CardError
        when the setup is not finished, failed, or belongs to someone else."""

    def card_details(self, session: Session, clock: Clock, token: str) -> TokenizedCard | None:
        """The card as the gateway has it now; None when it no longer knows it."""

    def detach(self, session: Session, clock: Clock, token: str) -> None:
        """Forget a removed card at the gateway."""

    def set_default(self, session: Session, clock: Clock, *, customer_id: int, token: str) -> None:
        """Make the card the customer's default at the gateway too."""

    def update_expiry(
        self, session: Session, clock: Clock, token: str, exp_month: int, exp_year: int
    ) -> None:
        """Raises CardError when the new expiry is invalid or in the past."""

    def refund(
        self,
        session: Session,
        clock: Clock,
        *,
        charge_id: str,
        amount: int,
        idempotency_key: str,
    ) -> RefundResult:
        """Give back `amount` of a succeeded charge, once per idempotency key: a repeated key
        returns the first refund unchanged. Raises PaymentError for an unknown or failed
        charge, an amount beyond what is left to refund (`refund_exceeds_charge`) or a key
        reused with other parameters (`idempotency_key_reused`)."""


CARD_MESSAGES: dict[str, str] = {
    "invalid_number": "Your card number is incorrect.",
    "incorrect_number": "Your card number is incorrect.",
    "invalid_expiry_month": "Your card's expiration month is invalid.",
    "invalid_expiry_year": "Your card's expiration year is invalid.",
    "expired_card": "Your card has expired.",
    "invalid_cvc": "Your card's security code is invalid.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "invalid_token": "This card is not on file. Please add it again.",
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "authentication_required": (
        "Your bank asks you to confirm this payment. Open the invoice and confirm it there."
    ),
    "authentication_failed": "We couldn't confirm the payment with your bank. Try again.",
    "setup_incomplete": "The card wasn't added: the card form was not completed.",
}

_CURRENCY = re.compile(r"[A-Za-z]{3}")


def check_charge(amount: object, currency: object, idempotency_key: object) -> str:
    """The checks every gateway makes before charging; the currency, upper case."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise PaymentError(
            "The amount to charge must be a positive whole number.", code="invalid_amount"
        )
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise PaymentError("The currency is not supported.", code="invalid_currency")
    check_key(idempotency_key, "The payment request is invalid.")
    return currency.upper()


def check_refund(amount: object, idempotency_key: object) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise PaymentError(
            "The amount to refund must be a positive whole number.", code="invalid_amount"
        )
    check_key(idempotency_key, "The refund request is invalid.")


def check_key(idempotency_key: object, message: str) -> None:
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 128:
        raise PaymentError(message, code="invalid_idempotency_key")


@cache
def configured_gateway() -> PaymentGateway:
    """The gateway this deployment charges through: the sandbox unless PORTAL_GATEWAY=stripe
    (portal_app/config.py refuses a half configuration). One per process: the Stripe client keeps
    its connections."""
    from portal_app.config import load_settings

    settings = load_settings()
    if settings.stripe is not None:
        from portal_app.services.stripe_gateway import StripeGateway

        return StripeGateway(settings.stripe, install_key=settings.secret_key)
    from portal_app.services.sandbox_gateway import SandboxGateway

    return SandboxGateway()


@dataclass(frozen=True)
class ChargeRequest:
    token: str
    amount: int
    currency: str
    idempotency_key: str
    at: datetime


def charge_many(
    gateway: PaymentGateway, session: Session, requests: list[ChargeRequest]
) -> list[ChargeResult]:
    """Charge a batch (the billing clock's renewals). A gateway with a bulk call uses it; any other
    is called once per request, with the same idempotency keys either way."""
    from portal_app.clock import FixedClock

    bulk = getattr(gateway, "charge_many", None)
    if bulk is not None:
        return bulk(session, requests)
    return [
        gateway.charge(
            session,
            FixedClock(request.at),
            token=request.token,
            amount=request.amount,
            currency=request.currency,
            idempotency_key=request.idempotency_key,
        )
        for request in requests
    ]
