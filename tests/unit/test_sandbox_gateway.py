"""The sandbox gateway: card validation, the vault, the test numbers and the idempotent ledger."""

from __future__ import annotations

import inspect
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from portal_app.models import SandboxCard, SandboxCharge
from portal_app.services import sandbox_gateway
from portal_app.services.errors import CardError, PaymentError
from portal_app.services.gateway import ChargeRequest, ChargeResult, PaymentGateway, TokenizedCard
from portal_app.services.sandbox_gateway import SandboxGateway, detect_brand, luhn_valid

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
DECLINED = "4000000000000341"
INSUFFICIENT = "4000000000009995"
EXPIRED = "4000000000000069"
BAD_CVC = "4000000000000127"
PROCESSING = "4000000000000119"
DISCOVER = "6011111111111117"


def reference_luhn(number: str) -> bool:
    """An independent Luhn implementation to check the module's against."""
    odd = sum(int(d) for d in number[-1::-2])
    even = sum(sum(divmod(2 * int(d), 10)) for d in number[-2::-2])
    return (odd + even) % 10 == 0


def with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if reference_luhn(body + d))


@st.composite
def luhn_numbers(draw, min_size: int = 13, max_size: int = 19) -> str:
    length = draw(st.integers(min_size, max_size))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return with_check_digit(body)


def cvc_for(number: str) -> str:
    return "1234" if number[:2] in ("34", "37") else "123"


@pytest.fixture
def gateway():
    return SandboxGateway()


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def tokenize(gateway, session, clock, number=VISA, month=12, year=2030, cvc=None):
    return gateway.tokenize(session, clock, number, month, year, cvc or cvc_for(number))


def refused_tokenize(gateway, session, clock, code, message, *card):
    """Tokenizing `card` (tokenize's arguments) is refused by the rule `code`, with a message
    matching `message` (what the customer reads), and stores no card."""
    with pytest.raises(CardError, match=message) as caught:
        tokenize(gateway, session, clock, *card)
    assert caught.value.code == code
    assert count(session, SandboxCard) == 0


def charge(gateway, session, clock, token, amount=1000, key="key-1", currency="USD"):
    return gateway.charge(
        session, clock, token=token, amount=amount, currency=currency, idempotency_key=key
    )


# --- Luhn and brands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", [VISA, MASTERCARD, AMEX, DECLINED, INSUFFICIENT, EXPIRED, BAD_CVC, PROCESSING]
)
def test_the_documented_test_numbers_are_luhn_valid(number):
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "79927398710", "1234567812345678"])
def test_luhn_rejects_wrong_check_digits(number):
    assert not luhn_valid(number)


@given(luhn_numbers(min_size=2, max_size=25))
def test_luhn_accepts_every_number_with_a_correct_check_digit(number):
    assert luhn_valid(number)


@given(luhn_numbers(), st.data())
def test_luhn_detects_every_single_digit_error(number, data):
    position = data.draw(st.integers(0, len(number) - 1))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    altered = number[:position] + replacement + number[position + 1 :]
    assert not luhn_valid(altered)


@given(st.text(alphabet="0123456789", min_size=1, max_size=25))
def test_luhn_agrees_with_a_reference_implementation(digits):
    assert luhn_valid(digits) == reference_luhn(digits)


@pytest.mark.parametrize(
    ("prefix", "brand"),
    [
        ("4", "visa"),
        ("51", "mastercard"),
        ("53", "mastercard"),
        ("55", "mastercard"),
        ("50", "card"),
        ("56", "card"),
        ("2221", "mastercard"),
        ("2500", "mastercard"),
        ("2720", "mastercard"),
        ("2220", "card"),
        ("2721", "card"),
        ("34", "amex"),
        ("37", "amex"),
        ("35", "card"),
        ("6011", "discover"),
        ("65", "discover"),
        ("6012", "card"),
        ("64", "card"),
        ("1", "card"),
        ("9", "card"),
    ],
)
def test_brand_detection(prefix, brand):
    number = with_check_digit(prefix + "0" * (15 - len(prefix)))
    assert detect_brand(number) == brand


