"""One contract, two gateways: every test here runs against the sandbox and against the Stripe
adapter talking to localstripe (a real fake Stripe server, tests/localstripe_peer.py), so the
sandbox keeps behaving like the real thing. A card is added the way each gateway's page adds it:
typed into our form (sandbox), or confirmed by Stripe.js against a SetupIntent (Stripe)."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from portal_app.models import PaymentMethod, StripeCustomer
from portal_app.services import audit, payment_methods
from portal_app.services.errors import CardError, GatewayUnavailable, PaymentError
from tests import localstripe_peer
from tests.gateways import (
    DECLINED_ON_ADD,
    DECLINED_ON_CHARGE,
    THREE_D_SECURE,
    VISA,
    Contract,
    stripe_gateway,
)
from tests.localstripe_peer import StripeJs


def test_a_good_card_is_added_and_charged_once_per_key(session, clock, customer, contract):
    card = contract.add_card(session, clock, customer)
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    assert card.is_default
    first = contract.charge(session, clock, card, key="inv_1_attempt_1")
    assert first.succeeded and first.charge_id and first.failure_code is None
    again = contract.charge(session, clock, card, key="inv_1_attempt_1")
    assert again.charge_id == first.charge_id and again.succeeded
    other = contract.charge(session, clock, card, key="inv_2_attempt_1")
    assert other.succeeded and other.charge_id != first.charge_id


def test_a_key_reused_with_another_amount_is_refused(session, clock, customer, contract):
    card = contract.add_card(session, clock, customer)
    contract.charge(session, clock, card, amount=1500, key="reuse")
    with pytest.raises(PaymentError) as refused:
        contract.charge(session, clock, card, amount=1600, key="reuse")
    assert refused.value.code == "idempotency_key_reused"


def test_a_card_declined_on_add_is_not_saved(session, clock, customer, contract):
    with pytest.raises(CardError):
        contract.add_card(session, clock, customer, DECLINED_ON_ADD)
    assert session.exec(select(PaymentMethod)).all() == []


def test_a_card_declined_on_charge_gives_a_decline_result(session, clock, customer, contract):
    card = contract.add_card(session, clock, customer, DECLINED_ON_CHARGE)
    result = contract.charge(session, clock, card)
    assert not result.succeeded and not result.requires_action
    assert (result.failure_code, result.failure_message) == (
        "card_declined",
        "Your card was declined.",
    )
    assert not result.retryable


def test_three_d_secure_waits_then_succeeds_or_is_declined(session, clock, customer, contract):
    card = contract.add_card(session, clock, customer, THREE_D_SECURE)
    waiting = contract.charge(session, clock, card, key="auth_ok")
    assert waiting.requires_action and not waiting.succeeded
    assert waiting.failure_code == "authentication_required"
    assert contract.gateway.charge_status(session, clock, waiting.charge_id).requires_action
    contract.authenticate(session, clock, waiting.charge_id, True)
    assert contract.gateway.charge_status(session, clock, waiting.charge_id).succeeded

    refused = contract.charge(session, clock, card, key="auth_no")
    contract.authenticate(session, clock, refused.charge_id, False)
    status = contract.gateway.charge_status(session, clock, refused.charge_id)
    assert not status.succeeded and not status.requires_action
    assert status.failure_code == "authentication_failed"


def test_refunds_give_back_at_most_the_charge_once_per_key(session, clock, customer, contract):
    card = contract.add_card(session, clock, customer)
    charge = contract.charge(session, clock, card, amount=5000, key="to_refund")

    def refund(amount: int, key: str):
        return contract.gateway.refund(
            session, clock, charge_id=charge.charge_id, amount=amount, idempotency_key=key
        )

    part = refund(2000, "r1")
    assert part.succeeded and (part.amount, part.currency) == (2000, "USD")
    replay = refund(2000, "r1")
    assert replay.refund_id == part.refund_id
    with pytest.raises(PaymentError) as too_much:
        refund(3001, "r2")
    assert too_much.value.code == "refund_exceeds_charge"
    rest = refund(3000, "r3")
    assert rest.succeeded and rest.refund_id != part.refund_id
    with pytest.raises(PaymentError) as reused:
        refund(1000, "r1")
    assert reused.value.code == "idempotency_key_reused"


def test_bad_charge_requests_are_refused_before_any_call(session, clock, customer, contract):
    card = contract.add_card(session, clock, customer)
    for amount, currency, key, code in [
        (0, "USD", "k", "invalid_amount"),
        (True, "USD", "k", "invalid_amount"),
        (100, "US", "k", "invalid_currency"),
        (100, "USD", "", "invalid_idempotency_key"),
    ]:
        with pytest.raises(PaymentError) as refused:
            contract.charge(session, clock, card, amount=amount, currency=currency, key=key)
        assert refused.value.code == code
    with pytest.raises(CardError) as unknown:
        contract.gateway.charge(
            session, clock, token="pm_not_ours", amount=100, currency="USD", idempotency_key="x"
        )
    assert unknown.value.code == "invalid_token"


def _at_stripe(contract, path: str) -> dict:
    """An object as localstripe holds it (read with the secret key)."""
    base = contract.gateway.settings.api_base
    return httpx.get(f"{base}{path}", auth=(localstripe_peer.SECRET_KEY, "")).json()


def test_expiry_update_default_and_remove(session, clock, customer, contract):
    first = contract.add_card(session, clock, customer)
    second = contract.add_card(session, clock, customer, make_default=True)
    actor = audit.Actor.customer(customer.id)
    gateway = contract.gateway

    def update_expiry(exp_month: int, exp_year: int):
        return payment_methods.update_expiry(
            session,
            clock,
            gateway,
            customer_id=customer.id,
            payment_method_id=first.id,
            exp_month=exp_month,
            exp_year=exp_year,
            actor=actor,
        )

    updated = update_expiry(3, 2031)
    assert (updated.exp_month, updated.exp_year) == (3, 2031)
    with pytest.raises(CardError):
        update_expiry(1, 2020)
    payment_methods.set_default(
        session, clock, gateway, customer_id=customer.id, payment_method_id=first.id, actor=actor
    )
    if contract.js is not None:  # Stripe: the customer's default there too
        stripe_id = session.get(StripeCustomer, customer.id).stripe_id
        remote = _at_stripe(contract, f"/v1/customers/{stripe_id}")
        assert remote["invoice_settings"]["default_payment_method"] == first.gateway_token
    payment_methods.remove_card(
        session, clock, gateway, customer_id=customer.id, payment_method_id=second.id, actor=actor
    )
    assert [c.id for c in payment_methods.list_cards(session, customer.id)] == [first.id]
    # The card still charges after the changes.
    assert contract.charge(session, clock, first, key="after_changes").succeeded
    if contract.js is not None:  # Stripe: the removed card is detached there too
        assert (
            _at_stripe(contract, f"/v1/payment_methods/{second.gateway_token}")["customer"] is None
        )


def test_stripe_customer_is_made_once_and_cards_stay_with_their_customer(
    session, clock, catalog, customer, localstripe
):
    from tests import factories

    gateway = stripe_gateway(localstripe.base)
    live = Contract(gateway, StripeJs(localstripe.base))
    a = gateway.stripe_customer(session, clock, customer.id)
    assert gateway.stripe_customer(session, clock, customer.id) == a
    session.delete(session.get(StripeCustomer, customer.id))
    session.flush()
    # Lost our row (a crash before commit): the same idempotency key finds the same customer.
    assert gateway.stripe_customer(session, clock, customer.id) == a

    other = factories.make_customer(session, clock, catalog.merchant, email="other@example.com")
    setup = payment_methods.start_card_setup(
        session, clock, gateway, customer_id=other.id, actor=audit.Actor.customer(other.id)
    )
    live.js.confirm_card_setup(setup.client_secret, VISA)
    with pytest.raises(CardError) as stolen:  # another customer's finished setup
        live.collect_card(session, clock, customer.id, setup.setup_id)
    assert stolen.value.code == "setup_incomplete"
    unfinished = payment_methods.start_card_setup(
        session, clock, gateway, customer_id=customer.id, actor=audit.Actor.customer(customer.id)
    )
    with pytest.raises(CardError):
        live.collect_card(session, clock, customer.id, unfinished.setup_id)
    saved = live.collect_card(session, clock, other.id, setup.setup_id)
    again = live.collect_card(session, clock, other.id, setup.setup_id)
    assert again.id == saved.id
    assert len(payment_methods.list_cards(session, other.id)) == 1


def test_stripe_unreachable_raises_and_charges_nothing(session, clock, customer, localstripe):
    live = Contract(
        stripe_gateway(localstripe.base, install_key="down-test"), StripeJs(localstripe.base)
    )
    card = live.add_card(session, clock, customer)
    down = stripe_gateway(f"http://127.0.0.1:{localstripe_peer.free_port()}", "down-test")
    with pytest.raises(GatewayUnavailable):
        Contract(down, None).charge(session, clock, card, amount=100, key="down")
    # The same key on the reachable server charges for the first time.
    assert live.charge(session, clock, card, amount=100, key="down").succeeded
