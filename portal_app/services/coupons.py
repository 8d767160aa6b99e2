"""Discount codes: a customer types a promotion code, which maps to a merchant's coupon (percent or
fixed amount per currency; once, N invoices or forever; optional expiry, redemption limits and
plans or products it is limited to).

`resolve_code` checks a code without writing; `redeem` counts a use at confirm with conditional
UPDATEs, so a limit holds however many checkouts confirm at once. After the first invoice,
`attach` leaves on the subscription what later invoices still get: `coupon_id` while the coupon
reduces future invoices, `coupon_cycles_remaining` the invoices it still reduces (ignored for a
forever coupon). `renewal_line` gives each renewal its discount line and counts it down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock, ensure_utc
from portal_app.models import Subscription
from portal_app.models.commerce import Coupon, CouponDuration, CouponRedemption, PromotionCode
from portal_app.money import format_money, round_half_even
from portal_app.services import invoices
from portal_app.services.errors import CouponError

CODE_MAX = 64


@dataclass(frozen=True)
class AppliedCode:
    promotion_code_id: int
    coupon_id: int
    code: str  # as stored (upper case)
    label: str  # customer-facing: "SPRING20 — 20% off the first 3 payments"


def normalize_code(text: str) -> str:
    """What a typed code is matched and stored as: trimmed, upper case."""
    return text.strip().upper() if isinstance(text, str) else ""


# --- the money ----------------------------------------------------------------------------------


def discount_off(coupon: Coupon, amount: int, currency: str) -> int:
    """Minor units the coupon takes off `amount`: 0 <= result <= amount. Percent rounds
    half-even; a fixed amount is the currency's (capped at `amount`), 0 without one."""
    if type(amount) is not int:
        raise TypeError("amount must be int minor units")
    if amount <= 0:
        return 0
    if coupon.percent_off:
        off = round_half_even(Fraction(amount * coupon.percent_off, 100))
    else:
        off = int((coupon.amounts_off or {}).get(currency, 0) or 0)
    return max(0, min(off, amount))


def amount_label(coupon: Coupon, currency: str | None = None) -> str:
    """ "20% off", "$5.00 off" (or every currency's amount when `currency` is None)."""
    if coupon.percent_off:
        return f"{coupon.percent_off}% off"
    amounts = coupon.amounts_off or {}
    if currency is not None and currency in amounts:
        return f"{format_money(int(amounts[currency]), currency)} off"
    shown = " / ".join(format_money(int(v), c) for c, v in sorted(amounts.items()))
    return f"{shown} off"


def duration_label(coupon: Coupon) -> str:
    if coupon.duration == CouponDuration.FOREVER:
        return "every payment"
    if coupon.duration == CouponDuration.REPEATING and (coupon.duration_cycles or 0) > 1:
        return f"the first {coupon.duration_cycles} payments"
    return "the first payment"


def terms(coupon: Coupon, currency: str | None = None) -> str:
    """ "20% off the first 3 payments"."""
    return f"{amount_label(coupon, currency)} {duration_label(coupon)}"


# --- checking a code ----------------------------------------------------------------------------


def _expired(when: datetime | None, now: datetime) -> bool:
    return when is not None and ensure_utc(when) <= now


def _full(limit: int | None, used: int) -> bool:
    return limit is not None and used >= limit


def applies_to(coupon: Coupon, *, plan_id: int | None, product_id: int | None) -> bool:
    """A coupon limited to plans or products applies only to those it names (a coupon limited
    to plans does not apply to a one-time product, and the other way round)."""
    if not (coupon.plan_ids or coupon.product_ids):
        return True
    if plan_id is not None:
        return plan_id in (coupon.plan_ids or [])
    if product_id is not None:
        return product_id in (coupon.product_ids or [])
    return False


