"""Saved cards: add, default, remove, expiry; scoping to the customer; audit; no card numbers."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, SQLModel, func, select

from portal_app.models import (
    AuditEvent,
    Invoice,
    Payment,
    PaymentMethod,
    Price,
    SandboxCard,
    SandboxCharge,
)
from portal_app.services import audit, features, payment_methods
from portal_app.services.errors import CardError, FeatureDisabled, NotFound, PaymentMethodError
from tests import factories

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
DISCOVER = "6011111111111117"

_emails = itertools.count()


@pytest.fixture
def other_customer(session, clock, catalog):
    return factories.make_customer(session, clock, catalog.merchant, email="other@example.com")


@pytest.fixture
def actor(customer):
    return audit.Actor.customer(customer.id)


def add(session, clock, gateway, customer, number=VISA, *, make_default=False, actor=None, **kw):
    params = {"exp_month": 12, "exp_year": 2030, "cvc": "1234" if number == AMEX else "123"}
    params.update(kw)
    return payment_methods.add_card(
        session,
        clock,
        gateway,
        customer_id=customer.id,
        number=number,
        make_default=make_default,
        actor=actor or audit.Actor.customer(customer.id),
        **params,
    )


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def events(session, action=None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(session.exec(query))


def defaults_of(session, customer) -> list[int]:
    return [
        card.id
        for card in session.exec(
            select(PaymentMethod).where(
                PaymentMethod.customer_id == customer.id, PaymentMethod.is_default
            )
        )
    ]


def snapshot(session) -> list[tuple]:
    """Everything this module and the gateway may write, to prove a refusal changed nothing."""
    cards = session.exec(select(PaymentMethod).order_by(PaymentMethod.id)).all()
    return [
        [c.model_dump() for c in cards],
        count(session, SandboxCard),
        count(session, SandboxCharge),
        count(session, AuditEvent),
    ]


def turn_off(session, clock, merchant, key):
    features.save(session, clock, merchant.id, {key: False}, audit.Actor.merchant(1))


def paid_price(catalog) -> Price:
    return catalog.monthly["Pro"]


def free_price(session, catalog) -> Price:
    return factories.make_price(session, catalog.plans["Basic"], 0, "EUR")


# --- Adding ----------------------------------------------------------------------------------


def test_the_first_card_becomes_the_default(session, clock, gateway, customer, actor):
    card = add(session, clock, gateway, customer, make_default=False)
    assert card.is_default
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2030)
    assert card.customer_id == customer.id
    assert card.merchant_id == customer.merchant_id
    assert card.gateway_token.startswith("tok_")
    assert session.get(SandboxCard, card.gateway_token) is not None
    assert payment_methods.default_card(session, customer.id).id == card.id


def test_a_later_card_is_not_default_unless_asked(session, clock, gateway, customer):
    first = add(session, clock, gateway, customer)
    second = add(session, clock, gateway, customer, MASTERCARD)
    assert not second.is_default
    assert defaults_of(session, customer) == [first.id]


def test_make_default_moves_the_flag(session, clock, gateway, customer):
    first = add(session, clock, gateway, customer)
    second = add(session, clock, gateway, customer, MASTERCARD, make_default=True)
    session.refresh(first)
    assert second.is_default
    assert not first.is_default
    assert defaults_of(session, customer) == [second.id]


def test_add_card_audit_event_has_brand_and_last4_only(session, clock, gateway, customer):
    first = add(session, clock, gateway, customer)
    second = add(session, clock, gateway, customer, MASTERCARD, make_default=True)
    added = events(session, "payment_method.add")
    assert len(added) == 2 == len(events(session))
    assert [e.target_id for e in added] == [str(first.id), str(second.id)]
    assert {e.customer_id for e in added} == {customer.id}
    assert {e.merchant_id for e in added} == {customer.merchant_id}
    assert added[0].actor_type == "customer"
    assert added[1].after["brand"] == "mastercard"
    assert added[1].after["last4"] == "4444"
    assert added[1].after["is_default"] is True
    assert added[1].before == {"default_payment_method_id": first.id}
    assert added[1].after["default_payment_method_id"] == second.id
    assert "number" not in added[1].after
    assert "token" not in str(added[1].after) and second.gateway_token not in str(added[1].after)
    assert audit.verify_chain(session, customer.merchant_id).ok


def test_a_typed_number_with_spaces_is_accepted(session, clock, gateway, customer):
    card = add(session, clock, gateway, customer, "3782 822463 10005", cvc="1234")
    assert (card.brand, card.last4) == ("amex", "0005")


def test_two_digit_year_is_stored_as_four(session, clock, gateway, customer):
    card = add(session, clock, gateway, customer, exp_month="03", exp_year="29")
    assert (card.exp_month, card.exp_year) == (3, 2029)


@pytest.mark.parametrize(
    ("number", "kw", "code"),
    [
        ("4242424242424241", {}, "incorrect_number"),
        ("1234", {}, "invalid_number"),
        (VISA, {"exp_month": 13}, "invalid_expiry_month"),
        (VISA, {"exp_year": 2025}, "expired_card"),
        (VISA, {"cvc": "12"}, "invalid_cvc"),
        ("4000000000000069", {}, "expired_card"),
        ("4000000000000127", {}, "incorrect_cvc"),
    ],
)
def test_a_refused_card_changes_nothing(session, clock, gateway, customer, number, kw, code):
    add(session, clock, gateway, customer)
    before = snapshot(session)
    with pytest.raises(CardError) as caught:
        add(session, clock, gateway, customer, number, make_default=True, **kw)
    assert caught.value.code == code
    assert number not in str(caught.value)
    assert snapshot(session) == before


def test_adding_a_card_for_an_unknown_customer(session, clock, gateway, catalog):
    with pytest.raises(NotFound):
        payment_methods.add_card(
            session,
            clock,
            gateway,
            customer_id=999_999,
            number=VISA,
            exp_month=12,
            exp_year=2030,
            cvc="123",
            actor=audit.SYSTEM,
        )
    assert count(session, SandboxCard) == 0


# --- Listing ---------------------------------------------------------------------------------


def test_list_cards_default_first_then_newest(session, clock, gateway, customer, other_customer):
    oldest = add(session, clock, gateway, customer)
    clock.advance(timedelta(hours=1))
    middle = add(session, clock, gateway, customer, MASTERCARD)
    clock.advance(timedelta(hours=1))
    newest = add(session, clock, gateway, customer, DISCOVER)
    add(session, clock, gateway, other_customer)
    assert [c.id for c in payment_methods.list_cards(session, customer.id)] == [
        oldest.id,
        newest.id,
        middle.id,
    ]
    payment_methods.set_default(
        session, clock, customer_id=customer.id, payment_method_id=middle.id, actor=audit.SYSTEM
    )
    assert [c.id for c in payment_methods.list_cards(session, customer.id)] == [
        middle.id,
        newest.id,
        oldest.id,
    ]


def test_list_and_default_of_a_customer_without_cards(session, customer):
    assert payment_methods.list_cards(session, customer.id) == []
    assert payment_methods.default_card(session, customer.id) is None


# --- Default ---------------------------------------------------------------------------------


def test_set_default_moves_the_flag_and_is_audited(session, clock, gateway, customer, actor):
    first = add(session, clock, gateway, customer)
    second = add(session, clock, gateway, customer, MASTERCARD)
    result = payment_methods.set_default(
        session, clock, gateway, customer_id=customer.id, payment_method_id=second.id, actor=actor
    )
    assert result.id == second.id
    assert defaults_of(session, customer) == [second.id]
    assert payment_methods.default_card(session, customer.id).id == second.id
    (event,) = events(session, "payment_method.set_default")
    assert event.target_id == str(second.id)
    assert event.before == {"default_payment_method_id": first.id}
    assert event.after == {
        "default_payment_method_id": second.id,
        "brand": "mastercard",
        "last4": "4444",
    }


def test_set_default_on_the_default_changes_nothing(session, clock, gateway, customer, actor):
    first = add(session, clock, gateway, customer)
    before = snapshot(session)
    payment_methods.set_default(
        session, clock, customer_id=customer.id, payment_method_id=first.id, actor=actor
    )
    assert snapshot(session) == before


def test_set_default_disabled(session, clock, gateway, customer, catalog, actor):
    add(session, clock, gateway, customer)
    second = add(session, clock, gateway, customer, MASTERCARD)
    turn_off(session, clock, catalog.merchant, "payment_methods.set_default")
    before = snapshot(session)
    with pytest.raises(FeatureDisabled):
        payment_methods.set_default(
            session, clock, customer_id=customer.id, payment_method_id=second.id, actor=actor
        )
    assert snapshot(session) == before


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["add", "add_default", "set", "remove"]), st.integers(0, 9)),
        max_size=12,
    )
)
def test_exactly_one_default_whatever_the_sequence(session, clock, gateway, catalog, steps):
    customer = factories.make_customer(
        session, clock, catalog.merchant, email=f"seq{next(_emails)}@example.com"
    )
    actor = audit.Actor.customer(customer.id)
    for step, pick in steps:
        cards = payment_methods.list_cards(session, customer.id)
        if step.startswith("add"):
            add(session, clock, gateway, customer, make_default=step == "add_default")
        elif cards:
            target = cards[pick % len(cards)].id
            call = payment_methods.set_default if step == "set" else payment_methods.remove_card
            call(session, clock, customer_id=customer.id, payment_method_id=target, actor=actor)
        clock.advance(timedelta(seconds=1))
        cards = payment_methods.list_cards(session, customer.id)
        assert len(defaults_of(session, customer)) == (1 if cards else 0)
        if cards:
            assert cards[0].is_default


# --- Removing --------------------------------------------------------------------------------


def remove(session, clock, customer, card_id, actor=None):
    return payment_methods.remove_card(
        session,
        clock,
        customer_id=customer.id,
        payment_method_id=card_id,
        actor=actor or audit.Actor.customer(customer.id),
    )


def test_removing_a_card_that_is_not_the_default(session, clock, gateway, customer):
    first = add(session, clock, gateway, customer)
    second = add(session, clock, gateway, customer, MASTERCARD)
    assert remove(session, clock, customer, second.id).id == first.id
    assert [c.id for c in payment_methods.list_cards(session, customer.id)] == [first.id]
    assert defaults_of(session, customer) == [first.id]
    (event,) = events(session, "payment_method.remove")
    assert event.target_id == str(second.id)
    assert event.before == {
        "brand": "mastercard",
        "last4": "4444",
        "exp_month": 12,
        "exp_year": 2030,
        "is_default": False,
    }
    assert event.after == {"default_payment_method_id": first.id}


def test_removing_the_default_promotes_the_newest_remaining(session, clock, gateway, customer):
    default = add(session, clock, gateway, customer)
    clock.advance(timedelta(days=1))
    add(session, clock, gateway, customer, MASTERCARD)
    clock.advance(timedelta(days=1))
    newest = add(session, clock, gateway, customer, DISCOVER)
    assert remove(session, clock, customer, default.id).id == newest.id
    assert defaults_of(session, customer) == [newest.id]
    (event,) = events(session, "payment_method.remove")
    assert event.before["is_default"] is True
    assert event.after == {"default_payment_method_id": newest.id}


def test_removing_the_newest_default_promotes_the_next_newest(session, clock, gateway, customer):
    oldest = add(session, clock, gateway, customer)
    clock.advance(timedelta(days=1))
    middle = add(session, clock, gateway, customer, MASTERCARD)
    clock.advance(timedelta(days=1))
    newest = add(session, clock, gateway, customer, DISCOVER, make_default=True)
    remove(session, clock, customer, newest.id)
    assert defaults_of(session, customer) == [middle.id]
    assert oldest.id in [c.id for c in payment_methods.list_cards(session, customer.id)]


def test_the_last_card_may_go_without_a_subscription(session, clock, gateway, customer):
    card = add(session, clock, gateway, customer)
    assert remove(session, clock, customer, card.id) is None
    assert payment_methods.list_cards(session, customer.id) == []
    assert payment_methods.default_card(session, customer.id) is None
    assert events(session, "payment_method.remove")[0].after == {"default_payment_method_id": None}


@pytest.mark.parametrize("status", ["active", "past_due", "paused"])
def test_the_last_card_stays_while_a_paid_subscription_needs_it(
    session, clock, gateway, customer, catalog, status
):
    card = add(session, clock, gateway, customer)
    factories.make_subscription_row(session, clock, customer, paid_price(catalog), status)
    before = snapshot(session)
    with pytest.raises(PaymentMethodError) as caught:
        remove(session, clock, customer, card.id)
    assert caught.value.code == "last_card_required"
    assert "Add another card" in str(caught.value)
    assert snapshot(session) == before


@pytest.mark.parametrize("status", ["active", "past_due", "paused"])
def test_a_free_subscription_does_not_hold_the_last_card(
    session, clock, gateway, customer, catalog, status
):
    card = add(session, clock, gateway, customer)
    factories.make_subscription_row(session, clock, customer, free_price(session, catalog), status)
    remove(session, clock, customer, card.id)
    assert payment_methods.list_cards(session, customer.id) == []


def test_a_canceled_subscription_does_not_hold_the_last_card(
    session, clock, gateway, customer, catalog
):
    card = add(session, clock, gateway, customer)
    factories.make_subscription_row(session, clock, customer, paid_price(catalog), "canceled")
    remove(session, clock, customer, card.id)
    assert payment_methods.list_cards(session, customer.id) == []


def test_another_customers_subscription_does_not_hold_the_last_card(
    session, clock, gateway, customer, other_customer, catalog
):
    card = add(session, clock, gateway, customer)
    factories.make_subscription_row(session, clock, other_customer, paid_price(catalog))
    remove(session, clock, customer, card.id)
    assert payment_methods.list_cards(session, customer.id) == []


def test_with_a_paid_subscription_a_card_may_go_while_another_remains(
    session, clock, gateway, customer, catalog
):
    first = add(session, clock, gateway, customer)
    second = add(session, clock, gateway, customer, MASTERCARD)
    factories.make_subscription_row(session, clock, customer, paid_price(catalog))
    remove(session, clock, customer, first.id)
    assert defaults_of(session, customer) == [second.id]
    with pytest.raises(PaymentMethodError):
        remove(session, clock, customer, second.id)


def test_removing_a_card_keeps_its_past_payments(session, clock, gateway, customer, catalog):
    card = add(session, clock, gateway, customer)
    add(session, clock, gateway, customer, MASTERCARD)
    invoice = Invoice(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        status="paid",
        currency="USD",
        total=1000,
        amount_paid=1000,
        created_at=clock.now(),
    )
    session.add(invoice)
    session.flush()
    payment = Payment(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        invoice_id=invoice.id,
        payment_method_id=card.id,
        amount=1000,
        currency="USD",
        status="succeeded",
        idempotency_key="inv_1_attempt_1",
        created_at=clock.now(),
    )
    session.add(payment)
    session.flush()
    remove(session, clock, customer, card.id)
    session.refresh(payment)
    assert payment.payment_method_id is None
    assert payment.amount == 1000
    assert session.get(PaymentMethod, card.id) is None


def test_remove_disabled(session, clock, gateway, customer, catalog):
    add(session, clock, gateway, customer)
    second = add(session, clock, gateway, customer, MASTERCARD)
    turn_off(session, clock, catalog.merchant, "payment_methods.remove")
    before = snapshot(session)
    with pytest.raises(FeatureDisabled):
        remove(session, clock, customer, second.id)
    assert snapshot(session) == before


# --- Expiry ----------------------------------------------------------------------------------


def update(session, clock, gateway, customer, card_id, month, year, actor=None):
    return payment_methods.update_expiry(
        session,
        clock,
        gateway,
        customer_id=customer.id,
        payment_method_id=card_id,
        exp_month=month,
        exp_year=year,
        actor=actor or audit.Actor.customer(customer.id),
    )


def test_update_expiry_changes_the_card_and_the_vault(session, clock, gateway, customer):
    card = add(session, clock, gateway, customer, exp_month=2, exp_year=2026)
    updated = update(session, clock, gateway, customer, card.id, "09", "31")
    assert (updated.exp_month, updated.exp_year) == (9, 2031)
    session.refresh(card)
    assert (card.exp_month, card.exp_year) == (9, 2031)
    vaulted = session.get(SandboxCard, card.gateway_token)
    assert (vaulted.exp_month, vaulted.exp_year) == (9, 2031)
    (event,) = events(session, "payment_method.update_expiry")
    assert event.target_id == str(card.id)
    assert event.before == {"exp_month": 2, "exp_year": 2026, "brand": "visa", "last4": "4242"}
    assert event.after == {"exp_month": 9, "exp_year": 2031, "brand": "visa", "last4": "4242"}


def test_update_expiry_lets_an_expired_card_charge_again(session, clock, gateway, customer):
    card = add(session, clock, gateway, customer, exp_month=1, exp_year=2026)
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    declined = gateway.charge(
        session, clock, token=card.gateway_token, amount=500, currency="USD", idempotency_key="a"
    )
    assert declined.failure_code == "expired_card"
    update(session, clock, gateway, customer, card.id, 2, 2028)
    ok = gateway.charge(
        session, clock, token=card.gateway_token, amount=500, currency="USD", idempotency_key="b"
    )
    assert ok.succeeded


@pytest.mark.parametrize(
    ("month", "year", "code"),
    [
        (0, 2030, "invalid_expiry_month"),
        (12, 2025, "expired_card"),
        (12, 2047, "invalid_expiry_year"),
        ("ab", "2030", "invalid_expiry_month"),
    ],
)
def test_a_bad_new_expiry_changes_nothing(session, clock, gateway, customer, month, year, code):
    card = add(session, clock, gateway, customer, exp_month=6, exp_year=2029)
    before = snapshot(session)
    with pytest.raises(CardError) as caught:
        update(session, clock, gateway, customer, card.id, month, year)
    assert caught.value.code == code
    assert snapshot(session) == before
    vaulted = session.get(SandboxCard, card.gateway_token)
    assert (vaulted.exp_month, vaulted.exp_year) == (6, 2029)


def test_the_same_expiry_again_is_not_a_change(session, clock, gateway, customer):
    card = add(session, clock, gateway, customer, exp_month=6, exp_year=2029)
    before = snapshot(session)
    update(session, clock, gateway, customer, card.id, 6, 29)
    assert snapshot(session) == before


def test_update_expiry_disabled(session, clock, gateway, customer, catalog):
    card = add(session, clock, gateway, customer)
    turn_off(session, clock, catalog.merchant, "payment_methods.update_expiry")
    before = snapshot(session)
    with pytest.raises(FeatureDisabled):
        update(session, clock, gateway, customer, card.id, 1, 2031)
    assert snapshot(session) == before


def test_add_disabled(session, clock, gateway, customer, catalog):
    turn_off(session, clock, catalog.merchant, "payment_methods.add")
    before = snapshot(session)
    with pytest.raises(FeatureDisabled):
        add(session, clock, gateway, customer)
    assert snapshot(session) == before


def test_a_feature_of_another_merchant_does_not_apply(session, clock, gateway, customer):
    other = factories.make_catalog(session, clock, slug="globex")
    turn_off(session, clock, other.merchant, "payment_methods.add")
    assert add(session, clock, gateway, customer).is_default


# --- Scoping ---------------------------------------------------------------------------------


def test_foreign_card_ids_are_not_found(session, clock, gateway, customer, other_customer):
    mine = add(session, clock, gateway, customer)
    theirs = add(session, clock, gateway, other_customer)
    theirs_second = add(session, clock, gateway, other_customer, MASTERCARD)
    before = snapshot(session)
    actor = audit.Actor.customer(customer.id)
    calls = [
        lambda card_id: payment_methods.set_default(
            session, clock, customer_id=customer.id, payment_method_id=card_id, actor=actor
        ),
        lambda card_id: remove(session, clock, customer, card_id),
        lambda card_id: update(session, clock, gateway, customer, card_id, 1, 2031),
    ]
    for call in calls:
        for card_id in (theirs.id, theirs_second.id, 987_654, None, "1", True):
            with pytest.raises(NotFound) as caught:
                call(card_id)
            # The same answer as for a card that does not exist: nothing is revealed.
            assert str(caught.value) == "Card not found."
    assert snapshot(session) == before
    assert mine.is_default


def test_cards_of_another_merchants_customer_are_not_found(session, clock, gateway, customer):
    other = factories.make_catalog(session, clock, slug="globex")
    stranger = factories.make_customer(session, clock, other.merchant)
    theirs = add(session, clock, gateway, stranger)
    with pytest.raises(NotFound, match=r"Card not found\."):
        remove(session, clock, customer, theirs.id)
    assert session.get(PaymentMethod, theirs.id) is not None


def test_a_customer_cannot_act_for_another_customer(
    session, clock, gateway, customer, other_customer
):
    theirs = add(session, clock, gateway, other_customer)
    impostor = audit.Actor.customer(customer.id)
    before = snapshot(session)
    with pytest.raises(NotFound):
        remove(session, clock, other_customer, theirs.id, actor=impostor)
    with pytest.raises(NotFound):
        add(session, clock, gateway, other_customer, MASTERCARD, actor=impostor)
    assert snapshot(session) == before


def test_merchant_staff_may_manage_a_customers_cards(session, clock, gateway, customer):
    staff = audit.Actor.merchant(7)
    first = add(session, clock, gateway, customer, actor=staff)
    add(session, clock, gateway, customer, MASTERCARD, actor=staff)
    remove(session, clock, customer, first.id, actor=staff)
    assert [(e.actor_type, e.actor_id, e.customer_id) for e in events(session)] == [
        ("merchant", "7", customer.id)
    ] * 3


# --- Card numbers never stored ---------------------------------------------------------------


@pytest.fixture
def sql_log(caplog):
    """SQL statements and their parameters, captured from the session's first statement on."""
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    return caplog


