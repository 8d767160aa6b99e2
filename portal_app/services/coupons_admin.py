"""Merchant staff manage discount codes: coupons (what comes off, for how long, until when, how
often, on which plans or products) and the promotion codes customers type for them.

Every write is scoped to the staff member's merchant, validated whole (`catalog_rules.Problems`:
all problems at once, nothing written) and audited in the caller's transaction. A coupon or code
is never deleted: switched off, it stops new redemptions; subscriptions that already have the
coupon keep it for the invoices it was granted for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from portal_app import formatting
from portal_app.clock import Clock, ensure_utc
from portal_app.models import Merchant, Plan, Price, Product
from portal_app.models.commerce import Coupon, CouponDuration, PromotionCode
from portal_app.services import audit
from portal_app.services.catalog_rules import NAME_MAX, Problems, flush_or_conflict, get_owned
from portal_app.services.coupons import normalize_code, terms
from portal_app.services.errors import CatalogError, NotFound

PERCENT_MIN, PERCENT_MAX = 1, 100
CYCLES_MIN, CYCLES_MAX = 1, 36
REDEMPTIONS_MAX = 1_000_000
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{3,32}")
FIELDS = (
    "name",
    "percent_off",
    "amounts_off",
    "duration",
    "duration_cycles",
    "redeem_by",
    "max_redemptions",
    "plan_ids",
    "product_ids",
)


def get_coupon(session: Session, merchant_id: int, coupon_id: int) -> Coupon:
    return get_owned(session, Coupon, merchant_id, coupon_id, "Coupon")


def get_code(session: Session, merchant_id: int, promotion_code_id: int) -> PromotionCode:
    return get_owned(session, PromotionCode, merchant_id, promotion_code_id, "Code")


def merchant_currencies(session: Session, merchant_id: int) -> list[str]:
    """The currencies the merchant sells in: its default and those of its prices and products."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound("Merchant not found.")
    found = {merchant.default_currency}
    found.update(session.exec(select(Price.currency).where(Price.merchant_id == merchant_id)))
    found.update(
        c
        for c in session.exec(
            select(Product.currency).where(
                Product.merchant_id == merchant_id, Product.one_time_amount.is_not(None)
            )
        )
        if c
    )
    return sorted(found)


# --- validation ---------------------------------------------------------------------------------


def _clean_code(session: Session, problems: Problems, merchant_id: int, code: Any) -> str | None:
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code.strip()):
        problems.add(
            "A code is 3 to 32 letters, digits, dashes or underscores (no spaces), like SPRING20."
        )
        return None
    text = normalize_code(code)
    if _code_taken(session, merchant_id, text):
        problems.add(f"The code {text} is already taken.")
        return None
    return text


def _code_taken(session: Session, merchant_id: int, text: str) -> bool:
    return (
        session.exec(
            select(PromotionCode.id).where(
                PromotionCode.merchant_id == merchant_id, PromotionCode.code == text
            )
        ).first()
        is not None
    )


def _clean_limit(problems: Problems, value: Any, label: str) -> int | None:
    return problems.whole(value, label, low=1, high=REDEMPTIONS_MAX, required=False)


def _clean_until(problems: Problems, value: Any, label: str, clock: Clock) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        problems.add(f"{label} must be a date and time.")
        return None
    value = ensure_utc(value)
    if value <= clock.now():
        problems.add(f"{label} must be in the future.")
        return None
    return value


def _clean_amounts(
    session: Session, problems: Problems, merchant_id: int, amounts_off: Any
) -> dict[str, int]:
    if not isinstance(amounts_off, dict) or not amounts_off:
        problems.add("Give an amount off in at least one currency.")
        return {}
    allowed = merchant_currencies(session, merchant_id)
    clean: dict[str, int] = {}
    for currency, amount in amounts_off.items():
        if not isinstance(currency, str) or currency not in allowed:
            problems.add(f"Amounts off can be in {', '.join(allowed)}.")
            continue
        value = problems.amount(amount, f"Amount off ({currency})", currency, required=True)
        if value is not None:
            clean[currency] = value
    return clean


def _clean_ids(
    session: Session, problems: Problems, merchant_id: int, ids: Any, model: type, what: str
) -> list[int]:
    if ids is None:
        return []
    if not isinstance(ids, (list, tuple)) or not all(type(i) is int and i > 0 for i in ids):
        problems.add(f"The {what}s must be a list of {what} ids.")
        return []
    own = set(
        session.exec(select(model.id).where(model.merchant_id == merchant_id, model.id.in_(ids)))
    )
    if own != set(ids):
        problems.add(f"Choose among your own {what}s.")
        return []
    return sorted(own)