@pytest.mark.parametrize(
    ("number", "brand", "cvc"),
    [
        (VISA, "visa", "123"),
        (MASTERCARD, "mastercard", "123"),
        (AMEX, "amex", "1234"),
        (DISCOVER, "discover", "123"),
        ("2223003122003222", "mastercard", "123"),
        (with_check_digit("9" * 15), "card", "123"),
    ],
)
def test_tokenize_vaults_brand_last4_and_expiry(gateway, session, clock, number, brand, cvc):
    card = gateway.tokenize(session, clock, number, 7, 2029, cvc)
    assert card == TokenizedCard(card.token, brand, number[-4:], 7, 2029)
    assert re.fullmatch(r"tok_[0-9a-f]{24}", card.token)
    row = session.get(SandboxCard, card.token)
    assert (row.brand, row.last4, row.exp_month, row.exp_year) == (brand, number[-4:], 7, 2029)
    assert row.behaviour == "succeed"


def test_each_tokenize_gets_a_new_token(gateway, session, clock):
    tokens = {tokenize(gateway, session, clock).token for _ in range(5)}
    assert len(tokens) == 5
    assert count(session, SandboxCard) == 5


@pytest.mark.parametrize(
    "typed", ["4242 4242 4242 4242", "4242-4242-4242-4242", " 4242 4242-4242 4242 "]
)
def test_spaces_and_dashes_are_ignored(gateway, session, clock, typed):
    card = tokenize(gateway, session, clock, typed)
    assert (card.brand, card.last4) == ("visa", "4242")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(number=luhn_numbers())
def test_any_luhn_valid_number_tokenizes_and_charges(gateway, session, clock, number):
    assume(number not in (EXPIRED, BAD_CVC, DECLINED, INSUFFICIENT, PROCESSING))
    card = tokenize(gateway, session, clock, number)
    assert card.last4 == number[-4:]
    assert card.brand == detect_brand(number)
    result = charge(gateway, session, clock, card.token, key=f"prop-{card.token}")
    assert result.succeeded


# --- Refused cards ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4242424242424241", "incorrect_number"),  # Luhn fails
        ("424242424242", "invalid_number"),  # 12 digits
        (with_check_digit("4" * 19), "invalid_number"),  # 20 digits
        ("4242 4242 4242 424x", "invalid_number"),
        ("4242.4242.4242.4242", "invalid_number"),
        ("\uff14\uff12" * 8, "invalid_number"),  # non-ASCII digits
        ("", "invalid_number"),
        ("   ", "invalid_number"),
        ("+4242424242424242", "invalid_number"),
    ],
)
def test_bad_numbers_are_refused_without_echoing_them(gateway, session, clock, number, code):
    with pytest.raises(CardError) as caught:
        tokenize(gateway, session, clock, number)
    assert caught.value.code == code
    assert str(caught.value) == "Your card number is incorrect."
    digits = re.sub(r"\D", "", number)
    if digits:
        assert digits not in str(caught.value)
    assert count(session, SandboxCard) == 0


@pytest.mark.parametrize("number", [4242424242424242, None, b"4242424242424242"])
def test_a_number_that_is_not_text_is_refused(gateway, session, clock, number):
    with pytest.raises(CardError, match=r"Your card number is incorrect\."):
        gateway.tokenize(session, clock, number, 12, 2030, "123")
    assert count(session, SandboxCard) == 0


@pytest.mark.parametrize("length", [13, 16, 19])
def test_lengths_from_13_to_19_are_accepted(gateway, session, clock, length):
    number = with_check_digit("4" + "1" * (length - 2))
    assert tokenize(gateway, session, clock, number).last4 == number[-4:]


def test_refused_test_number_expired_card(gateway, session, clock):
    refused_tokenize(
        gateway, session, clock, "expired_card", r"Your card has expired\.", EXPIRED, 12, 2030
    )


def test_refused_test_number_incorrect_cvc(gateway, session, clock):
    refused_tokenize(
        gateway, session, clock, "incorrect_cvc", "security code is incorrect", BAD_CVC
    )