def test_no_card_number_anywhere_in_the_database(sql_log, session, clock, gateway, customer):
    numbers = [VISA, MASTERCARD, AMEX, DISCOVER, "4000000000000119"]
    typed = ["4242 4242 4242 4242", "5555-5555-5555-4444", AMEX, DISCOVER, "4000000000000119"]
    cards = [
        add(
            session,
            clock,
            gateway,
            customer,
            number,
            make_default=True,
            cvc="1234" if number == AMEX else "123",
        )
        for number in typed
    ]
    for number in ("4000000000000069", "4242424242424241"):
        with pytest.raises(CardError):
            add(session, clock, gateway, customer, number)
    for i, card in enumerate(cards):
        gateway.charge(
            session,
            clock,
            token=card.gateway_token,
            amount=100,
            currency="USD",
            idempotency_key=f"k{i}",
        )
    update(session, clock, gateway, customer, cards[0].id, 5, 2032)
    payment_methods.set_default(
        session, clock, customer_id=customer.id, payment_method_id=cards[1].id, actor=audit.SYSTEM
    )
    remove(session, clock, customer, cards[2].id)

    searched = numbers + typed + ["4000000000000069", "4242424242424241"]
    rows_seen = 0
    connection = session.connection()
    for table in SQLModel.metadata.sorted_tables:
        for row in connection.execute(sa.select(table)):
            rows_seen += 1
            for column, value in row._mapping.items():
                text = str(value)
                for number in searched:
                    assert number not in text, f"{table.name}.{column} holds a card number"
    assert rows_seen > 20
    assert count(session, AuditEvent) == len(cards) + 3
    # The SQL log (with its bound parameters) never saw a number either.
    assert sql_log.records
    logged = "\n".join(record.getMessage() for record in sql_log.records)
    assert "4444" in logged  # last4 is logged, so parameters are in the log
    for number in searched:
        assert number not in logged