def resolve_code(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    code: str,
    plan_id: int | None,
    product_id: int | None,
    currency: str,
) -> AppliedCode:
    """The code as it applies to this purchase, or CouponError (code unknown | inactive |
    expired | exhausted | wrong_plan | wrong_currency) with a message for the customer.
    Writes nothing."""
    text = normalize_code(code)
    promo = None
    if text and len(text) <= CODE_MAX:
        promo = session.exec(
            select(PromotionCode).where(
                PromotionCode.merchant_id == merchant_id, PromotionCode.code == text
            )
        ).first()
    coupon = session.get(Coupon, promo.coupon_id) if promo is not None else None
    if promo is None or coupon is None or coupon.merchant_id != merchant_id:
        shown = text[:CODE_MAX] or "that"
        raise CouponError(
            f"We don't recognise the code {shown}. Check it and try again.", code="unknown"
        )
    now = clock.now()
    if not (promo.active and coupon.active):
        raise CouponError(f"The code {text} is no longer valid.", code="inactive")
    if _expired(coupon.redeem_by, now) or _expired(promo.expires_at, now):
        raise CouponError(f"The code {text} has expired.", code="expired")
    if _full(coupon.max_redemptions, coupon.times_redeemed) or _full(
        promo.max_redemptions, promo.times_redeemed
    ):
        raise CouponError(f"The code {text} has been used up.", code="exhausted")
    if not applies_to(coupon, plan_id=plan_id, product_id=product_id):
        what = "plan" if plan_id is not None else "product"
        raise CouponError(f"The code {text} can't be used for this {what}.", code="wrong_plan")
    if not coupon.percent_off and currency not in (coupon.amounts_off or {}):
        raise CouponError(
            f"The code {text} can't be used for payments in {currency}.", code="wrong_currency"
        )
    return AppliedCode(
        promotion_code_id=promo.id,
        coupon_id=coupon.id,
        code=promo.code,
        label=f"{promo.code} — {terms(coupon, currency)}",
    )


def line_description(code: str, coupon: Coupon, currency: str) -> str:
    """ "SPRING20 (20% off)"."""
    return f"{code} ({amount_label(coupon, currency)})"


def first_invoice_line(
    session: Session, applied: AppliedCode, amount: int, currency: str
) -> invoices.LineSpec | None:
    """The discount line of the first invoice (negative), or None when nothing comes off."""
    coupon = session.get(Coupon, applied.coupon_id)
    off = discount_off(coupon, amount, currency) if coupon is not None else 0
    if off == 0:
        return None
    return invoices.LineSpec("discount", line_description(applied.code, coupon, currency), -off)


# --- counting a use -----------------------------------------------------------------------------


def _bump(session: Session, model, row_id: int) -> bool:
    """times_redeemed + 1 if the row is active and under its limit, as one conditional UPDATE
    (a concurrent confirm waits for the row and sees the count it left)."""
    bumped = session.execute(
        sa.update(model)
        .where(
            model.id == row_id,
            model.active.is_(True),
            sa.or_(
                model.max_redemptions.is_(None),
                model.times_redeemed < model.max_redemptions,
            ),
        )
        .values(times_redeemed=model.times_redeemed + 1)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    ).first()
    return bumped is not None


def redeem(
    session: Session,
    clock: Clock,
    *,
    applied: AppliedCode,
    customer_id: int,
    checkout_id: str,
    amount_off: int,
    currency: str,
    subscription_id: int | None = None,
    order_id: int | None = None,
) -> None:
    """Count one use of the code by this checkout, in the caller's transaction. A limit reached
    meanwhile (or the code switched off) raises CouponError and the caller rolls back."""
    for model, row_id in ((Coupon, applied.coupon_id), (PromotionCode, applied.promotion_code_id)):
        if not _bump(session, model, row_id):
            row = session.get(model, row_id)
            if row is not None:
                session.refresh(row)
            if row is None or not row.active:
                raise CouponError(f"The code {applied.code} is no longer valid.", code="inactive")
            raise CouponError(f"The code {applied.code} has been used up.", code="exhausted")
    coupon = session.get(Coupon, applied.coupon_id)
    session.add(
        CouponRedemption(
            merchant_id=coupon.merchant_id,
            coupon_id=applied.coupon_id,
            promotion_code_id=applied.promotion_code_id,
            customer_id=customer_id,
            checkout_id=checkout_id,
            subscription_id=subscription_id,
            order_id=order_id,
            amount_off=amount_off,
            currency=currency,
            created_at=clock.now(),
        )
    )
    session.flush()
    for model, row_id in ((Coupon, applied.coupon_id), (PromotionCode, applied.promotion_code_id)):
        row = session.get(model, row_id)
        if row is not None:
            session.refresh(row)