@pytest.mark.parametrize(
    ("number", "cvc"),
    [
        (VISA, "12"),
        (VISA, "1234"),
        (VISA, "12a"),
        (VISA, ""),
        (VISA, "\uff11\uff12\uff13"),
        (AMEX, "123"),
        (AMEX, "12345"),
        (MASTERCARD, 123),
        (MASTERCARD, None),
    ],
)
def test_bad_cvc_is_refused(gateway, session, clock, number, cvc):
    with pytest.raises(CardError, match="security code is invalid") as caught:
        gateway.tokenize(session, clock, number, 12, 2030, cvc)
    assert caught.value.code == "invalid_cvc"
    assert count(session, SandboxCard) == 0


def test_cvc_surrounding_spaces_are_ignored(gateway, session, clock):
    assert tokenize(gateway, session, clock, AMEX, cvc=" 1234 ").brand == "amex"


# --- Expiry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("month", [0, 13, -1, True, "", "1a", "123", 1.0, None])
def test_bad_expiry_month_is_refused(gateway, session, clock, month):
    refused_tokenize(
        gateway,
        session,
        clock,
        "invalid_expiry_month",
        "expiration month is invalid",
        VISA,
        month,
        2030,
    )


@pytest.mark.parametrize("year", [202, 12345, "202", "20300", "2k30", -26, False, None, 2030.0])
def test_bad_expiry_year_is_refused(gateway, session, clock, year):
    refused_tokenize(
        gateway, session, clock, "invalid_expiry_year", "expiration year is invalid", VISA, 12, year
    )


@pytest.mark.parametrize(
    ("month", "year", "expected"),
    [
        (3, 27, (3, 2027)),
        ("03", "27", (3, 2027)),
        ("3", "2027", (3, 2027)),
        (3, 2027, (3, 2027)),
        (12, 46, (12, 2046)),
    ],
)
def test_two_and_four_digit_years(gateway, session, clock, month, year, expected):
    card = tokenize(gateway, session, clock, VISA, month, year)
    assert (card.exp_month, card.exp_year) == expected


def test_expiry_in_an_earlier_month_is_expired(gateway, session, clock):
    # The clock starts on 2026-01-15.
    refused_tokenize(
        gateway, session, clock, "expired_card", r"Your card has expired\.", VISA, 12, 2025
    )


def test_a_card_is_valid_through_the_last_moment_of_its_expiry_month(gateway, session, clock):
    clock.set(datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC))
    card = tokenize(gateway, session, clock, VISA, 1, 2026)
    assert (card.exp_month, card.exp_year) == (1, 2026)

    clock.advance(timedelta(microseconds=1))  # 2026-02-01 00:00:00
    with pytest.raises(CardError) as caught:
        tokenize(gateway, session, clock, VISA, 1, 2026)
    assert caught.value.code == "expired_card"


