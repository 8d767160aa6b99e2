"""Payment methods: list, add (the card number passes through one event and is never kept in
state; with Stripe it never reaches us: Stripe.js takes it), make default, remove (with the
last-card rule), update expiry."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import gateway_js
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
    # The gateway's own card field (Stripe.js) instead of ours; `card_form_ready` once mounted.
    gateway_form: bool = False
    card_form_ready: bool = False
    saving: bool = False

    def _refresh(self) -> None:
        self.cards = read(payment_methods_view.card_rows)
        self.loaded = True

    @rx.event
    @guarded("customer", feature="payment_methods.view")
    def load(self):
        self._refresh()

    @rx.event
    @guarded("customer", feature="payment_methods.add", error="add_error")
    def open_card_form(self):
        """The Add a card page: with Stripe, a SetupIntent for this customer and the card field
        mounted. The client secret goes in the script to this browser only, never into state."""
        self.add_error = ""
        return self._mount_card_form()

    def _mount_card_form(self):
        """A fresh card setup in the card field: a setup that failed (declined, refused by the
        bank) can't be used again."""
        self.card_form_ready, self.saving = False, False
        setup = write(payment_methods.start_card_setup)
        self.gateway_form = setup is not None
        if setup is None:
            return None
        return rx.call_script(gateway_js.mount_card(setup), callback=CardsState.card_form_mounted)

    @rx.event
    @guarded("customer", feature="payment_methods.add")  # keeps the error the remount follows
    def card_form_mounted(self, mounted):
        self.card_form_ready = mounted is True
        if mounted is not True:
            self.add_error = "The card form could not load. Reload the page to try again."

    @rx.event
    @guarded("customer", feature="payment_methods.add", error="add_error")
    def submit_card_form(self, form_data: dict):
        """Stripe.js confirms the card with Stripe; its answer comes back to `collected`."""
        self.add_error, self.saving = "", True
        return rx.call_script(
            gateway_js.confirm_card(make_default=bool(form_data.get("make_default"))),
            callback=CardsState.collected,
        )

    @rx.event
    @guarded("customer", feature="payment_methods.add", error="add_error")
    def collected(self, result: dict):
        """Save the card the browser says Stripe collected: the gateway checks with Stripe that
        the setup finished and is this customer's, whatever the browser sends."""
        self.saving = False
        if not isinstance(result, dict) or not result.get("setup_id"):
            message = result.get("error") if isinstance(result, dict) else None
            self.add_error = str(message or "The card was not accepted.")[:200]
            return self._mount_card_form()
        write(
            payment_methods.add_collected_card,
            setup_id=str(result["setup_id"])[:64],
            make_default=result.get("make_default") is True,
        )
        return [rx.redirect(routes.PAYMENT_METHODS), rx.toast.success("Card added.")]

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
