"""The cancellation flow at /subscriptions/<id>/cancel: survey → offers routed by reason (pause
instead, a cheaper plan, a retention discount) → confirm. The attempt id stays server-side."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.services import cancellation, subscription_cancel_view
from portal_app.services.subscription_cancel_view import Reason
from portal_app.state.guard import PrivateState, guarded, write
from portal_app.state.subscriptions import resume_on


class CancelFlowState(PrivateState):
    _attempt_id: int = 0
    step: str = ""  # survey | offers | confirm | done
    reasons: list[Reason] = []
    chosen_reason: str = ""  # a UI flag: "other" asks for the reason in words
    offer_order: list[str] = []
    pause_text: str = ""
    downgrade_text: str = ""
    downgrade_price_id: str = ""
    discount_text: str = ""
    discount_offer_id: str = ""
    cancel_choice: bool = False  # the merchant lets the customer choose now / period end
    error: str = ""
    done_message: str = ""

    def _write(self, service, **arguments):
        """`write` for this flow's attempt: every step's service takes its id."""
        return write(service, attempt_id=self._attempt_id, **arguments)

    def _finish(self, message: str) -> None:
        """The flow is over: the done step, saying what happened."""
        self.step, self.done_message = "done", message

    @rx.event
    @guarded("customer", feature="subscriptions.cancel", error="error")
    def load(self):
        self.done_message = ""
        subscription_id = self.router.page.params.get("id", "")
        # "done" is what a refusal leaves on the page, with the guard's message in `error`
        self.step = "done"
        if not subscription_id.isdigit():
            self.error = "Subscription not found."
            return
        started = write(subscription_cancel_view.start, subscription_id=int(subscription_id))
        self._attempt_id = started.attempt_id
        self.cancel_choice = started.cancel_choice
        self.reasons = started.reasons
        self.chosen_reason = ""
        self.step = "survey" if started.survey else "confirm"
        if self.step == "confirm":
            self._show_offers()

    def _show_offers(self) -> None:
        found = self._write(subscription_cancel_view.show_offers)
        self.offer_order = list(found.order)
        self.pause_text = found.pause.summary() if found.pause else ""
        self.downgrade_text = found.downgrade.summary() if found.downgrade else ""
        self.downgrade_price_id = str(found.downgrade.price_id) if found.downgrade else ""
        self.discount_text = found.discount.summary() if found.discount else ""
        self.discount_offer_id = str(found.discount.offer_id) if found.discount else ""
        self.step = "offers" if found.any else "confirm"

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def choose_reason(self, reason: str):
        """Which reason is picked, so "other" can ask for the reason in words (UI only: the
        service checks the answer on Continue)."""
        self.chosen_reason = str(reason)[:64]

    @rx.event
    @guarded("customer", feature="subscriptions.cancel", error="error")
    def submit_survey(self, form_data: dict):
        self._write(
            cancellation.answer_survey,
            reason=str(form_data.get("reason", "")),
            comment=str(form_data.get("comment", ""))[:2000],
        )
        self._show_offers()

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def take_discount(self):
        self._write(cancellation.accept_offer, offer_id=int(self.discount_offer_id or 0))
        self._finish("Great, you're staying! " + self.discount_text)

    @rx.event
    @guarded("customer", feature="subscriptions.cancel", error="error")
    def take_pause(self, form_data: dict):
        self._write(cancellation.accept_pause, resume_at=resume_on(form_data))
        self._finish("Your subscription is paused. Billing has stopped until it resumes.")

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def take_downgrade(self):
        self._write(cancellation.accept_downgrade, new_price_id=int(self.downgrade_price_id or 0))
        self._finish("Done. " + self.downgrade_text)

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def go_to_confirm(self):
        self.step = "confirm"

    @rx.event
    @guarded("customer", feature="subscriptions.cancel", error="error")
    def confirm(self, form_data: dict):
        when = str(form_data.get("when", ""))
        at_period_end = {"period_end": True, "now": False}.get(when)
        self._write(cancellation.confirm_cancel, at_period_end=at_period_end)
        self._finish(
            "Your subscription has been cancelled."
            if at_period_end is False
            else "Your subscription will end at the end of the billing period. You can "
            "reactivate it until then."
        )

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def keep(self):
        self._write(cancellation.abandon)
        return rx.redirect(routes.SUBSCRIPTIONS)
