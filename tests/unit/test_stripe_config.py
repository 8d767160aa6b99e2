"""PORTAL_GATEWAY=stripe: a half configuration refuses to start, naming what is missing; a full one
gives the Stripe gateway; Stripe's error codes map to the customer's messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from portal_app.config import PROJECT_ROOT as ROOT
from portal_app.config import load_settings
from portal_app.services import gateway as gateway_module
from portal_app.services.gateway import CARD_MESSAGES
from portal_app.services.stripe_gateway import StripeGateway, decline_code, stripe_js_url

FULL = {
    "PORTAL_GATEWAY": "stripe",
    "PORTAL_STRIPE_SECRET_KEY": "sk_test_abc",
    "PORTAL_STRIPE_PUBLISHABLE_KEY": "pk_test_abc",
    "PORTAL_STRIPE_WEBHOOK_SECRET": "whsec_abc",
}


@pytest.fixture
def env(monkeypatch):
    for name in (*FULL, "PORTAL_STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    gateway_module.configured_gateway.cache_clear()
    yield monkeypatch
    gateway_module.configured_gateway.cache_clear()


def test_the_sandbox_is_the_default(env):
    assert load_settings().stripe is None
    assert gateway_module.configured_gateway().name == "sandbox"


def test_a_full_configuration_gives_the_stripe_gateway(env):
    for name, value in FULL.items():
        env.setenv(name, value)
    settings = load_settings().stripe
    assert settings.api_base == "https://api.stripe.com"
    assert "sk_test" not in repr(settings)  # never printed
    gateway = gateway_module.configured_gateway()
    assert isinstance(gateway, StripeGateway) and gateway.browser_form
    assert stripe_js_url(settings) == "https://js.stripe.com/v3/"
    env.setenv("PORTAL_STRIPE_API_BASE", "http://127.0.0.1:8420/")
    assert stripe_js_url(load_settings().stripe) == "http://127.0.0.1:8420/js.stripe.com/v3/"


@pytest.mark.parametrize("missing", sorted(set(FULL) - {"PORTAL_GATEWAY"}))
def test_each_missing_variable_is_named(env, missing):
    for name, value in FULL.items():
        if name != missing:
            env.setenv(name, value)
    with pytest.raises(ValueError, match=missing):
        load_settings()


def test_stray_or_wrong_values_refuse(env):
    env.setenv("PORTAL_STRIPE_SECRET_KEY", "sk_test_abc")
    with pytest.raises(ValueError, match="PORTAL_STRIPE_SECRET_KEY is set but PORTAL_GATEWAY"):
        load_settings()
    for name, value in FULL.items():
        env.setenv(name, value)
    for name, bad in [
        ("PORTAL_GATEWAY", "paypal"),
        ("PORTAL_STRIPE_SECRET_KEY", "pk_test_abc"),
        ("PORTAL_STRIPE_WEBHOOK_SECRET", "abc"),
        ("PORTAL_STRIPE_API_BASE", "http://stripe.example"),
    ]:
        env.setenv(name, bad)
        with pytest.raises(ValueError):
            load_settings()
        env.setenv(name, FULL.get(name, "https://api.stripe.com"))


def test_the_server_refuses_to_start_with_a_half_configuration(tmp_path):
    """rxconfig.py reads the settings first: `reflex` stops there, saying what is missing."""
    done = subprocess.run(
        [sys.executable, "-c", "import rxconfig"],
        env={
            "PATH": "/usr/bin:/bin",
            "PORTAL_GATEWAY": "stripe",
            "PORTAL_STRIPE_SECRET_KEY": "sk_test_abc",
            "PORTAL_SECRET_KEY": "x" * 32,
            "PORTAL_DB_URL": f"sqlite:///{tmp_path / 'x.db'}",
            "REFLEX_TELEMETRY_ENABLED": "false",
        },
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode != 0
    assert "PORTAL_STRIPE_PUBLISHABLE_KEY, PORTAL_STRIPE_WEBHOOK_SECRET" in done.stderr


@pytest.mark.parametrize(
    ("code", "decline", "ours"),
    [
        ("card_declined", "insufficient_funds", "insufficient_funds"),
        ("card_declined", "generic_decline", "card_declined"),
        ("card_declined", "do_not_honor", "card_declined"),
        ("expired_card", None, "expired_card"),
        ("incorrect_cvc", None, "incorrect_cvc"),
        ("invalid_cvc", None, "incorrect_cvc"),
        ("processing_error", None, "processing_error"),
        ("authentication_required", "authentication_required", "authentication_required"),
        ("payment_intent_authentication_failure", None, "authentication_failed"),
        ("something_new", None, "card_declined"),
    ],
)
def test_stripe_declines_map_to_clear_messages(code, decline, ours):
    assert decline_code(code, decline) == ours
    assert CARD_MESSAGES[ours]
