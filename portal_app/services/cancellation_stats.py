"""The merchant's numbers of the cancellation flow: outcome counts and the save rate, overall
and per survey reason (`analytics` reuses them)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlmodel import Session, select

from portal_app.models import CancellationAttempt
from portal_app.money import round_half_even
from portal_app.services.portal_preview import not_preview

STARTED = "started"
SAVED_OUTCOMES = ("saved_discount", "saved_pause", "saved_downgrade")
OUTCOMES = (*SAVED_OUTCOMES, "canceled", "abandoned")


def _percent(part: int, whole: int) -> str:
    if whole == 0:
        return "n/a"
    tenths = round_half_even(Fraction(part * 1000, whole))
    return f"{tenths // 10}.{tenths % 10}%"


def _rate(saved: int, canceled: int) -> dict[str, Any]:
    decided = saved + canceled
    return {
        "decided": decided,
        "save_rate": Fraction(saved, decided) if decided else None,
        "save_rate_percent": _percent(saved, decided),
    }


def save_rate(session: Session, merchant_id: int, since: datetime | None = None) -> dict[str, Any]:
    """Outcome counts of the merchant's cancellation attempts (started at or after `since`) and
    the save rate: saved / (saved + canceled). Attempts still open or abandoned are counted but
    are not in the rate, since the customer never decided. `save_rate` is an exact Fraction (None
    when nothing was decided); `save_rate_percent` is for display, e.g. "40.0%". `by_reason` gives
    the same per survey reason ("" when none was given) so the merchant sees which offers work.
    `offers_shown` counts the attempts that were shown at least one save offer. The staff's
    preview stand-in's attempts are left out (services/portal_preview.py)."""
    query = select(
        CancellationAttempt.outcome,
        CancellationAttempt.reason,
        CancellationAttempt.offers_shown,
    ).where(
        CancellationAttempt.merchant_id == merchant_id,
        not_preview(CancellationAttempt.customer_id, merchant_id),
    )
    if since is not None:
        query = query.where(CancellationAttempt.created_at >= since)
    rows = session.exec(query).all()
    counts = Counter(outcome for outcome, _, _ in rows)
    shown = Counter(reason for _, reason, offers_shown in rows if offers_shown)
    per_reason: dict[str, Counter] = {}
    for outcome, reason, _ in rows:
        per_reason.setdefault(reason, Counter())[outcome] += 1

    def summarize(counter: Counter, offers_shown: int) -> dict[str, Any]:
        saved = sum(counter[name] for name in SAVED_OUTCOMES)
        return {
            "attempts": sum(counter.values()),
            "offers_shown": offers_shown,
            "open": counter[STARTED],
            "outcomes": {name: counter[name] for name in OUTCOMES},
            "saved": saved,
            **_rate(saved, counter["canceled"]),
        }

    return {
        **summarize(counts, shown.total()),
        "by_reason": {
            reason: summarize(counter, shown[reason])
            for reason, counter in sorted(per_reason.items())
        },
    }
