"""A customer's saved cards: add (through the gateway's vault), choose the default, update the
expiry, remove. Portal keeps only brand, last4, expiry and the gateway token; a card number lives
only for the duration of the tokenize call and never reaches a row, a log line, an exception
message or an audit event.

Every id from the caller is re-scoped to the customer: a card of another customer is "not found".
A customer with cards has exactly one default card. Services flush, the caller commits."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Customer, Payment, PaymentMethod, Price, Subscription
from portal_app.models.billing import SubscriptionStatus
from portal_app.services import audit
from portal_app.services.errors import CardError, NotFound, PaymentMethodError
from portal_app.services.features import require_feature
from portal_app.services.gateway import CardSetup, PaymentGateway, TokenizedCard

# A subscription in one of these states will be charged again, so it needs a card on file.
PAYING_STATUSES = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.PAUSED,
)

CARD_NOT_FOUND = "Card not found."
LAST_CARD_REFUSAL = (
    "This is your only card and you have a paid subscription, so it can't be removed. "
    "Add another card first, then remove this one."
)


def card_label(brand: str, last4: str) -> str:
    """How a card is named everywhere (pages, PDFs): brand and last four digits only, whatever
    the row holds."""
    digits = re.sub(r"\D", "", last4 or "")[-4:]
    name = (brand or "card").strip().title() or "Card"
    return f"{name} •••• {digits}" if digits else name


def list_cards(session: Session, customer_id: int) -> list[PaymentMethod]:
    """The customer's cards: the default first, then the newest."""
    return list(
        session.exec(
            select(PaymentMethod)
            .where(PaymentMethod.customer_id == customer_id)
            .order_by(
                PaymentMethod.is_default.desc(),
                PaymentMethod.created_at.desc(),
                PaymentMethod.id.desc(),
            )
        )
    )


def default_card_of(customer_id):
    """The criteria of a customer's default card (`customer_id` may be a bind parameter)."""
    return (PaymentMethod.customer_id == customer_id, PaymentMethod.is_default)


def default_card(session: Session, customer_id: int) -> PaymentMethod | None:
    return session.exec(
        select(PaymentMethod).where(*default_card_of(customer_id)).order_by(PaymentMethod.id)
    ).first()


def add_card(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str,
    make_default: bool = False,
    actor: audit.Actor,
) -> PaymentMethod:
    """Vault a card with the gateway and save it. The first card becomes the default; with
    `make_default` the new card takes the default flag from the old one in the same flush."""
    customer, existing = _customer_cards(
        session, customer_id, actor, "payment_methods.add", not_found="Customer not found."
    )
    tokenized = gateway.tokenize(session, clock, number, exp_month, exp_year, cvc)
    return _save_card(session, clock, gateway, customer, existing, tokenized, make_default, actor)


def start_card_setup(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    actor: audit.Actor,
) -> CardSetup | None:
    """What the browser needs to collect a card with the gateway's own form (Stripe.js), or
    None when our form collects it (the sandbox). Checked like adding a card."""
    customer, _ = _customer_cards(
        session, customer_id, actor, "payment_methods.add", not_found="Customer not found."
    )
    return gateway.card_setup(session, clock, customer_id=customer.id)


def add_collected_card(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    setup_id: str,
    make_default: bool = False,
    reference: str = "",
    actor: audit.Actor,
) -> PaymentMethod:
    """Save the card a finished card setup collected (the gateway checks it is this customer's);
    as `add_card` otherwise. The same setup twice saves one card."""
    customer, existing = _customer_cards(
        session, customer_id, actor, "payment_methods.add", not_found="Customer not found."
    )
    tokenized = gateway.attach_card(
        session, clock, customer_id=customer.id, setup_id=setup_id, reference=reference
    )
    for card in existing:
        if card.gateway_token == tokenized.token:
            return card
    return _save_card(session, clock, gateway, customer, existing, tokenized, make_default, actor)