def test_december_expiry_rolls_over_the_year_end(gateway, session, clock):
    clock.set(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert tokenize(gateway, session, clock, VISA, 12, 26).exp_year == 2026
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(CardError, match="expired"):
        tokenize(gateway, session, clock, VISA, 12, 26)


def test_expiry_at_most_twenty_years_ahead(gateway, session, clock):
    assert tokenize(gateway, session, clock, VISA, 12, 2046).exp_year == 2046
    with pytest.raises(CardError, match="expiration year is invalid") as caught:
        tokenize(gateway, session, clock, VISA, 1, 2047)
    assert caught.value.code == "invalid_expiry_year"
    assert count(session, SandboxCard) == 1


# --- Charges ---------------------------------------------------------------------------------


def test_a_good_card_charges_and_the_ledger_records_it(gateway, session, clock):
    card = tokenize(gateway, session, clock)
    result = charge(gateway, session, clock, card.token, amount=1999, key="inv_1_attempt_1")
    assert isinstance(result, ChargeResult)
    assert result.succeeded
    assert re.fullmatch(r"ch_[0-9a-f]{24}", result.charge_id)
    assert (result.failure_code, result.failure_message, result.retryable) == (None, None, False)
    assert result.created_at == clock.now()
    row = session.get(SandboxCharge, result.charge_id)
    assert (row.token, row.amount, row.currency, row.status, row.idempotency_key) == (
        card.token,
        1999,
        "USD",
        "succeeded",
        "inv_1_attempt_1",
    )


def test_currency_is_stored_upper_case(gateway, session, clock):
    card = tokenize(gateway, session, clock)
    result = charge(gateway, session, clock, card.token, currency="eur")
    assert session.get(SandboxCharge, result.charge_id).currency == "EUR"
    # The same request spelled in upper case is the same request.
    assert charge(gateway, session, clock, card.token, currency="EUR") == result


def test_the_same_idempotency_key_charges_once(gateway, session, clock):
    card = tokenize(gateway, session, clock)
    first = charge(gateway, session, clock, card.token, key="pay-42")
    clock.advance(timedelta(minutes=5))
    again = charge(gateway, session, clock, card.token, key="pay-42")
    assert again == first
    assert again.created_at == first.created_at
    assert count(session, SandboxCharge) == 1
    third = charge(gateway, session, clock, card.token, key="pay-43")
    assert third.charge_id != first.charge_id
    assert count(session, SandboxCharge) == 2


@pytest.mark.parametrize(
    "change",
    [{"amount": 1001}, {"currency": "EUR"}, {"token": "other"}],
)
def test_a_key_reused_with_other_parameters_is_refused(gateway, session, clock, change):
    card = tokenize(gateway, session, clock)
    other = tokenize(gateway, session, clock, MASTERCARD)
    first = charge(gateway, session, clock, card.token, amount=1000, key="k")
    params = {"token": card.token, "amount": 1000, "currency": "USD"} | change
    if params["token"] == "other":
        params["token"] = other.token
    with pytest.raises(PaymentError, match="idempotency key reused with different parameters"):
        gateway.charge(session, clock, idempotency_key="k", **params)
    assert count(session, SandboxCharge) == 1
    assert charge(gateway, session, clock, card.token, amount=1000, key="k") == first


@pytest.mark.parametrize(
    ("field", "value", "code"),
    # the amount must be a positive int; the currency three capital letters
    [("amount", amount, "invalid_amount") for amount in [0, -100, True, 10.5, "1000", None]]
    + [("currency", cur, "invalid_currency") for cur in ["US", "USDX", "U$D", "", None, 840]],
)
def test_a_bad_amount_or_currency_is_refused(gateway, session, clock, field, value, code):
    card = tokenize(gateway, session, clock)
    with pytest.raises(PaymentError) as caught:
        charge(gateway, session, clock, card.token, **{field: value})
    assert caught.value.code == code
    assert count(session, SandboxCharge) == 0


@pytest.mark.parametrize("key", ["", "k" * 129, None, 42])
def test_a_bad_idempotency_key_is_refused(gateway, session, clock, key):
    card = tokenize(gateway, session, clock)
    with pytest.raises(PaymentError):
        charge(gateway, session, clock, card.token, key=key)
    assert count(session, SandboxCharge) == 0


@pytest.mark.parametrize("token", ["tok_unknown", "", None])
def test_an_unknown_token_is_a_card_error(gateway, session, clock, token):
    with pytest.raises(CardError, match="not on file") as caught:
        charge(gateway, session, clock, token)
    assert caught.value.code == "invalid_token"
    assert count(session, SandboxCharge) == 0


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        (DECLINED, "card_declined", "Your card was declined."),
        (INSUFFICIENT, "insufficient_funds", "Your card has insufficient funds."),
    ],
)
def test_declining_test_cards(gateway, session, clock, number, code, message):
    card = tokenize(gateway, session, clock, number)
    assert session.get(SandboxCard, card.token).behaviour == code
    first = charge(gateway, session, clock, card.token, key="a")
    second = charge(gateway, session, clock, card.token, key="b")
    for result in (first, second):
        assert not result.succeeded
        assert (result.failure_code, result.failure_message) == (code, message)
        assert result.retryable is False
        row = session.get(SandboxCharge, result.charge_id)
        assert (row.status, row.failure_code) == ("failed", code)
    assert first.charge_id != second.charge_id
    # The decline is replayed, not retried, for a repeated key.
    assert charge(gateway, session, clock, card.token, key="a") == first
    assert count(session, SandboxCharge) == 2