def _clean_coupon(
    session: Session,
    clock: Clock,
    merchant_id: int,
    problems: Problems,
    *,
    name: Any,
    percent_off: Any,
    amounts_off: Any,
    duration: Any,
    duration_cycles: Any,
    redeem_by: Any,
    max_redemptions: Any,
    plan_ids: Any,
    product_ids: Any,
) -> dict[str, Any]:
    clean_name = problems.text(name, "Coupon name", max_len=NAME_MAX)
    if clean_name is not None:
        for other in session.exec(select(Coupon.name).where(Coupon.merchant_id == merchant_id)):
            if other.casefold() == clean_name.casefold():
                problems.add(f'A coupon named "{other}" already exists.')
    percent, amounts = None, {}
    if (percent_off is None) == (not amounts_off):
        problems.add("Give either a percentage off or an amount off (one of the two).")
    elif percent_off is not None:
        percent = problems.whole(percent_off, "Percent off", low=PERCENT_MIN, high=PERCENT_MAX)
    else:
        amounts = _clean_amounts(session, problems, merchant_id, amounts_off)
    cycles = None
    if duration not in CouponDuration.ALL:
        problems.add("The duration is once, a number of payments, or forever.")
    elif duration == CouponDuration.REPEATING:
        cycles = problems.whole(
            duration_cycles, "Number of payments", low=CYCLES_MIN, high=CYCLES_MAX
        )
    return {
        "name": clean_name,
        "percent_off": percent,
        "amounts_off": amounts,
        "duration": duration,
        "duration_cycles": cycles,
        "redeem_by": _clean_until(problems, redeem_by, "Redeem by", clock),
        "max_redemptions": _clean_limit(problems, max_redemptions, "Maximum redemptions"),
        "plan_ids": _clean_ids(session, problems, merchant_id, plan_ids, Plan, "plan"),
        "product_ids": _clean_ids(session, problems, merchant_id, product_ids, Product, "product"),
    }


def _snapshot(coupon: Coupon) -> dict[str, Any]:
    return {key: getattr(coupon, key) for key in FIELDS}


TAKEN = "That code was just taken. Choose another one."


# --- writes -------------------------------------------------------------------------------------


def create_coupon(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    name: Any,
    percent_off: Any = None,
    amounts_off: Any = None,
    duration: Any = CouponDuration.ONCE,
    duration_cycles: Any = None,
    redeem_by: Any = None,
    max_redemptions: Any = None,
    plan_ids: Any = None,
    product_ids: Any = None,
    code: Any = None,
    actor: audit.Actor,
) -> Coupon:
    """A new coupon; with `code`, its first promotion code too (checked with the rest)."""
    problems = Problems()
    values = _clean_coupon(
        session,
        clock,
        merchant_id,
        problems,
        name=name,
        percent_off=percent_off,
        amounts_off=amounts_off,
        duration=duration,
        duration_cycles=duration_cycles,
        redeem_by=redeem_by,
        max_redemptions=max_redemptions,
        plan_ids=plan_ids,
        product_ids=product_ids,
    )
    text = _clean_code(session, problems, merchant_id, code) if code is not None else None
    problems.check()
    coupon = Coupon(merchant_id=merchant_id, created_at=clock.now(), **values)
    with audit.changing(
        session, clock, coupon, actor=actor, action="coupon.create", target_type="coupon"
    ) as change:
        change.after = _snapshot(coupon)
    if text is not None:
        _add_code(session, clock, coupon, text, None, None, actor)
    return coupon


def _add_code(
    session: Session,
    clock: Clock,
    coupon: Coupon,
    text: str,
    max_redemptions: int | None,
    expires_at: datetime | None,
    actor: audit.Actor,
) -> PromotionCode:
    promo = PromotionCode(
        merchant_id=coupon.merchant_id,
        coupon_id=coupon.id,
        code=text,
        max_redemptions=max_redemptions,
        expires_at=expires_at,
        created_at=clock.now(),
    )
    with audit.changing(
        session,
        clock,
        promo,
        actor=actor,
        action="promotion_code.create",
        target_type="promotion_code",
    ) as change:
        session.add(promo)
        flush_or_conflict(session, TAKEN)  # a concurrent twin of the same code
        change.after = {
            "coupon_id": coupon.id,
            "code": text,
            "max_redemptions": max_redemptions,
            "expires_at": expires_at,
        }
    return promo


def create_promotion_code(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    coupon_id: int,
    code: Any,
    max_redemptions: Any = None,
    expires_at: Any = None,
    actor: audit.Actor,
) -> PromotionCode:
    """Another code for a coupon (its own limit and expiry on top of the coupon's)."""
    coupon = get_coupon(session, merchant_id, coupon_id)
    if not coupon.active:
        raise CatalogError("This coupon is off. Turn it on before adding codes.", code="inactive")
    problems = Problems()
    text = _clean_code(session, problems, merchant_id, code)
    limit = _clean_limit(problems, max_redemptions, "Maximum redemptions")
    until = _clean_until(problems, expires_at, "Expires at", clock)
    problems.check()
    return _add_code(session, clock, coupon, text, limit, until, actor)


def _switch(session, clock, row, active: Any, *, what: str, action: str, target_type: str, actor):
    if not isinstance(active, bool):
        raise CatalogError(f"Say whether the {what} should be on or off.", code="invalid_active")
    if row.active == active:
        raise CatalogError(f"This {what} is already {'on' if active else 'off'}.", code="unchanged")
    with audit.changing(
        session,
        clock,
        row,
        actor=actor,
        action=f"{action}.{'enable' if active else 'disable'}",
        target_type=target_type,
        snapshot=lambda r: {"active": r.active},
    ):
        row.active = active
    return row


