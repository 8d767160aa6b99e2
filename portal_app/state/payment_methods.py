"""Payment methods: list, add (the card number passes through one event and is never kept in
state), make default, remove (with the last-card rule), update expiry."""

from __future__ import annotations

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.services import payment_methods
from portal_app.services.errors import NotFound, PortalError
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import CLOCK, PrivateState, current, guarded


def _card_rows(customer_id: int) -> list[dict[str, str]]:
    with read_scope() as session:
        return [
            {
                "id": str(card.id),
                "brand": card.brand.title(),
                "last4": card.last4,
                "expiry": f"{card.exp_month:02d}/{card.exp_year}",
                "default": "yes" if card.is_default else "",
            }
            for card in payment_methods.list_cards(session, customer_id)
        ]


class CardsState(PrivateState):
    cards: list[dict[str, str]] = []
    loaded: bool = False
    adding: bool = False
    add_error: str = ""
    confirm_remove_id: str = ""
    editing_id: str = ""
    edit_error: str = ""

    def _refresh(self) -> None:
        self.cards = _card_rows(current().customer_id)
        self.loaded = True

    @rx.event
    @guarded("customer", feature="payment_methods.view")
    def load(self):
        self._refresh()

    @rx.event
    @guarded("customer", feature="payment_methods.add")
    def add_card(self, form_data: dict):
        """The number arrives in this event's payload and leaves with the gateway call."""
        who = current()
        self.add_error = ""
        try:
            month, year = str(form_data.get("expiry", "")).replace(" ", "").split("/")
            exp_month, exp_year = int(month), int(year)
        except ValueError:
            self.add_error = "Enter the expiry as MM/YY."
            return
        try:
            with session_scope() as session:
                payment_methods.add_card(
                    session,
                    CLOCK,
                    configured_gateway(),
                    customer_id=who.customer_id,
                    number=str(form_data.get("number", "")),
                    exp_month=exp_month,
                    exp_year=exp_year,
                    cvc=str(form_data.get("cvc", "")),
                    make_default=bool(form_data.get("make_default")),
                    actor=who.actor,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.add_error = str(exc)
            return
        self._refresh()
        return [rx.redirect("/payment-methods"), rx.toast.success("Card added.")]

    @rx.event
    @guarded("customer", feature="payment_methods.set_default")
    def make_default(self, payment_method_id: int):
        who = current()
        with session_scope() as session:
            payment_methods.set_default(
                session,
                CLOCK,
                customer_id=who.customer_id,
                payment_method_id=int(payment_method_id),
                actor=who.actor,
            )
        self._refresh()
        return rx.toast.success("Default card updated.")

    @rx.event
    @guarded("customer", feature="payment_methods.remove")
    def ask_remove(self, payment_method_id: int):
        """Opens the confirmation; the id is only remembered for the dialog."""
        self.confirm_remove_id = str(int(payment_method_id))

    @rx.event
    @guarded("customer", feature="payment_methods.remove")
    def cancel_remove(self):
        self.confirm_remove_id = ""

    @rx.event
    @guarded("customer", feature="payment_methods.remove")
    def remove(self, payment_method_id: int):
        who = current()
        self.confirm_remove_id = ""
        with session_scope() as session:
            payment_methods.remove_card(
                session,
                CLOCK,
                customer_id=who.customer_id,
                payment_method_id=int(payment_method_id),
                actor=who.actor,
            )
        self._refresh()
        return rx.toast.success("Card removed.")

    @rx.event
    @guarded("customer", feature="payment_methods.update_expiry")
    def start_edit(self, payment_method_id: int):
        self.editing_id, self.edit_error = str(int(payment_method_id)), ""

    @rx.event
    @guarded("customer", feature="payment_methods.update_expiry")
    def stop_edit(self):
        self.editing_id, self.edit_error = "", ""

    @rx.event
    @guarded("customer", feature="payment_methods.update_expiry")
    def update_expiry(self, form_data: dict):
        who = current()
        try:
            month, year = str(form_data.get("expiry", "")).replace(" ", "").split("/")
            exp_month, exp_year = int(month), int(year)
        except ValueError:
            self.edit_error = "Enter the expiry as MM/YY."
            return
        try:
            with session_scope() as session:
                payment_methods.update_expiry(
                    session,
                    CLOCK,
                    configured_gateway(),
                    customer_id=who.customer_id,
                    payment_method_id=int(self.editing_id or 0),
                    exp_month=exp_month,
                    exp_year=exp_year,
                    actor=who.actor,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.edit_error = str(exc)
            return
        self.editing_id, self.edit_error = "", ""
        self._refresh()
        return rx.toast.success("Expiry updated.")