def test_processing_error_fails_the_first_attempt_only(gateway, session, clock):
    card = tokenize(gateway, session, clock, PROCESSING)
    assert session.get(SandboxCard, card.token).behaviour == "processing_error"
    first = charge(gateway, session, clock, card.token, key="attempt-1")
    assert not first.succeeded
    assert first.failure_code == "processing_error"
    assert first.retryable is True
    assert "try again" in first.failure_message.lower()

    # Retrying with the same key replays the failure; a new key goes through.
    assert charge(gateway, session, clock, card.token, key="attempt-1") == first
    second = charge(gateway, session, clock, card.token, key="attempt-2")
    assert second.succeeded
    assert second.retryable is False
    assert charge(gateway, session, clock, card.token, key="attempt-3").succeeded
    statuses = session.exec(select(SandboxCharge.status).order_by(SandboxCharge.idempotency_key))
    assert list(statuses) == ["failed", "succeeded", "succeeded"]


def test_processing_error_is_per_card(gateway, session, clock):
    first_card = tokenize(gateway, session, clock, PROCESSING)
    second_card = tokenize(gateway, session, clock, PROCESSING)
    assert not charge(gateway, session, clock, first_card.token, key="a").succeeded
    assert not charge(gateway, session, clock, second_card.token, key="b").succeeded
    assert charge(gateway, session, clock, first_card.token, key="c").succeeded


