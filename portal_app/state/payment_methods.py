"""Payment methods: list, add (the card number passes through one event and is never kept in
state), make default, remove (with the last-card rule), update expiry."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.services import payment_methods, payment_methods_view
from portal_app.services.errors import PaymentMethodError
from portal_app.services.payment_methods_view import CardRow
from portal_app.state.guard import PrivateState, Refreshing, guarded, read, write


def _expiry(form_data: dict) -> tuple[int, int]:
    """(month, year) from the form's "MM/YY"; if it is not that, a refusal the guard shows as the
    form's error."""
    try:
        month, year = str(form_data.get("expiry", "")).replace(" ", "").split("/")
        return int(month), int(year)
    except ValueError:
        raise PaymentMethodError("Enter the expiry as MM/YY.") from None


class CardsState(Refreshing, PrivateState):
    cards: list[CardRow] = []
    loaded: bool = False
    add_error: str = ""
    confirm_remove_id: str = ""
    editing_id: str = ""
    edit_error: str = ""

    def _refresh(self) -> None:
        self.cards = read(payment_methods_view.card_rows)
        self.loaded = True

    @rx.event
    @guarded("customer", feature="payment_methods.view")
    def load(self):
        self._refresh()

    @rx.event
    @guarded("customer", feature="payment_methods.add", error="add_error")
    def add_card(self, form_data: dict):
        """The number arrives in this event's payload and leaves with the gateway call."""
        exp_month, exp_year = _expiry(form_data)
        write(
            payment_methods.add_card,
            number=str(form_data.get("number", "")),
            exp_month=exp_month,
            exp_year=exp_year,
            cvc=str(form_data.get("cvc", "")),
            make_default=bool(form_data.get("make_default")),
        )
        return [rx.redirect(routes.PAYMENT_METHODS), rx.toast.success("Card added.")]

    @rx.event
    @guarded("customer", feature="payment_methods.set_default")
    def make_default(self, payment_method_id: int):
        write(payment_methods.set_default, payment_method_id=int(payment_method_id))
        return self._changed("Default card updated.")

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
        self.confirm_remove_id = ""
        write(payment_methods.remove_card, payment_method_id=int(payment_method_id))
        return self._changed("Card removed.")

    @rx.event
    @guarded("customer", feature="payment_methods.update_expiry")
    def start_edit(self, payment_method_id: int):
        self.editing_id, self.edit_error = str(int(payment_method_id)), ""

    @rx.event
    @guarded("customer", feature="payment_methods.update_expiry")
    def stop_edit(self):
        self.editing_id, self.edit_error = "", ""

    @rx.event
    @guarded("customer", feature="payment_methods.update_expiry", error="edit_error")
    def update_expiry(self, form_data: dict):
        exp_month, exp_year = _expiry(form_data)
        write(
            payment_methods.update_expiry,
            payment_method_id=int(self.editing_id or 0),
            exp_month=exp_month,
            exp_year=exp_year,
        )
        self.editing_id = ""
        return self._changed("Expiry updated.")
