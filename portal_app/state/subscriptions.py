"""Subscriptions: change plan or billing cycle with an itemised preview before confirming,
pause and resume, cancel and reactivate, and pending scheduled changes."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx

from portal_app.db import read_scope, session_scope
from portal_app.money import format_money
from portal_app.services import cancellation, catalog, features, subscriptions
from portal_app.services.errors import NotFound, PortalError
from portal_app.services.gateway import configured_gateway
from portal_app.state.guard import CLOCK, PrivateState, current, guarded

TIMING_LABELS = {"immediate": "Now, with proration", "period_end": "At the end of this period"}


def _date(value) -> str:
    return value.strftime("%d %b %Y") if value else ""


def read_subscriptions(customer_id: int) -> list[dict]:
    rows = []
    with read_scope() as session:
        for sub in subscriptions.list_for_customer(session, customer_id):
            info = catalog.price_info(session, sub.merchant_id, sub.price_id)
            change = subscriptions.pending_change(session, sub.id)
            pending = ""
            if change is not None:
                new = catalog.price_info(session, sub.merchant_id, change.new_price_id)
                pending = f"Changes to {new.label} on {_date(change.effective_at)}"
            rows.append(
                {
                    "id": str(sub.id),
                    "plan": info.label,
                    "price": f"{format_money(info.price.amount, info.price.currency)}"
                    f"/{info.price.interval}",
                    "status": sub.status,
                    "status_label": STATUS_LABELS.get(sub.status, sub.status),
                    "period_end": _date(sub.current_period_end),
                    "canceling": "yes" if sub.cancel_at_period_end else "",
                    "resume_at": _date(sub.resume_at),
                    "pending": pending,
                    "discount": f"{sub.discount_percent}% off for {sub.discount_cycles_remaining}"
                    " more renewals"
                    if sub.discount_cycles_remaining
                    else "",
                }
            )
    return rows


def read_options(customer_id: int, subscription_id: int) -> list[dict[str, str]]:
    """Prices the subscription could move to (same product, active, same currency)."""
    with read_scope() as session:
        sub = subscriptions.get_for_customer(session, customer_id, subscription_id)
        current_info = catalog.price_info(session, sub.merchant_id, sub.price_id)
        settings = features.load(session, sub.merchant_id)
        options = []
        for info in catalog.active_prices(session, sub.merchant_id):
            if info.price.id == sub.price_id:
                continue
            if info.plan.product_id != current_info.plan.product_id:
                continue
            if info.price.currency != current_info.price.currency:
                continue
            direction = catalog.direction(current_info, info)
            needed = [subscriptions.DIRECTION_FEATURE[direction]]
            if direction != "interval" and info.price.interval != current_info.price.interval:
                needed.append("subscriptions.change_interval")
            if not all(settings.enabled(key) for key in needed):
                continue  # the merchant does not offer this kind of change
            options.append(
                {
                    "price_id": str(info.price.id),
                    "label": info.label,
                    "amount": f"{format_money(info.price.amount, info.price.currency)}"
                    f"/{info.price.interval}",
                    "direction": direction,
                }
            )
    return options


# What the customer reads for each stored status (one spelling: "cancelled", as in every message).
STATUS_LABELS = {
    "active": "Active",
    "paused": "Paused",
    "past_due": "Past due",
    "canceled": "Cancelled",
}


class SubscriptionsState(PrivateState):
    items: list[dict] = []
    loaded: bool = False
    # the change being previewed
    changing_id: str = ""
    options: list[dict[str, str]] = []
    chosen_price_id: str = ""
    timing: str = ""
    allowed_timings: list[str] = []
    preview_lines: list[dict[str, str]] = []
    preview_summary: str = ""
    preview_version: int = 0
    preview_error: str = ""
    working: bool = False
    pause_error: str = ""

    def _refresh(self) -> None:
        self.items = read_subscriptions(current().customer_id)
        self.loaded = True

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def load(self):
        self._refresh()
        subscription_id = self.router.page.params.get("id", "")
        if subscription_id.isdigit() and self.router.page.path.endswith("/change"):
            self._open_change(int(subscription_id))

    def _open_change(self, subscription_id: int) -> None:
        self.changing_id = str(subscription_id)
        self.options = read_options(current().customer_id, subscription_id)
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
        who = current()
        self.preview_error = ""
        try:
            with read_scope() as session:
                preview = subscriptions.preview_change(
                    session,
                    CLOCK,
                    customer_id=who.customer_id,
                    subscription_id=int(self.changing_id),
                    new_price_id=int(self.chosen_price_id),
                    timing=self.timing or None,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.preview_lines, self.preview_summary = [], ""
            self.preview_error = str(exc)
            return
        self.timing = preview.timing
        self.allowed_timings = list(preview.allowed_timings)
        self.preview_version = preview.version
        self.preview_summary = preview.summary()
        self.preview_lines = [
            {"description": line.description, "amount": format_money(line.amount, preview.currency)}
            for line in preview.lines
        ]

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def choose_price(self, price_id: str):
        self.chosen_price_id, self.timing = str(int(price_id)), ""
        self._preview()

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def choose_timing(self, timing: str):
        if timing not in TIMING_LABELS:
            return
        self.timing = timing
        self._preview()

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def confirm_change(self):
        who = current()
        self.working = True
        try:
            with session_scope() as session:
                result = subscriptions.change_plan(
                    session,
                    CLOCK,
                    configured_gateway(),
                    customer_id=who.customer_id,
                    subscription_id=int(self.changing_id),
                    new_price_id=int(self.chosen_price_id),
                    timing=self.timing or None,
                    expected_version=self.preview_version,
                    actor=who.actor,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.preview_error = str(exc)
            self.working = False
            return
        self.working = False
        self.changing_id, self.options, self.preview_lines = "", [], []
        self._refresh()
        done = (
            "Your plan has changed."
            if result.preview.timing == "immediate"
            else "Your change is scheduled for the end of the period."
        )
        return [rx.toast.success(done), rx.redirect("/subscriptions")]

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def undo_scheduled_change(self, subscription_id: int):
        who = current()
        with session_scope() as session:
            subscriptions.cancel_scheduled_change(
                session,
                CLOCK,
                customer_id=who.customer_id,
                subscription_id=int(subscription_id),
                actor=who.actor,
            )
        self._refresh()
        return rx.toast.success("The scheduled change was cancelled.")

    @rx.event
    @guarded("customer", feature="subscriptions.pause")
    def pause(self, form_data: dict):
        who = current()
        self.pause_error = ""
        until = str(form_data.get("resume_on", "")).strip()
        try:
            resume_at = datetime.strptime(until, "%Y-%m-%d").replace(tzinfo=UTC) if until else None
        except ValueError:
            self.pause_error = "Pick a valid date."
            return
        try:
            with session_scope() as session:
                subscriptions.pause(
                    session,
                    CLOCK,
                    customer_id=who.customer_id,
                    subscription_id=int(form_data.get("subscription_id", 0)),
                    resume_at=resume_at,
                    actor=who.actor,
                )
        except NotFound:
            raise  # someone else's id: the guard refuses and audits it
        except PortalError as exc:
            self.pause_error = str(exc)
            return
        self._refresh()
        return rx.toast.success("Your subscription is paused. Billing has stopped.")

    @rx.event
    @guarded("customer", feature="subscriptions.view")
    def resume(self, subscription_id: int):
        """Open even with pausing turned off: only new pauses are refused (services check)."""
        who = current()
        with session_scope() as session:
            subscriptions.resume(
                session,
                CLOCK,
                customer_id=who.customer_id,
                subscription_id=int(subscription_id),
                actor=who.actor,
            )
        self._refresh()
        return rx.toast.success("Welcome back! Your subscription is active again.")

    @rx.event
    @guarded("customer", feature="subscriptions.cancel")
    def cancel_direct(self, subscription_id: int):
        """For paused and past-due subscriptions, which the save flow does not take (and active
        ones when the merchant's flow has no step). The service records the attempt; an active
        subscription whose flow has a survey or offers is sent to the flow instead."""
        who = current()
        subscription_id = int(subscription_id)
        try:
            with session_scope() as session:
                cancellation.cancel_directly(
                    session,
                    CLOCK,
                    customer_id=who.customer_id,
                    subscription_id=subscription_id,
                    at_period_end=None,
                    actor=who.actor,
                )
                sub = subscriptions.get_for_customer(session, who.customer_id, subscription_id)
                ended_now = sub.status == "canceled"
        except PortalError as exc:
            if exc.code != "flow_required":
                raise
            return rx.redirect(f"/subscriptions/{subscription_id}/cancel")
        self._refresh()
        return rx.toast.success(
            "Your subscription has been cancelled."
            if ended_now
            else "Your subscription will end at the end of the billing period."
        )

    @rx.event
    @guarded("customer", feature="subscriptions.reactivate")
    def reactivate(self, subscription_id: int):
        who = current()
        with session_scope() as session:
            subscriptions.reactivate(
                session,
                CLOCK,
                configured_gateway(),
                customer_id=who.customer_id,
                subscription_id=int(subscription_id),
                actor=who.actor,
            )
        self._refresh()
        return rx.toast.success("Your subscription is active.")
