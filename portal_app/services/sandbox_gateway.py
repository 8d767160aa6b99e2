"""A sandbox payment gateway that behaves like a real one, keeping its vault (SandboxCard) and its
ledger (SandboxCharge) in the database through the session it is given.

It validates a card the way a real gateway does, vaults only brand, last4 and expiry under a
random token, and never stores, logs or echoes the card number.

Test card numbers (the same numbers and behaviour as Stripe's test mode):

=====================  ===========  ==========================================================
Number                 Brand        Behaviour
=====================  ===========  ==========================================================
4242 4242 4242 4242    visa         Tokenizes; charges succeed.
5555 5555 5555 4444    mastercard   Tokenizes; charges succeed.
3782 822463 10005      amex         Tokenizes; charges succeed (CVC has 4 digits).
4000 0000 0000 0002    visa         Tokenize refused: ``card_declined`` (Stripe declines it when
                                    it is attached).
4000 0000 0000 0341    visa         Tokenizes; every charge is declined: ``card_declined``.
4000 0000 0000 9995    visa         Tokenizes; every charge is declined: ``insufficient_funds``.
4000 0000 0000 0069    visa         Tokenize refused: ``expired_card`` (whatever expiry is given).
4000 0000 0000 0127    visa         Tokenize refused: ``incorrect_cvc``.
4000 0000 0000 0119    visa         The first charge attempt on the card fails with a retryable
                                    ``processing_error``; later attempts (with a new idempotency
                                    key) succeed.
4000 0027 6000 3184    visa         Tokenizes; every charge needs 3-D Secure: it waits with
                                    ``requires_action`` until `authenticate` succeeds (then the
                                    charge succeeds) or fails (then it is declined).
=====================  ===========  ==========================================================

Any other number that passes the checks below tokenizes and its charges succeed.

Validation (each failure raises CardError with a customer-safe message and a Stripe-like code):

* number: spaces and dashes are ignored; then ASCII digits only, 13-19 of them, Luhn-valid.
  Brand: visa 4; mastercard 51-55 and 2221-2720; amex 34/37; discover 6011/65; otherwise "card".
* expiry: month 1-12; year as 2 digits (20YY) or 4 digits; a card is valid through the last
  moment of its expiry month (UTC) and may not expire more than 20 years from now.
* CVC: 3 digits, 4 for amex.

Refunds give back part or all of a succeeded charge, never more than it was, once per
idempotency key (a repeated key returns the first refund).

Charges are idempotent per key: a repeated key returns the first result unchanged and a key reused
with a different token, amount or currency is refused. Declines are results, not exceptions;
every attempt, successful or not, is one ledger row. A card whose expiry has passed by the time it
is charged is declined with ``expired_card``.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.db import insert_skipping_conflicts
from portal_app.models import SandboxCard, SandboxCharge
from portal_app.services.errors import CardError, PaymentError
from portal_app.services.gateway import (
    CARD_MESSAGES,
    CardSetup,
    ChargeRequest,
    ChargeResult,
    PaymentConfirmation,
    RefundResult,
    TokenizedCard,
    check_charge,
    check_refund,
)

MAX_YEARS_AHEAD = 20

SUCCEED = "succeed"
DECLINE = "card_declined"
INSUFFICIENT_FUNDS = "insufficient_funds"
PROCESSING_ERROR = "processing_error"
AUTHENTICATE = "authentication_required"

# Numbers whose charges behave specially (stored on SandboxCard.behaviour).
TEST_CARD_BEHAVIOUR: dict[str, str] = {
    "4000000000000341": DECLINE,
    "4000002760003184": AUTHENTICATE,
    "4000000000009995": INSUFFICIENT_FUNDS,
    "4000000000000119": PROCESSING_ERROR,
}
# Numbers the vault refuses at tokenize time: number -> error code.
TEST_CARD_REFUSALS: dict[str, str] = {
    "4000000000000002": DECLINE,
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
}

MESSAGES = CARD_MESSAGES
RETRYABLE_CODES = frozenset({PROCESSING_ERROR})

_SEPARATORS = re.compile(r"[ \-]")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def _card_error(code: str) -> CardError:
    return CardError(MESSAGES[code], code=code)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum of a string of ASCII digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def detect_brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    if digits[:2] in ("34", "37"):
        return "amex"
    if digits.startswith(("6011", "65")):
        return "discover"
    return "card"


def normalize_number(number: Any) -> str:
    """The card's digits, or CardError. The message never contains the number."""
    if not isinstance(number, str):
        raise _card_error("invalid_number")
    digits = _SEPARATORS.sub("", number.strip())
    if not _ASCII_DIGITS.fullmatch(digits) or not 13 <= len(digits) <= 19:
        raise _card_error("invalid_number")
    if not luhn_valid(digits):
        raise _card_error("incorrect_number")
    return digits