# --- Concurrency -----------------------------------------------------------------------------


def test_two_first_cards_added_at_once_make_one_default(engine, clock, gateway):
    """Both requests see 'no cards yet'; the customer-row lock (PostgreSQL) or the write lock
    taken at BEGIN (SQLite) makes the second wait and then see the first card."""
    with Session(engine, expire_on_commit=False) as setup:
        catalog = factories.make_catalog(setup, clock)
        customer = factories.make_customer(setup, clock, catalog.merchant)
        setup.commit()

    outcome: dict = {}

    def second_request():
        try:
            with Session(engine, expire_on_commit=False) as second_session:
                outcome["card"] = add(second_session, clock, gateway, customer, MASTERCARD)
                second_session.commit()
        except Exception as exc:  # handed back to the test
            outcome["error"] = exc

    with Session(engine, expire_on_commit=False) as first_session:
        first = add(first_session, clock, gateway, customer)
        thread = threading.Thread(target=second_request)
        thread.start()
        time.sleep(0.5)  # let the second request reach the database and wait there
        first_session.commit()
        thread.join(timeout=30)

    assert not thread.is_alive()
    assert "error" not in outcome
    assert first.is_default
    assert not outcome["card"].is_default
    with Session(engine) as check:
        assert defaults_of(check, customer) == [first.id]


def test_staff_acting_for_one_customer_cannot_touch_anothers_cards(
    session, clock, gateway, customer, other_customer
):
    """A support link's session acts for one customer: its actor names them (Actor.acting),
    and the cards of anyone else are not found."""
    theirs = add(session, clock, gateway, other_customer)
    before = snapshot(session)
    actor = audit.Actor.acting(7, customer.id)
    with pytest.raises(NotFound):
        payment_methods.set_default(
            session, clock, customer_id=other_customer.id, payment_method_id=theirs.id, actor=actor
        )
    assert snapshot(session) == before
    mine = add(session, clock, gateway, customer)
    assert payment_methods.set_default(
        session, clock, customer_id=customer.id, payment_method_id=mine.id, actor=actor
    ).is_default
