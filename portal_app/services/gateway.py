"""The payment gateway interface. Portal stores a gateway token, brand, last4 and expiry; a card
number exists only during the tokenize call and is never stored or logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from portal_app.clock import Clock


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


class PaymentGateway(Protocol):
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
    ) -> ChargeResult:
        """Charge once per idempotency key: a repeated key returns the first result unchanged.
        Declines come back as a result, not an exception."""

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


def configured_gateway() -> PaymentGateway:
    """The gateway this deployment charges through. Only the sandbox ships today."""
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
