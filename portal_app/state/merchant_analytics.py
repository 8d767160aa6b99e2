"""Staff: the analytics page. Figures come from services/analytics at the merchant's own time (a
demo merchant's test clock may run ahead); this state only turns them into chart rows (whole
major units: a chart needs numbers, not text) and table rows (exact, formatted money)."""

from __future__ import annotations

from fractions import Fraction
from typing import TypedDict

import reflex as rx

from portal_app import formatting
from portal_app.money import format_money, minor_unit_exponent, round_half_even
from portal_app.services import analytics, merchant_analytics_view
from portal_app.state.guard import PrivateState, guarded, read

OFFER_LABELS = {
    "saved_discount": "Took the discount",
    "saved_pause": "Paused instead",
    "saved_downgrade": "Switched to a cheaper plan",
}


class MrrNow(TypedDict):
    currency: str
    amount: str
    subscriptions: str


class MovementRow(TypedDict):
    month: str
    new: int
    churned: int


class PauseRow(TypedDict):
    month: str
    pauses: int
    resumes: int


class ReasonRow(TypedDict):
    reason: str
    flows: int
    canceled: int
    saved: int
    rate: str


class FunnelRow(TypedDict):
    stage: str
    count: int


class OfferRow(TypedDict):
    offer: str
    count: int


class CouponRow(TypedDict):
    coupon: str
    count: int


def _major(amount: int, currency: str) -> int:
    """Whole major units (half-even) for a chart axis; tables show the exact amount."""
    return round_half_even(Fraction(amount, 10 ** minor_unit_exponent(currency)))


class MerchantAnalyticsState(PrivateState):
    loaded: bool = False
    error: str = ""
    as_of: str = ""
    period: str = ""
    # MRR: chart rows {"month", <currency>: major units}, table rows {"month", <currency>: text}
    currencies: list[str] = []
    mrr_chart: list[dict[str, int | str]] = []
    mrr_table: list[dict[str, str]] = []
    mrr_now: list[MrrNow] = []
    movements: list[MovementRow] = []
    has_movements: bool = False
    new_this_month: int = 0
    churned_this_month: int = 0
    pauses: list[PauseRow] = []
    has_pauses: bool = False
    reasons: list[ReasonRow] = []
    funnel: list[FunnelRow] = []
    offers: list[OfferRow] = []
    flows_started: int = 0
    save_rate: str = "n/a"
    saved: int = 0
    decided: int = 0
    # Checkout: sessions → email → paid, trials → converted, coupon redemptions (the period's).
    checkout_funnel: list[FunnelRow] = []
    trial_funnel: list[FunnelRow] = []
    coupons: list[CouponRow] = []
    checkouts_opened: int = 0
    checkout_paid_rate: str = "n/a"
    trials_started: int = 0
    trial_conversion_rate: str = "n/a"
    redemptions: int = 0

    @rx.event
    @guarded("staff", staff_role="viewer", error="error")
    def load(self):
        try:  # a refusal shows as `error` on a loaded page
            self._show(read(merchant_analytics_view.overview))
        finally:
            self.loaded = True

    def _show(self, found: analytics.Overview) -> None:
        months = found.months
        self.as_of = formatting.datetime_(months[-1].as_of)
        self.period = f"{months[0].label} to {months[-1].label}"
        self._show_mrr(found.mrr, months)
        self.movements = [
            {"month": m.month.label, "new": m.new, "churned": m.churned} for m in found.movements
        ]
        self.has_movements = any(m.new or m.churned for m in found.movements)
        self.new_this_month = found.movements[-1].new
        self.churned_this_month = found.movements[-1].churned
        self.pauses = [
            {"month": p.month.label, "pauses": p.pauses, "resumes": p.resumes} for p in found.pauses
        ]
        self.has_pauses = any(p.pauses or p.resumes for p in found.pauses)
        funnel = found.retention.funnel
        self.reasons = [
            {
                "reason": found.reason_labels[r.reason],
                "flows": r.attempts,
                "canceled": r.canceled,
                "saved": r.saved,
                "rate": r.save_rate_percent,
            }
            for r in found.retention.reasons
        ]
        self.funnel = [
            {"stage": "Started", "count": funnel.started},
            {"stage": "Answered the survey", "count": funnel.answered},
            {"stage": "Shown an offer", "count": funnel.offers_shown},
            {"stage": "Accepted an offer", "count": funnel.saved},
            {"stage": "Cancelled", "count": funnel.canceled},
            {"stage": "Left, kept the plan", "count": funnel.abandoned},
            {"stage": "Not finished", "count": funnel.open},
        ]
        self.offers = [
            {"offer": OFFER_LABELS[name], "count": count} for name, count in funnel.by_offer.items()
        ]
        self.flows_started = funnel.started
        self.save_rate = funnel.save_rate_percent
        self.saved, self.decided = funnel.saved, funnel.decided
        self._show_checkout(found.checkout)

    def _show_checkout(self, found: analytics.CheckoutFunnel) -> None:
        self.checkout_funnel = [
            {"stage": "Checkouts opened", "count": found.opened},
            {"stage": "Email given", "count": found.email_given},
            {"stage": "Paid", "count": found.paid},
        ]
        self.trial_funnel = [
            {"stage": "Trials started", "count": found.trials_started},
            {"stage": "Converted (paid)", "count": found.trials_converted},
            {"stage": "Still in trial", "count": found.trials_running},
        ]
        self.coupons = [{"coupon": c.coupon, "count": c.redemptions} for c in found.by_coupon]
        self.checkouts_opened, self.checkout_paid_rate = found.opened, found.paid_percent
        self.trials_started = found.trials_started
        self.trial_conversion_rate = found.trial_conversion_percent
        self.redemptions = found.redemptions

    def _show_mrr(self, series: list[analytics.MrrSeries], months: list[analytics.Month]) -> None:
        self.currencies = [s.currency for s in series]
        chart, table = [], []
        for index, month in enumerate(months):
            chart_row: dict[str, int | str] = {"month": month.label}
            table_row = {"month": month.label}
            for s in series:
                point = s.points[index]
                chart_row[s.currency] = _major(point.amount, s.currency)
                table_row[s.currency] = format_money(point.amount, s.currency)
                table_row[f"{s.currency}_subscriptions"] = str(point.subscriptions)
            chart.append(chart_row)
            table.append(table_row)
        self.mrr_chart, self.mrr_table = chart, table
        self.mrr_now = [
            {
                "currency": s.currency,
                "amount": format_money(s.latest.amount, s.currency),
                "subscriptions": str(s.latest.subscriptions),
            }
            for s in series
        ]
