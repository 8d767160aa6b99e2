"""The pages' states on each gateway: Add a card with Stripe.js (the client secret goes to the
browser in a script, never into state; the card saved is the one Stripe says this customer set
up), and an invoice that waits for 3-D Secure confirmed from its page, on the sandbox's bank
dialog and on Stripe."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from portal_app.models import InvoiceStatus, PaymentMethod
from portal_app.services import gateway as gateway_module
from portal_app.state.guard import CLOCK
from portal_app.state.invoices import InvoicesState
from portal_app.state.payment_methods import CardsState
from tests import factories
from tests.gateways import THREE_D_SECURE, Contract, stripe_gateway
from tests.localstripe_peer import StripeJs
from tests.statekit import call, root_with, run, visit

SECRET = re.compile(r"(?:seti|pi)_\w+?_secret_\w+")


@pytest.fixture
def on_stripe(monkeypatch, localstripe):
    gateway = stripe_gateway(localstripe.base)
    monkeypatch.setattr(gateway_module, "configured_gateway", lambda: gateway)
    return gateway, StripeJs(localstripe.base)


def _cards(app_db, customer) -> list[PaymentMethod]:
    with Session(app_db["engine"]) as session:
        return list(
            session.exec(select(PaymentMethod).where(PaymentMethod.customer_id == customer.id))
        )


def test_add_a_card_with_stripe_js(app_db, on_stripe):
    _, js = on_stripe
    alice, bob = app_db["alice"], app_db["bob"]
    before = len(_cards(app_db, alice))

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        opened = await call(root, CardsState, "open_card_form")
        state = await root.get_state(CardsState)
        assert state.gateway_form is True
        script = str(opened)
        secret = SECRET.search(script).group(0)
        assert secret not in str(state.dict())  # the secret is in the script, not in state
        js.confirm_card_setup(secret, "4242424242424242")
        setup_id = secret.split("_secret_")[0]

        # Bob's tab sends Alice's finished setup: refused, nothing saved for Bob.
        bob_root = root_with(app_db["sessions"]["bob@example.com"])
        await call(bob_root, CardsState, "collected", {"setup_id": setup_id})
        assert (await bob_root.get_state(CardsState)).add_error
        # A browser that says "done" for an unknown setup: refused.
        await call(root, CardsState, "collected", {"setup_id": "seti_made_up"})
        assert state.add_error == "The card wasn't added: the card form was not completed."
        await call(root, CardsState, "collected", {"setup_id": setup_id})
        assert state.add_error == ""

    run(scenario())
    assert len(_cards(app_db, alice)) == before + 1
    assert _cards(app_db, alice)[-1].gateway_token.startswith("pm_")
    assert all(not c.gateway_token.startswith("pm_") for c in _cards(app_db, bob))


def _waiting_invoice(app_db, gateway, js=None):
    """Bob's open invoice, charged off-session to a card that needs 3-D Secure."""
    from portal_app.services import audit, invoices

    bob = app_db["bob"]
    with Session(app_db["engine"], expire_on_commit=False) as session:
        card = Contract(gateway, js).add_card(
            session, CLOCK, bob, THREE_D_SECURE, make_default=True
        )
        invoice = factories.finalized_invoice(session, CLOCK, bob, amount=3100)
        outcome = invoices.collect(session, CLOCK, gateway, invoice, card, audit.SYSTEM)
        assert outcome.status == "action_required"
        session.commit()
    return invoice


async def _invoice_page(app_db, email, invoice):
    """The invoice's page opened in the named customer's browser: its root and state."""
    root = visit(root_with(app_db["sessions"][email]), "/invoices/[id]", id=str(invoice.id))
    await call(root, InvoicesState, "load")
    return root, await root.get_state(InvoicesState)


def _status(app_db, invoice) -> str:
    from portal_app.models import Invoice

    with Session(app_db["engine"]) as session:
        return session.get(Invoice, invoice.id).status


def test_confirm_on_the_sandbox_bank_dialog(app_db):
    from portal_app.services.sandbox_gateway import SandboxGateway

    invoice = _waiting_invoice(app_db, SandboxGateway())

    async def scenario():
        # Alice cannot reach Bob's invoice, even by naming it.
        alice, state = await _invoice_page(app_db, "alice@example.com", invoice)
        state.detail.id = str(invoice.id)
        await call(alice, InvoicesState, "sandbox_bank", True)
        assert _status(app_db, invoice) == InvoiceStatus.OPEN

        root, state = await _invoice_page(app_db, "bob@example.com", invoice)
        assert state.detail.needs_confirmation is True
        await call(root, InvoicesState, "confirm_payment")
        assert state.sandbox_bank_open is True
        await call(root, InvoicesState, "sandbox_bank", True)
        assert state.sandbox_bank_open is False and state.pay_error == ""
        assert state.detail.status == "paid" and state.detail.needs_confirmation is False

    run(scenario())
    assert _status(app_db, invoice) == InvoiceStatus.PAID


def test_confirm_with_stripe_js(app_db, on_stripe):
    gateway, js = on_stripe
    invoice = _waiting_invoice(app_db, gateway, js)

    async def scenario():
        root, state = await _invoice_page(app_db, "bob@example.com", invoice)
        started = await call(root, InvoicesState, "confirm_payment")
        secret = SECRET.search(str(started)).group(0)
        assert secret not in str(state.dict())
        # The browser claims success before the bank said yes: Stripe says it still waits.
        await call(root, InvoicesState, "bank_answered", {"done": True})
        assert _status(app_db, invoice) == InvoiceStatus.OPEN
        assert state.pay_error
        js.authenticate_payment(secret, True)
        await call(root, InvoicesState, "bank_answered", {"done": True})
        assert state.detail.status == "paid"

    run(scenario())
    assert _status(app_db, invoice) == InvoiceStatus.PAID
