"""The few lines of browser script that drive Stripe.js: mount its card field, confirm a card
setup, confirm a payment (3-D Secure). Each is sent with `rx.call_script` to the one browser
that needs it; the client secret lives in that page's memory only (never in Reflex state, the
database or a log). Stripe.js (or localstripe's stand-in) is loaded on first use."""

from __future__ import annotations

import json

import reflex as rx

from portal_app.services.gateway import CardSetup

# Loads Stripe.js once; resolves to the Stripe object for `key`.
_LOAD = """
const portalStripe = (src, key) => new Promise((resolve, reject) => {
  if (window.Stripe) return resolve(window.Stripe(key));
  const script = document.createElement('script');
  script.src = src;
  script.onload = () => resolve(window.Stripe(key));
  script.onerror = () => reject(new Error('Stripe.js did not load'));
  document.head.appendChild(script);
});
const portalWaitFor = async (id) => {
  for (let i = 0; i < 100; i++) {
    const found = document.getElementById(id);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no #' + id);
};
"""

CARD_ELEMENT_ID = "card-element"


def card_field(ready: rx.Var) -> rx.Component:
    """Where Stripe.js mounts its card field (React leaves the box empty), with a loading line
    until `ready`."""
    return rx.fragment(
        rx.cond(
            ready,
            rx.fragment(),
            rx.hstack(rx.spinner(size="1"), rx.text("Loading the card form…", size="2")),
        ),
        rx.box(
            id=CARD_ELEMENT_ID,
            padding="0.75rem",
            border="1px solid var(--gray-7)",
            border_radius="var(--radius-3)",
            width="100%",
            min_height="2.75rem",
            data_testid="card-element",
        ),
        rx.text("Your card details go straight to Stripe.", size="1", color_scheme="gray"),
    )


def mount_card(setup: CardSetup) -> str:
    """Mount the card field for `setup` in #card-element (which React leaves empty, so only an
    earlier field is replaced); resolves to true once it is there."""
    return f"""(async () => {{ try {{
{_LOAD}
  const src = {json.dumps(setup.script_url)};
  const stripe = await portalStripe(src, {json.dumps(setup.publishable_key)});
  const place = await portalWaitFor({json.dumps(CARD_ELEMENT_ID)});
  place.replaceChildren();  // a field mounted before (a setup that failed)
  const card = stripe.elements().create('card');
  card.mount(place);
  window.__portalCard = {{ stripe, card, secret: {json.dumps(setup.client_secret)} }};
  return true;
}} catch (e) {{ console.log('card form', e); return false; }} }})()"""


def confirm_card(*, make_default: bool) -> str:
    """Confirm the mounted card with Stripe; resolves to {setup_id} or {error}."""
    return f"""(async () => {{
  const c = window.__portalCard;
  if (!c) return {{ error: 'The card form is not ready. Reload the page.' }};
  try {{
    const r = await c.stripe.confirmCardSetup(c.secret, {{ payment_method: {{ card: c.card }} }});
    if (r.error) return {{ error: (r.error && r.error.message) || 'The card was not accepted.' }};
    return {{ setup_id: r.setupIntent.id, make_default: {json.dumps(make_default)} }};
  }} catch (e) {{ return {{ error: 'The card was not accepted.' }}; }}
}})()"""


def confirm_payment(script_url: str, publishable_key: str, client_secret: str) -> str:
    """Run the bank's confirmation (3-D Secure) for a PaymentIntent; resolves to {done} or
    {error}. Whatever it says, the server asks Stripe for the outcome."""
    return f"""(async () => {{ try {{
{_LOAD}
  const stripe = await portalStripe({json.dumps(script_url)}, {json.dumps(publishable_key)});
  const r = await stripe.confirmCardPayment({json.dumps(client_secret)});
  return r.error ? {{ error: (r.error.message || 'not confirmed') }} : {{ done: true }};
}} catch (e) {{ return {{ error: 'not confirmed' }}; }} }})()"""
