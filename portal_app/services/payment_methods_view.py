"""What the payment methods page shows: the customer's saved cards as display rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.services import payment_methods


@dataclass
class CardRow:
    id: str = ""
    brand: str = ""
    last4: str = ""
    expiry: str = ""  # MM/YYYY
    default: str = ""  # "yes" for the default card


def card_rows(session: Session, clock: Clock, *, customer_id: int) -> list[CardRow]:
    return [
        CardRow(
            id=str(card.id),
            brand=card.brand.title(),
            last4=card.last4,
            expiry=f"{card.exp_month:02d}/{card.exp_year}",
            default="yes" if card.is_default else "",
        )
        for card in payment_methods.list_cards(session, customer_id)
    ]