def set_coupon_active(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    coupon_id: int,
    active: Any,
    actor: audit.Actor,
) -> Coupon:
    """Off: none of its codes can be redeemed any more (subscriptions that have it keep it)."""
    coupon = get_coupon(session, merchant_id, coupon_id)
    return _switch(
        session,
        clock,
        coupon,
        active,
        what="coupon",
        action="coupon",
        target_type="coupon",
        actor=actor,
    )


def set_code_active(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    promotion_code_id: int,
    active: Any,
    actor: audit.Actor,
) -> PromotionCode:
    promo = get_code(session, merchant_id, promotion_code_id)
    return _switch(
        session,
        clock,
        promo,
        active,
        what="code",
        action="promotion_code",
        target_type="promotion_code",
        actor=actor,
    )


# --- the staff's view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CouponRow:
    coupon: Coupon
    codes: list[PromotionCode]
    redemptions: int  # the coupon's count, the one its limit is held on


def list_coupons(session: Session, merchant_id: int) -> list[CouponRow]:
    """Every coupon of the merchant (on first, then oldest) with its codes."""
    coupons = session.exec(
        select(Coupon)
        .where(Coupon.merchant_id == merchant_id)
        .order_by(Coupon.active.desc(), Coupon.id)
    ).all()
    codes: dict[int, list[PromotionCode]] = {}
    for promo in session.exec(
        select(PromotionCode)
        .where(PromotionCode.merchant_id == merchant_id)
        .order_by(PromotionCode.id)
    ):
        codes.setdefault(promo.coupon_id, []).append(promo)
    return [CouponRow(c, codes.get(c.id, []), c.times_redeemed) for c in coupons]


# --- the dashboard screen's rows (display strings) ----------------------------------------------


def _until(when: datetime | None) -> str:
    return formatting.date(when) if when is not None else "—"


def _used(used: int, limit: int | None) -> str:
    return f"{used} / {limit}" if limit is not None else str(used)


def _code_status(code: PromotionCode, coupon: Coupon, expired: bool) -> str:
    if not code.active:
        return "Off"
    if expired:
        return "Expired"
    return "On" if coupon.active else "Coupon off"


def screen(session: Session, clock: Clock, *, merchant_id: int) -> dict[str, Any]:
    """What the catalog's coupons screen shows: coupons, codes, plans and products to limit a
    coupon to, and the currencies a fixed amount can be in. All display strings."""
    plan_names = {
        p.id: p.name for p in session.exec(select(Plan).where(Plan.merchant_id == merchant_id))
    }
    product_names = {
        p.id: p.name
        for p in session.exec(select(Product).where(Product.merchant_id == merchant_id))
    }
    now = clock.now()
    coupon_rows, code_rows = [], []
    for row in list_coupons(session, merchant_id):
        coupon = row.coupon
        limited = [plan_names.get(i, "?") for i in coupon.plan_ids or []] + [
            product_names.get(i, "?") for i in coupon.product_ids or []
        ]
        expired = coupon.redeem_by is not None and ensure_utc(coupon.redeem_by) <= now
        coupon_rows.append(
            {
                "id": str(coupon.id),
                "name": coupon.name,
                "terms": terms(coupon),
                "applies_to": ", ".join(limited) if limited else "Everything",
                "redeem_by": _until(coupon.redeem_by),
                "codes": ", ".join(c.code for c in row.codes) or "—",
                "redemptions": _used(row.redemptions, coupon.max_redemptions),
                "status": "Off" if not coupon.active else "Expired" if expired else "On",
                "active": "yes" if coupon.active else "no",
            }
        )
        for code in row.codes:
            code_expired = code.expires_at is not None and ensure_utc(code.expires_at) <= now
            code_rows.append(
                {
                    "id": str(code.id),
                    "code": code.code,
                    "coupon": coupon.name,
                    "redemptions": _used(code.times_redeemed, code.max_redemptions),
                    "expires_at": _until(code.expires_at),
                    "status": _code_status(code, coupon, code_expired),
                    "active": "yes" if code.active else "no",
                }
            )
    return {
        "coupons": coupon_rows,
        "codes": code_rows,
        "coupon_choices": [
            {"id": r["id"], "label": r["name"]} for r in coupon_rows if r["active"] == "yes"
        ],
        "plan_choices": [
            {"id": str(p.id), "label": p.name}
            for p in session.exec(
                select(Plan)
                .where(Plan.merchant_id == merchant_id, Plan.active.is_(True))
                .order_by(Plan.product_id, Plan.tier)
            )
        ],
        "product_choices": [
            {"id": str(p.id), "label": p.name}
            for p in session.exec(
                select(Product)
                .where(
                    Product.merchant_id == merchant_id,
                    Product.active.is_(True),
                    Product.one_time_amount.is_not(None),
                )
                .order_by(Product.name)
            )
        ],
        "currencies": merchant_currencies(session, merchant_id),
    }