def _save_card(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    customer: Customer,
    existing: list[PaymentMethod],
    tokenized: TokenizedCard,
    make_default: bool,
    actor: audit.Actor,
) -> PaymentMethod:
    previous_default = next((card for card in existing if card.is_default), None)
    becomes_default = not existing or bool(make_default) or previous_default is None
    card = PaymentMethod(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        gateway_token=tokenized.token,
        brand=tokenized.brand,
        last4=tokenized.last4,
        exp_month=tokenized.exp_month,
        exp_year=tokenized.exp_year,
        is_default=becomes_default,
        created_at=clock.now(),
    )
    with _changing(
        session,
        clock,
        card,
        actor,
        "payment_method.add",
        before=_default_of(previous_default),
        snapshot=lambda c: {
            **_summary(c),
            "default_payment_method_id": _default_id(c, previous_default),
        },
    ):
        if becomes_default:
            _clear_default(session, existing)
    if becomes_default:
        gateway.set_default(session, clock, customer_id=customer.id, token=card.gateway_token)
    return card


def set_default(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway | None = None,
    *,
    customer_id: int,
    payment_method_id: int,
    actor: audit.Actor,
) -> PaymentMethod:
    """Make one of the customer's cards the default, at the gateway too when one is given."""
    _, cards = _customer_cards(session, customer_id, actor, "payment_methods.set_default")
    card = _pick(cards, payment_method_id)
    previous = next((c for c in cards if c.is_default), None)
    if previous is not None and previous.id == card.id:
        return card
    with _changing(
        session,
        clock,
        card,
        actor,
        "payment_method.set_default",
        before=_default_of(previous),
        snapshot=lambda c: {"default_payment_method_id": c.id, "brand": c.brand, "last4": c.last4},
    ):
        _clear_default(session, cards)
        card.is_default = True
    if gateway is not None:
        gateway.set_default(session, clock, customer_id=card.customer_id, token=card.gateway_token)
    return card


def remove_card(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway | None = None,
    *,
    customer_id: int,
    payment_method_id: int,
    actor: audit.Actor,
) -> PaymentMethod | None:
    """Remove a card; returns the default card afterwards (None when no card is left).

    The last card cannot go while a paid subscription still needs it. When the default goes and
    other cards remain, the newest remaining card becomes the default. Past payments keep their
    amounts and receipts keep brand/last4; their link to the removed card is cleared."""
    customer, cards = _customer_cards(session, customer_id, actor, "payment_methods.remove")
    card = _pick(cards, payment_method_id)
    remaining = [c for c in cards if c.id != card.id]
    if not remaining and has_paid_subscription(session, customer.id):
        raise PaymentMethodError(LAST_CARD_REFUSAL, code="last_card_required")
    summary = _summary(card)
    summary_token = card.gateway_token
    card_id = card.id
    for payment in session.exec(select(Payment).where(Payment.payment_method_id == card_id)).all():
        payment.payment_method_id = None
        session.add(payment)
    session.flush()  # unlink before the delete: the foreign key is checked per statement
    session.delete(card)
    session.flush()
    new_default = next((c for c in remaining if c.is_default), None)
    if new_default is None and remaining:
        new_default = max(remaining, key=lambda c: (c.created_at, c.id))
        new_default.is_default = True
        session.add(new_default)
        session.flush()
    audit.record(
        session,
        clock,
        merchant_id=customer.merchant_id,
        actor=actor,
        action="payment_method.remove",
        target_type="payment_method",
        target_id=card_id,
        customer_id=customer.id,
        before=summary,
        after=_default_of(new_default),
    )
    if gateway is not None:
        gateway.detach(session, clock, summary_token)
        if new_default is not None and new_default.is_default:
            gateway.set_default(
                session, clock, customer_id=customer.id, token=new_default.gateway_token
            )
    return new_default