def test_a_card_that_expired_since_tokenizing_is_declined(gateway, session, clock):
    clock.set(datetime(2026, 1, 31, 23, 0, tzinfo=UTC))
    card = tokenize(gateway, session, clock, VISA, 1, 2026)
    assert charge(gateway, session, clock, card.token, key="before").succeeded

    clock.set(datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
    result = charge(gateway, session, clock, card.token, key="after")
    assert not result.succeeded
    assert (result.failure_code, result.failure_message) == (
        "expired_card",
        "Your card has expired.",
    )
    assert result.retryable is False
    assert session.get(SandboxCharge, result.charge_id).status == "failed"


def test_updating_the_expiry_revives_an_expired_card(gateway, session, clock):
    card = tokenize(gateway, session, clock, VISA, 1, 2026)
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    assert charge(gateway, session, clock, card.token, key="a").failure_code == "expired_card"
    gateway.update_expiry(session, clock, card.token, 4, 28)
    row = session.get(SandboxCard, card.token)
    assert (row.exp_month, row.exp_year) == (4, 2028)
    assert charge(gateway, session, clock, card.token, key="b").succeeded


@pytest.mark.parametrize(
    ("month", "year", "code"),
    [
        (13, 2030, "invalid_expiry_month"),
        (12, 2025, "expired_card"),
        (12, 2047, "invalid_expiry_year"),
        (12, 300, "invalid_expiry_year"),
    ],
)
def test_update_expiry_validates_like_tokenize(gateway, session, clock, month, year, code):
    card = tokenize(gateway, session, clock, VISA, 6, 2029)
    with pytest.raises(CardError) as caught:
        gateway.update_expiry(session, clock, card.token, month, year)
    assert caught.value.code == code
    row = session.get(SandboxCard, card.token)
    assert (row.exp_month, row.exp_year) == (6, 2029)


def test_update_expiry_of_an_unknown_token(gateway, session, clock):
    with pytest.raises(CardError) as caught:
        gateway.update_expiry(session, clock, "tok_nope", 12, 2030)
    assert caught.value.code == "invalid_token"


def test_the_vault_and_ledger_never_hold_the_number(gateway, session, clock):
    numbers = [VISA, MASTERCARD, AMEX, DECLINED, PROCESSING]
    for i, number in enumerate(numbers):
        card = tokenize(gateway, session, clock, number)
        charge(gateway, session, clock, card.token, key=f"k{i}")
    rows = list(session.exec(select(SandboxCard))) + list(session.exec(select(SandboxCharge)))
    assert len(rows) == 10
    dumped = " ".join(str(value) for row in rows for value in row.model_dump().values())
    for number in numbers:
        assert number not in dumped


def test_sandbox_gateway_matches_the_gateway_interface():
    for name in ("tokenize", "charge", "update_expiry"):
        expected = inspect.signature(getattr(PaymentGateway, name))
        actual = inspect.signature(getattr(SandboxGateway, name))
        assert [(p.name, p.kind) for p in actual.parameters.values()] == [
            (p.name, p.kind) for p in expected.parameters.values()
        ]


def test_the_module_docstring_documents_every_test_number():
    doc = sandbox_gateway.__doc__
    for number in (VISA, MASTERCARD, AMEX, DECLINED, INSUFFICIENT, EXPIRED, BAD_CVC, PROCESSING):
        assert number in re.sub(r"\s", "", doc)


def _in_thread(work):
    """Run `work` in a thread; return a function that joins it and returns (result, error)."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = work()
        except Exception as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()

    def join():
        thread.join(timeout=30)
        assert not thread.is_alive()
        return outcome.get("result"), outcome.get("error")

    return join


def test_concurrent_requests_with_one_key_charge_once(engine, clock, gateway):
    """Two transactions send the same key at once: on PostgreSQL the second insert waits on the
    unique key and then answers with the first charge; SQLite serialises the two at BEGIN."""
    with Session(engine) as setup:
        token = tokenize(gateway, setup, clock).token
        setup.commit()

    with Session(engine, expire_on_commit=False) as first_session:
        first = charge(gateway, first_session, clock, token, key="race")

        def second_request():
            with Session(engine, expire_on_commit=False) as second_session:
                result = charge(gateway, second_session, clock, token, key="race")
                second_session.commit()
                return result

        join = _in_thread(second_request)
        time.sleep(0.5)  # let the second request reach the database and wait there
        first_session.commit()
        second, error = join()

    assert error is None
    assert second == first
    with Session(engine) as check:
        assert count(check, SandboxCharge) == 1


# --- charge_many (the billing clock's batch) ------------------------------------------------


def batch(token, *keys, amount=1000):
    return [
        ChargeRequest(token, amount, "USD", key, datetime(2026, 1, 15, tzinfo=UTC)) for key in keys
    ]


def test_a_batch_charges_each_new_key_once(gateway, session, clock):
    card = tokenize(gateway, session, clock)
    results = gateway.charge_many(session, batch(card.token, "b-1", "b-2", "b-3"))
    assert [r.succeeded for r in results] == [True, True, True]
    assert len({r.charge_id for r in results}) == 3
    assert count(session, SandboxCharge) == 3


def test_a_repeated_batch_replays_every_first_charge(gateway, session, clock):
    card = tokenize(gateway, session, clock)
    declining = tokenize(gateway, session, clock, DECLINED)
    first = gateway.charge_many(
        session, batch(card.token, "r-1", "r-2") + batch(declining.token, "r-3")
    )
    again = gateway.charge_many(
        session, batch(declining.token, "r-3") + batch(card.token, "r-2", "r-new", "r-1")
    )
    assert again[0] == first[2] and not again[0].succeeded
    assert (again[1], again[3]) == (first[1], first[0])
    assert again[2].succeeded and again[2].charge_id not in {r.charge_id for r in first}
    assert count(session, SandboxCharge) == 4


def test_a_key_twice_in_one_batch_charges_once(gateway, session, clock):
    card = tokenize(gateway, session, clock)
    results = gateway.charge_many(session, batch(card.token, "d-1", "d-1"))
    assert results[0] == results[1]
    assert count(session, SandboxCharge) == 1


def test_a_batch_reusing_a_key_with_another_amount_is_refused(gateway, session, clock):
    card = tokenize(gateway, session, clock)
    gateway.charge_many(session, batch(card.token, "x-1"))
    with pytest.raises(PaymentError, match="idempotency key reused with different parameters"):
        gateway.charge_many(session, batch(card.token, "x-1", amount=1001))