# --- later invoices -----------------------------------------------------------------------------


def _clear(subscription: Subscription) -> None:
    subscription.coupon_id = None
    subscription.coupon_cycles_remaining = 0


def attach(subscription: Subscription, coupon: Coupon) -> None:
    """After the first invoice (which the coupon reduced): what the renewals still get. Repeating
    N: N - 1 more invoices; forever: all; once: nothing. The caller adds the subscription."""
    if coupon.duration == CouponDuration.FOREVER:
        subscription.coupon_id = coupon.id
        subscription.coupon_cycles_remaining = 0
        return
    left = (coupon.duration_cycles or 0) - 1 if coupon.duration == CouponDuration.REPEATING else 0
    if left > 0:
        subscription.coupon_id = coupon.id
        subscription.coupon_cycles_remaining = left
    else:
        _clear(subscription)


def active_coupon(session: Session, subscription: Subscription) -> Coupon | None:
    """The coupon that reduces this subscription's invoices now (and reduced the current
    period's, outside a trial), or None."""
    if subscription.coupon_id is None:
        return None
    coupon = session.get(Coupon, subscription.coupon_id)
    if coupon is None:
        return None
    if coupon.duration != CouponDuration.FOREVER and subscription.coupon_cycles_remaining <= 0:
        return None
    return coupon


def code_of(session: Session, subscription: Subscription, coupon: Coupon) -> str:
    """The promotion code the subscription's coupon came with (its redemption), else the
    coupon's name: what its invoice lines say."""
    code = session.exec(
        select(PromotionCode.code)
        .join(CouponRedemption, CouponRedemption.promotion_code_id == PromotionCode.id)
        .where(
            CouponRedemption.subscription_id == subscription.id,
            CouponRedemption.coupon_id == coupon.id,
        )
        .order_by(CouponRedemption.id.desc())
    ).first()
    return code or coupon.name


def renewal_discount(
    session: Session,
    subscription: Subscription,
    *,
    plan_id: int,
    amount: int,
    currency: str,
    used_now: int = 0,
) -> int:
    """What the coupon takes off the next renewal at `amount` on `plan_id`, after `used_now`
    invoices it reduces before then (a plan change starting a new period): for previews."""
    coupon = active_coupon(session, subscription)
    if coupon is None or not applies_to(coupon, plan_id=plan_id, product_id=None):
        return 0
    if (
        coupon.duration != CouponDuration.FOREVER
        and subscription.coupon_cycles_remaining - used_now <= 0
    ):
        return 0
    return discount_off(coupon, amount, currency)


def use_one(subscription: Subscription, coupon: Coupon) -> None:
    """An invoice the coupon reduced: one fewer left (a forever coupon never runs out)."""
    if coupon.duration == CouponDuration.FOREVER:
        return
    subscription.coupon_cycles_remaining -= 1
    if subscription.coupon_cycles_remaining <= 0:
        _clear(subscription)


def renewal_line(
    session: Session, subscription: Subscription, amount: int, currency: str
) -> invoices.LineSpec | None:
    """This renewal's discount line (or None), counting the invoice off the subscription's
    coupon; a coupon that no longer applies (used up, or the plan left the coupon's plans) is
    taken off the subscription. The caller adds the subscription."""
    if subscription.coupon_id is None:
        return None
    coupon = active_coupon(session, subscription)
    if coupon is None or not applies_to(coupon, plan_id=subscription.plan_id, product_id=None):
        _clear(subscription)
        return None
    off = discount_off(coupon, amount, currency)
    use_one(subscription, coupon)
    if off == 0:
        return None
    code = code_of(session, subscription, coupon)
    return invoices.LineSpec("discount", line_description(code, coupon, currency), -off)