def update_expiry(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    customer_id: int,
    payment_method_id: int,
    exp_month: int,
    exp_year: int,
    actor: audit.Actor,
) -> PaymentMethod:
    """Validate the new expiry with the gateway (which updates its vault), then the saved card."""
    _, cards = _customer_cards(session, customer_id, actor, "payment_methods.update_expiry")
    card = _pick(cards, payment_method_id)
    gateway.update_expiry(session, clock, card.gateway_token, exp_month, exp_year)
    month, year = _expiry_ints(exp_month, exp_year)
    with _changing(
        session,
        clock,
        card,
        actor,
        "payment_method.update_expiry",
        snapshot=_expiry,
        only_if_changed=True,
    ):
        card.exp_month = month
        card.exp_year = year
    return card


def has_paid_subscription(session: Session, customer_id: int) -> bool:
    """Whether a subscription of the customer will be charged again (and so needs a card)."""
    row = session.exec(
        select(Subscription.id)
        .join(Price, Price.id == Subscription.price_id)
        .where(
            Subscription.customer_id == customer_id,
            Subscription.status.in_(PAYING_STATUSES),
            Price.amount > 0,
        )
    ).first()
    return row is not None


def _lock_customer(
    session: Session, customer_id: int, actor: audit.Actor, not_found: str
) -> Customer:
    """The customer row, locked until commit (PostgreSQL) so two requests changing the same
    customer's cards run one after the other; SQLite serialises writers at BEGIN already.
    A customer actor, or staff acting for a customer, may only act on that customer's cards."""
    if isinstance(customer_id, bool) or not isinstance(customer_id, int):
        raise NotFound(not_found)
    if actor.type == "customer" and actor.id != str(customer_id):
        raise NotFound(not_found)
    if actor.for_customer is not None and actor.for_customer != customer_id:
        raise NotFound(not_found)
    customer = session.exec(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    ).first()
    if customer is None:
        raise NotFound(not_found)
    return customer


def _customer_cards(
    session: Session,
    customer_id: int,
    actor: audit.Actor,
    feature: str,
    *,
    not_found: str = CARD_NOT_FOUND,
) -> tuple[Customer, list[PaymentMethod]]:
    """What every card change starts with: the customer locked (`_lock_customer`), the
    merchant's switch for the change checked, and the customer's cards."""
    customer = _lock_customer(session, customer_id, actor, not_found)
    require_feature(session, customer.merchant_id, feature)
    return customer, list_cards(session, customer.id)


def _pick(cards: list[PaymentMethod], payment_method_id: Any) -> PaymentMethod:
    for card in cards:
        if card.id == payment_method_id and not isinstance(payment_method_id, bool):
            return card
    raise NotFound(CARD_NOT_FOUND)


def _clear_default(session: Session, cards: list[PaymentMethod]) -> None:
    """Unset the flag first, in its own flush, so a unique 'one default' index never sees two."""
    changed = False
    for card in cards:
        if card.is_default:
            card.is_default = False
            session.add(card)
            changed = True
    if changed:
        session.flush()


def _changing(
    session: Session, clock: Clock, card: PaymentMethod, actor: audit.Actor, action: str, **how
):
    """A recorded change of a card (merchant and customer are the card's)."""
    return audit.changing(
        session, clock, card, actor=actor, action=action, target_type="payment_method", **how
    )


def _default_of(card: PaymentMethod | None) -> dict[str, Any]:
    return {"default_payment_method_id": card.id if card else None}


def _expiry(card: PaymentMethod) -> dict[str, Any]:
    return {
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "brand": card.brand,
        "last4": card.last4,
    }


def _default_id(card: PaymentMethod, previous: PaymentMethod | None) -> int | None:
    if card.is_default:
        return card.id
    return previous.id if previous else None


def _summary(card: PaymentMethod) -> dict[str, Any]:
    return {
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "is_default": card.is_default,
    }


def _expiry_ints(exp_month: Any, exp_year: Any) -> tuple[int, int]:
    """The month and four-digit year the gateway accepted (it takes "03"/"27" as well as ints)."""
    try:
        month = int(str(exp_month).strip())
        year = int(str(exp_year).strip())
    except ValueError:
        raise CardError("Your card's expiration date is invalid.", code="invalid_expiry") from None
    if 0 <= year <= 99:
        year += 2000
    return month, year