def _parse_digits(value: Any, lengths: tuple[int, ...]) -> int | None:
    """An int (not a bool), or a string of `lengths` ASCII digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) in lengths and _ASCII_DIGITS.fullmatch(text):
            return int(text)
    return None


def validate_expiry(now: datetime, exp_month: Any, exp_year: Any) -> tuple[int, int]:
    """(month, four-digit year), or CardError. Valid through the end of the expiry month."""
    month = _parse_digits(exp_month, (1, 2))
    if month is None or not 1 <= month <= 12:
        raise _card_error("invalid_expiry_month")
    year = _parse_digits(exp_year, (2, 4))
    if year is None:
        raise _card_error("invalid_expiry_year")
    if 0 <= year <= 99:
        year += 2000
    elif not 1000 <= year <= 9999:
        raise _card_error("invalid_expiry_year")
    if (year, month) < (now.year, now.month):
        raise _card_error("expired_card")
    if year > now.year + MAX_YEARS_AHEAD:
        raise _card_error("invalid_expiry_year")
    return month, year


def _validate_cvc(cvc: Any, brand: str) -> None:
    length = 4 if brand == "amex" else 3
    if not isinstance(cvc, str):
        raise _card_error("invalid_cvc")
    text = cvc.strip()
    if len(text) != length or not _ASCII_DIGITS.fullmatch(text):
        raise _card_error("invalid_cvc")


def _is_expired(now: datetime, card: SandboxCard) -> bool:
    return (card.exp_year, card.exp_month) < (now.year, now.month)


class SandboxGateway:
    """`PaymentGateway` for development, demos and tests; see the module docstring."""

    name = "sandbox"
    browser_form = False  # cards are typed into our own form

    def tokenize(
        self,
        session: Session,
        clock: Clock,
        number: str,
        exp_month: int,
        exp_year: int,
        cvc: str,
    ) -> TokenizedCard:
        now = clock.now()
        digits = normalize_number(number)
        brand = detect_brand(digits)
        month, year = validate_expiry(now, exp_month, exp_year)
        _validate_cvc(cvc, brand)
        refusal = TEST_CARD_REFUSALS.get(digits)
        if refusal is not None:
            raise _card_error(refusal)
        card = SandboxCard(
            token="tok_" + secrets.token_hex(12),
            brand=brand,
            last4=digits[-4:],
            exp_month=month,
            exp_year=year,
            behaviour=TEST_CARD_BEHAVIOUR.get(digits, SUCCEED),
            created_at=now,
        )
        session.add(card)
        session.flush()
        return TokenizedCard(card.token, card.brand, card.last4, card.exp_month, card.exp_year)

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
        card = session.get(SandboxCard, token) if isinstance(token, str) else None
        if card is None:
            raise _card_error("invalid_token")

        first = self._find_charge(session, idempotency_key)
        if first is not None:
            return self._replay(first, token, amount, currency)

        now = clock.now()
        if _is_expired(now, card):
            failure: str | None = "expired_card"
        elif card.behaviour == PROCESSING_ERROR:
            attempted = session.exec(
                select(SandboxCharge.id).where(SandboxCharge.token == token)
            ).first()
            failure = None if attempted else PROCESSING_ERROR
        elif card.behaviour in (DECLINE, INSUFFICIENT_FUNDS, AUTHENTICATE):
            failure = card.behaviour
        else:
            failure = None
        row = SandboxCharge(
            id="ch_" + secrets.token_hex(12),
            idempotency_key=idempotency_key,
            token=token,
            amount=amount,
            currency=currency,
            status=_status(failure),
            failure_code=failure,
            created_at=now,
        )
        try:
            # A concurrent request with the same key may have won the race: the unique key turns
            # this insert into a conflict, and the winner's result is the answer.
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            first = self._find_charge(session, idempotency_key)
            if first is None:
                raise
            return self._replay(first, token, amount, currency)
        return _result(row)

    def charge_many(self, session: Session, requests: list[ChargeRequest]) -> list[ChargeResult]:
        """The billing clock's batch: the same rules as `charge`. New charges are inserted in one
        statement that skips keys seen before; only those are then read and replayed. (Reading
        every key of the batch first made PostgreSQL scan the whole ledger at every batch.)"""
        if not requests:
            return []
        for request in requests:
            if type(request.amount) is not int or request.amount <= 0:
                raise PaymentError("The amount to charge must be a positive whole number.")
        cards = {
            card.token: card
            for card in session.exec(
                select(SandboxCard).where(
                    SandboxCard.token.in_({request.token for request in requests})
                )
            )
        }
        flaky = [t for t, c in cards.items() if c.behaviour == PROCESSING_ERROR]
        charged_tokens = (
            set(session.exec(select(SandboxCharge.token).where(SandboxCharge.token.in_(flaky))))
            if flaky
            else set()
        )
        rows: list[dict[str, Any]] = []
        for request in requests:
            card = cards.get(request.token)
            if card is None:
                raise _card_error("invalid_token")
            if _is_expired(request.at, card):
                failure: str | None = "expired_card"
            elif card.behaviour == PROCESSING_ERROR:
                failure = None if card.token in charged_tokens else PROCESSING_ERROR
                charged_tokens.add(card.token)
            elif card.behaviour in (DECLINE, INSUFFICIENT_FUNDS, AUTHENTICATE):
                failure = card.behaviour
            else:
                failure = None
            rows.append(
                {
                    "id": "ch_" + secrets.token_hex(12),
                    "idempotency_key": request.idempotency_key,
                    "token": request.token,
                    "amount": request.amount,
                    "currency": request.currency.upper(),
                    "status": _status(failure),
                    "failure_code": failure,
                    "created_at": request.at,
                }
            )
        table = SandboxCharge.__table__
        inserted = set(
            session.connection().scalars(
                insert_skipping_conflicts(session, table, table.c.idempotency_key).returning(
                    table.c.idempotency_key
                ),
                rows,
            )
        )
        seen = {row["idempotency_key"] for row in rows if row["idempotency_key"] not in inserted}
        earlier = (
            {
                row.idempotency_key: row
                for row in session.exec(
                    select(SandboxCharge).where(SandboxCharge.idempotency_key.in_(seen))
                )
            }
            if seen
            else {}
        )
        results: list[ChargeResult] = []
        new_charges: dict[str, SandboxCharge] = {}
        for request, row in zip(requests, rows, strict=True):
            key = request.idempotency_key
            if key in inserted and key not in new_charges:
                new_charges[key] = SandboxCharge.model_construct(**row)
                results.append(_result(new_charges[key]))
            else:  # charged before, or earlier in this batch: the first charge answers again
                first = new_charges.get(key) or earlier[key]
                results.append(self._replay(first, request.token, request.amount, request.currency))
        return results

    def update_expiry(
        self, session: Session, clock: Clock, token: str, exp_month: int, exp_year: int
    ) -> None:
        card = session.get(SandboxCard, token) if isinstance(token, str) else None
        if card is None:
            raise _card_error("invalid_token")
        month, year = validate_expiry(clock.now(), exp_month, exp_year)
        card.exp_month = month
        card.exp_year = year
        session.add(card)
        session.flush()

    def refund(
        self,
        session: Session,
        clock: Clock,
        *,
        charge_id: str,
        amount: int,
        idempotency_key: str,
    ) -> RefundResult:
        """A refund is a ledger row of its own (status "refunded", the refunded charge's id in
        its own: "re_<charge>_<random>") under its idempotency key, and the charge's
        `refunded_amount` moves on by a conditional UPDATE that never passes the charge's
        amount; both in one savepoint, so a refused or concurrent duplicate leaves neither."""
        check_refund(amount, idempotency_key)
        charge = session.get(SandboxCharge, charge_id) if isinstance(charge_id, str) else None
        if charge is None or charge.status != "succeeded":
            raise PaymentError("There is no payment to refund.", code="invalid_charge")
        first = self._find_charge(session, idempotency_key)
        if first is not None:
            return self._replay_refund(first, charge, amount)
        row = SandboxCharge(
            id=f"re_{charge.id.removeprefix('ch_')}_{secrets.token_hex(4)}",
            idempotency_key=idempotency_key,
            token=charge.token,
            amount=amount,
            currency=charge.currency,
            status="refunded",
            created_at=clock.now(),
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
                moved = session.execute(
                    sa.update(SandboxCharge)
                    .where(
                        SandboxCharge.id == charge.id,
                        SandboxCharge.refunded_amount + amount <= SandboxCharge.amount,
                    )
                    .values(refunded_amount=SandboxCharge.refunded_amount + amount)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:
                    raise _RefundRefused
        except _RefundRefused:
            raise PaymentError(
                "That is more than is left to refund of this payment.",
                code="refund_exceeds_charge",
            ) from None
        except IntegrityError:
            first = self._find_charge(session, idempotency_key)
            if first is None:
                raise
            return self._replay_refund(first, charge, amount)
        session.refresh(charge)
        return _refund_result(row, charge)

    def charge_status(self, session: Session, clock: Clock, charge_id: str) -> ChargeResult:
        charge = session.get(SandboxCharge, charge_id) if isinstance(charge_id, str) else None
        if charge is None or charge.status == "refunded":
            raise PaymentError("There is no such payment.", code="invalid_charge")
        return _result(charge)

    def authenticate(self, session: Session, clock: Clock, charge_id: str, success: bool) -> None:
        """The sandbox's bank: the customer confirmed (or refused) a charge that waits for 3-D
        Secure. Stripe's own page does this with Stripe.js; here the portal's sandbox dialog
        calls it. Anything but a waiting charge is left as it is."""
        session.execute(
            sa.update(SandboxCharge)
            .where(SandboxCharge.id == charge_id, SandboxCharge.status == "requires_action")
            .values(
                status="succeeded" if success else "failed",
                failure_code=None if success else "authentication_failed",
            )
            .execution_options(synchronize_session=False)
        )

    def confirmation(self, session: Session, clock: Clock, charge_id: str) -> PaymentConfirmation:
        return PaymentConfirmation(charge_id)  # the portal's own dialog is the bank: `authenticate`

    def card_setup(
        self, session: Session, clock: Clock, *, customer_id: int | None, reference: str = ""
    ) -> CardSetup | None:
        return None  # the sandbox's cards are typed into our own form and tokenized here

    def attach_card(
        self,
        session: Session,
        clock: Clock,
        *,
        customer_id: int,
        setup_id: str,
        reference: str = "",
    ) -> TokenizedCard:
        raise _card_error("setup_incomplete")  # no card setup ever starts in the sandbox

    def card_details(self, session: Session, clock: Clock, token: str) -> TokenizedCard | None:
        card = session.get(SandboxCard, token) if isinstance(token, str) else None
        if card is None:
            return None
        return TokenizedCard(card.token, card.brand, card.last4, card.exp_month, card.exp_year)

    def detach(self, session: Session, clock: Clock, token: str) -> None:
        """The vault keeps the card: past charges name its token."""

    def set_default(self, session: Session, clock: Clock, *, customer_id: int, token: str) -> None:
        """The sandbox has no customer of its own: our default card is the only one."""

    @staticmethod
    def _replay_refund(first: SandboxCharge, charge: SandboxCharge, amount: int) -> RefundResult:
        same = first.status == "refunded" and first.id.startswith(_refund_prefix(charge))
        if not same or first.amount != amount:
            raise PaymentError(
                "This refund request conflicts with an earlier one "
                "(idempotency key reused with different parameters).",
                code="idempotency_key_reused",
            )
        return _refund_result(first, charge)

    @staticmethod
    def _find_charge(session: Session, idempotency_key: str) -> SandboxCharge | None:
        return session.exec(
            select(SandboxCharge).where(SandboxCharge.idempotency_key == idempotency_key)
        ).first()

    @staticmethod
    def _replay(first: SandboxCharge, token: str, amount: int, currency: str) -> ChargeResult:
        if (first.token, first.amount, first.currency) != (token, amount, currency):
            raise PaymentError(
                "This payment request conflicts with an earlier one "
                "(idempotency key reused with different parameters).",
                code="idempotency_key_reused",
            )
        return _result(first)


class _RefundRefused(Exception):
    """Inside the refund's savepoint: the charge has less left to refund than asked."""


def _refund_prefix(charge: SandboxCharge) -> str:
    return f"re_{charge.id.removeprefix('ch_')}_"


def _refund_result(row: SandboxCharge, charge: SandboxCharge) -> RefundResult:
    return RefundResult(
        refund_id=row.id,
        charge_id=charge.id,
        amount=row.amount,
        currency=row.currency,
        succeeded=True,
        created_at=row.created_at,
    )


def _status(failure: str | None) -> str:
    if failure is None:
        return "succeeded"
    return "requires_action" if failure == AUTHENTICATE else "failed"


def _result(row: SandboxCharge) -> ChargeResult:
    code = None if row.status == "succeeded" else row.failure_code
    return ChargeResult(
        charge_id=row.id,
        succeeded=row.status == "succeeded",
        failure_code=code,
        failure_message=MESSAGES.get(code, MESSAGES[DECLINE]) if code else None,
        retryable=code in RETRYABLE_CODES,
        created_at=row.created_at,
        requires_action=row.status == "requires_action",
    )
