"""The two gateways as tests use them: the sandbox, and the Stripe adapter on localstripe
(tests/localstripe_peer.py), each with what the customer's browser and bank do with it. The
fixtures (`localstripe`, `contract`) are in tests/unit/conftest.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from portal_app.config import StripeSettings
from portal_app.services import audit, payment_methods
from portal_app.services.stripe_gateway import StripeGateway
from tests import localstripe_peer
from tests.localstripe_peer import StripeJs

VISA = "4242424242424242"
DECLINED_ON_ADD = "4000000000000002"
DECLINED_ON_CHARGE = "4000000000000341"
THREE_D_SECURE = "4000002760003184"


def stripe_gateway(base: str, install_key: str | None = None) -> StripeGateway:
    """The adapter on localstripe. Each test's database starts its ids at 1 again, so each gets
    an install key of its own (as two installs would), unless it names one."""
    settings = StripeSettings(
        localstripe_peer.SECRET_KEY,
        localstripe_peer.PUBLISHABLE_KEY,
        localstripe_peer.WEBHOOK_SECRET,
        base,
    )
    return StripeGateway(settings, install_key=install_key or uuid.uuid4().hex, timeout=5)


@dataclass
class Contract:
    """A gateway and what the customer's browser and bank do with it."""

    gateway: object
    js: StripeJs | None

    def add_card(self, session, clock, customer, number=VISA, make_default=False):
        actor = audit.Actor.customer(customer.id)
        setup = payment_methods.start_card_setup(
            session, clock, self.gateway, customer_id=customer.id, actor=actor
        )
        if setup is None:
            return payment_methods.add_card(
                session,
                clock,
                self.gateway,
                customer_id=customer.id,
                number=number,
                exp_month=12,
                exp_year=2034,
                cvc="123",
                make_default=make_default,
                actor=actor,
            )
        assert setup.client_secret.startswith(setup.setup_id + "_secret_")
        assert setup.publishable_key.startswith("pk_")
        self.js.confirm_card_setup(setup.client_secret, number)
        return self.collect_card(session, clock, customer.id, setup.setup_id, make_default)

    def collect_card(self, session, clock, customer_id: int, setup_id: str, make_default=False):
        """The customer's browser finished a setup: save the card it collected."""
        return payment_methods.add_collected_card(
            session,
            clock,
            self.gateway,
            customer_id=customer_id,
            setup_id=setup_id,
            make_default=make_default,
            actor=audit.Actor.customer(customer_id),
        )

    def authenticate(self, session, clock, charge_id: str, success: bool) -> None:
        if self.js is None:
            self.gateway.authenticate(session, clock, charge_id, success)
        else:
            secret = self.gateway.client_secret(session, clock, charge_id)
            self.js.authenticate_payment(secret, success)

    def charge(self, session, clock, card, amount=1500, key="k1", currency="USD", **kw):
        return self.gateway.charge(
            session,
            clock,
            token=card.gateway_token,
            amount=amount,
            currency=currency,
            idempotency_key=key,
            **kw,
        )
