"""The cancellation flow at /subscriptions/<id>/cancel: survey → offers routed by reason (pause
instead, a cheaper plan, a retention discount) → confirm. The attempt id stays server-side."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx

from portal_app.db import session_scope
from portal_app.services import cancellation, features
from portal_app.services.errors import NotFound, PortalError
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import CLOCK, PrivateState, current, guarded

REASON_LABELS = {
    "too_expensive": "It's too expensive",
    "missing_features": "Some features are missing",
    "switched_service": "I'm switching to another service",
    "unused": "I don't use it enough",
    "customer_service": "Customer service was not good enough",
    "too_complex": "It's too complicated",
    "low_quality": "Quality was lower than expected",
    "other": "Another reason",
}


class CancelFlowState(PrivateState):
    _attempt_id: int = 0
    step: str = ""  # survey | offers | confirm | done
    reasons: list[dict[str, str]] = []
    offer_order: list[str] = []
    pause_text: str = ""
    downgrade_text: str = ""
    downgrade_price_id: str = ""
    discount_text: str = ""
    discount_offer_id: str = ""
    cancel_choice: bool = False  # the merchant lets the customer choose now / period end
    error: str = ""
    done_message: str = ""

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def load(self):
        who = current()
        self.error, self.done_message = "", ""
        subscription_id = self.router.page.params.get("id", "")
        if not subscription_id.isdigit():
            self.step, self.error = "done", "Subscription not found."
            return
        try:
            with session_scope() as session:
                attempt = cancellation.start(
                    session,
                    CLOCK,
                    customer_id=who.customer_id,
                    subscription_id=int(subscription_id),
                    actor=who.actor,
                )
                settings = features.load(session, who.merchant_id)
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.step, self.error = "done", str(exc)
            return
        self._attempt_id = attempt.id
        self.cancel_choice = settings["cancel.mode"] == "customer_choice"
        self.reasons = [
            {"key": key, "label": REASON_LABELS.get(key, key.replace("_", " ").capitalize())}
            for key in settings["cancel.reasons"]
        ]
        self.step = "survey" if settings.enabled("cancel.survey") else "confirm"
        if self.step == "confirm":
            self._show_offers()

    def _show_offers(self) -> None:
        who = current()
        with session_scope() as session:
            found = cancellation.offers(
                session, CLOCK, customer_id=who.customer_id, attempt_id=self._attempt_id
            )
            cancellation.record_offers_shown(
                session,
                CLOCK,
                customer_id=who.customer_id,
                attempt_id=self._attempt_id,
                offers=found,
                actor=who.actor,
            )
        self.offer_order = list(found.order)
        self.pause_text = found.pause.summary() if found.pause else ""
        self.downgrade_text = found.downgrade.summary() if found.downgrade else ""
        self.downgrade_price_id = str(found.downgrade.price_id) if found.downgrade else ""
        self.discount_text = found.discount.summary() if found.discount else ""
        self.discount_offer_id = str(found.discount.offer_id) if found.discount else ""
        self.step = "offers" if found.any else "confirm"

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def submit_survey(self, form_data: dict):
        who = current()
        self.error = ""
        try:
            with session_scope() as session:
                cancellation.answer_survey(
                    session,
                    CLOCK,
                    customer_id=who.customer_id,
                    attempt_id=self._attempt_id,
                    reason=str(form_data.get("reason", "")),
                    comment=str(form_data.get("comment", ""))[:2000],
                    actor=who.actor,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.error = str(exc)
            return
        self._show_offers()

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def take_discount(self):
        who = current()
        with session_scope() as session:
            cancellation.accept_offer(
                session,
                CLOCK,
                customer_id=who.customer_id,
                attempt_id=self._attempt_id,
                offer_id=int(self.discount_offer_id or 0),
                actor=who.actor,
            )
        self.step, self.done_message = "done", "Great, you're staying! " + self.discount_text

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def take_pause(self, form_data: dict):
        who = current()
        self.error = ""
        raw = str(form_data.get("resume_on", "")).strip()
        try:
            resume_at = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC) if raw else None
        except ValueError:
            self.error = "Pick a valid date."
            return
        try:
            with session_scope() as session:
                cancellation.accept_pause(
                    session,
                    CLOCK,
                    customer_id=who.customer_id,
                    attempt_id=self._attempt_id,
                    resume_at=resume_at,
                    actor=who.actor,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.error = str(exc)
            return
        self.step = "done"
        self.done_message = "Your subscription is paused. Billing has stopped until it resumes."

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def take_downgrade(self):
        who = current()
        with session_scope() as session:
            cancellation.accept_downgrade(
                session,
                CLOCK,
                customer_id=who.customer_id,
                attempt_id=self._attempt_id,
                new_price_id=int(self.downgrade_price_id or 0),
                gateway=configured_gateway(),
                actor=who.actor,
            )
        self.step, self.done_message = "done", "Done. " + self.downgrade_text

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def go_to_confirm(self):
        self.step = "confirm"

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def confirm(self, form_data: dict):
        who = current()
        when = str(form_data.get("when", ""))
        at_period_end = {"period_end": True, "now": False}.get(when)
        self.error = ""
        try:
            with session_scope() as session:
                cancellation.confirm_cancel(
                    session,
                    CLOCK,
                    customer_id=who.customer_id,
                    attempt_id=self._attempt_id,
                    at_period_end=at_period_end,
                    actor=who.actor,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.error = str(exc)
            return
        self.step = "done"
        self.done_message = (
            "Your subscription has been cancelled."
            if at_period_end is False
            else "Your subscription will end at the end of the billing period. You can "
            "reactivate it until then."
        )

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def keep(self):
        who = current()
        with session_scope() as session:
            cancellation.abandon(
                session,
                CLOCK,
                customer_id=who.customer_id,
                attempt_id=self._attempt_id,
                actor=who.actor,
            )
        return rx.redirect("/subscriptions")
