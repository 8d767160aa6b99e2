"""Subscriptions: change plan or billing cycle with an itemised preview before confirming,
pause and resume, cancel and reactivate, and pending scheduled changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import reflex as rx

from portal_app import routes
from portal_app.money import format_money
from portal_app.services import plan_changes, subscriptions, subscriptions_view
from portal_app.services.errors import PortalError, SubscriptionError
from portal_app.services.subscriptions_view import (  # noqa: F401  (the page's labels)
    STATUS_LABELS,
    PlanOption,
    SubscriptionRow,
)
from portal_app.state.guard import PrivateState, Refreshing, guarded, read, write

TIMING_LABELS = {"immediate": "Now, with proration", "period_end": "At the end of this period"}
# The change page's path ends so (its id is in the middle): /subscriptions/[id]/change
_CHANGE_PAGE_END = routes.SUBSCRIPTION_CHANGE.rsplit("]", 1)[1]


def resume_on(form_data: dict) -> datetime | None:
    """The day a pause form's `resume_on` names (None: until resumed by hand); not a date is a
    refusal the guard shows as the form's error."""
    raw = str(form_data.get("resume_on", "")).strip()
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC) if raw else None
    except ValueError:
        raise SubscriptionError("Pick a valid date.") from None


@dataclass
class PreviewLine:
    description: str = ""
    amount: str = ""


class SubscriptionsState(Refreshing, PrivateState):
    items: list[SubscriptionRow] = []
    loaded: bool = False
    # the change being previewed
    changing_id: str = ""
    options: list[PlanOption] = []
    chosen_price_id: str = ""
    timing: str = ""
    allowed_timings: list[str] = []
    preview_lines: list[PreviewLine] = []
    preview_summary: str = ""
    preview_version: int = 0
    preview_error: str = ""
    pause_error: str = ""

    def _refresh(self) -> None:
        self.items = read(subscriptions_view.subscription_rows)
        self.loaded = True

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def load(self):
        self._refresh()
        subscription_id = self.router.page.params.get("id", "")
        if subscription_id.isdigit() and self.router.page.path.endswith(_CHANGE_PAGE_END):
            self._open_change(int(subscription_id))

    def _open_change(self, subscription_id: int) -> None:
        self.changing_id = str(subscription_id)
        self.options = read(subscriptions_view.change_options, subscription_id=subscription_id)
        self.chosen_price_id, self.preview_lines, self.preview_summary = "", [], ""
        self.preview_error, self.timing, self.allowed_timings = "", "", []

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def open_change(self, subscription_id: int):
        self._open_change(int(subscription_id))

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def close_change(self):
        self.changing_id, self.options, self.preview_lines = "", [], []
        self.preview_summary, self.preview_error = "", ""

    def _preview(self) -> None:
        """The itemised preview of the chosen change; a refusal (the guard's `preview_error`)
        leaves no preview on the page."""
        self.preview_lines, self.preview_summary = [], ""
        preview = read(
            plan_changes.preview_change,
            subscription_id=int(self.changing_id),
            new_price_id=int(self.chosen_price_id),
            timing=self.timing or None,
        )
        self.timing = preview.timing
        self.allowed_timings = list(preview.allowed_timings)
        self.preview_version = preview.version
        self.preview_summary = preview.summary()
        self.preview_lines = [
            PreviewLine(line.description, format_money(line.amount, preview.currency))
            for line in preview.lines
        ]

    @rx.event
    @guarded("customer", feature="subscriptions.view", error="preview_error")
    def choose_price(self, price_id: str):
        self.chosen_price_id, self.timing = str(int(price_id)), ""
        self._preview()

    @rx.event
    @guarded("customer", feature="subscriptions.view", error="preview_error")
    def choose_timing(self, timing: str):
        if timing not in TIMING_LABELS:
            return
        self.timing = timing
        self._preview()

    @rx.event
    @guarded("customer", feature="subscriptions.view", error="preview_error")
    def confirm_change(self):
        """Apply the previewed change. On the list page the list is re-read here (one session
        check, one read); from a change link (/subscriptions/<id>/change) the redirect's page
        load reads it instead, so nothing is read twice."""
        result = write(
            plan_changes.change_plan,
            subscription_id=int(self.changing_id),
            new_price_id=int(self.chosen_price_id),
            timing=self.timing or None,
            expected_version=self.preview_version,
        )
        self.changing_id, self.options, self.preview_lines = "", [], []
        done = (
            "Your plan has changed."
            if result.preview.timing == "immediate"
            else "Your change is scheduled for the end of the period."
        )
        if self.router.page.path.endswith(_CHANGE_PAGE_END):
            return [rx.toast.success(done), rx.redirect(routes.SUBSCRIPTIONS)]
        return self._changed(done)

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def undo_scheduled_change(self, subscription_id: int):
        write(plan_changes.cancel_scheduled_change, subscription_id=int(subscription_id))
        return self._changed("The scheduled change was cancelled.")

    @rx.event
    @guarded("customer", feature="subscriptions.pause", error="pause_error")
    def pause(self, form_data: dict):
        resume_at = resume_on(form_data)
        write(
            subscriptions.pause,
            subscription_id=int(form_data.get("subscription_id", 0)),
            resume_at=resume_at,
        )
        return self._changed("Your subscription is paused. Billing has stopped.")

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def resume(self, subscription_id: int):
        """Open even with pausing turned off: only new pauses are refused (services check)."""
        write(subscriptions.resume, subscription_id=int(subscription_id))
        return self._changed("Welcome back! Your subscription is active again.")

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def cancel_direct(self, subscription_id: int):
        """For paused and past-due subscriptions, which the save flow does not take (and active
        ones when the merchant's flow has no step). The service records the attempt; an active
        subscription whose flow has a survey or offers is sent to the flow instead."""
        subscription_id = int(subscription_id)
        try:
            ended_now = write(subscriptions_view.cancel_directly, subscription_id=subscription_id)
        except PortalError as exc:
            if exc.code != "flow_required":
                raise
            return rx.redirect(routes.subscription_cancel(subscription_id))
        return self._changed(
            "Your subscription has been cancelled."
            if ended_now
            else "Your subscription will end at the end of the billing period."
        )

    @rx.event
    @guarded("customer", feature="subscriptions.reactivate")
    def reactivate(self, subscription_id: int):
        write(subscriptions.reactivate, subscription_id=int(subscription_id))
        return self._changed("Your subscription is active.")
