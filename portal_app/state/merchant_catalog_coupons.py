"""Catalog → discount codes, for merchant staff: the coupons with their terms, codes and
redemptions, the create form (a coupon with its first code), adding a code to a coupon, and
turning coupons and codes on or off (off asks first). Thin: parse the forms, call
`coupons_admin` (which validates everything again and audits), show what `coupons_admin.screen`
reads. Its own state, loaded when its section mounts on the catalog page."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from portal_app.services import coupons_admin
from portal_app.services.errors import CatalogError
from portal_app.state import confirming
from portal_app.state.confirming import Confirming
from portal_app.state.guard import PrivateState, Refreshing, guarded, read, write
from portal_app.state.merchant_catalog_editor import (
    checked,
    field,
    money,
    parse_id,
    posted,
    resubmitted,
    whole,
)

log = logging.getLogger(__name__)

SWITCH = {
    "coupon": (coupons_admin.set_coupon_active, "coupon_id", "coupon"),
    "code": (coupons_admin.set_code_active, "promotion_code_id", "code"),
}
DURATIONS = ("once", "repeating", "forever")


class CouponView(TypedDict):
    id: str
    name: str
    terms: str
    applies_to: str
    redeem_by: str
    codes: str
    redemptions: str
    status: str
    active: str


class CodeView(TypedDict):
    id: str
    code: str
    coupon: str
    redemptions: str
    expires_at: str
    status: str
    active: str


class Choice(TypedDict):
    id: str
    label: str


def _day(form: dict[str, Any], key: str, label: str) -> datetime | None:
    """A date typed as YYYY-MM-DD: valid through that whole day (UTC); empty means none."""
    value = field(form, key)
    if value in ("", None):
        return None
    try:
        day = datetime.strptime(str(value)[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise CatalogError(f"{label}: enter a date like 2026-12-31.") from exc
    return day + timedelta(days=1)


def _ticked(form: dict[str, Any], prefix: str) -> list[int]:
    ids = []
    for key in form:
        suffix = key.removeprefix(prefix)
        if key.startswith(prefix) and suffix.isdigit() and len(suffix) <= 12 and checked(form, key):
            ids.append(int(suffix))
    return sorted(ids)


class MerchantCatalogCouponsState(Confirming, Refreshing, PrivateState):
    loaded: bool = False
    load_error: str = ""
    coupons: list[CouponView] = []
    codes: list[CodeView] = []
    coupon_choices: list[Choice] = []  # active coupons, for "add a code"
    plan_choices: list[Choice] = []
    product_choices: list[Choice] = []
    currencies: list[str] = []
    coupon_error: str = ""
    code_error: str = ""
    form_version: int = 0  # remounts the forms after a success

    def _refresh(self) -> None:
        for key, value in read(coupons_admin.screen).items():
            setattr(self, key, value)
        self.loaded = True

    def _done(self, message: str):
        self.coupon_error, self.code_error = "", ""
        self.form_version += 1
        return self._changed(message)

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self.coupon_error, self.code_error, self.load_error = "", "", ""
        self._close_confirm()
        try:
            self._refresh()
        except SQLAlchemyError:
            log.exception("could not read the coupons")
            self.load_error = "The coupons can't be read right now. Reload the page to try again."

    @rx.event
    @guarded("staff", staff_role="admin", error="coupon_error")
    def create_coupon(self, form_data: dict):
        form = posted(form_data)
        if resubmitted(form, self.form_version):
            return None
        currency = field(form, "currency")
        if currency not in self.currencies:
            currency = self.currencies[0] if self.currencies else "USD"
        amount = money(form, "amount_off", "Amount off", currency)
        duration = field(form, "duration")
        if duration not in DURATIONS:
            raise CatalogError("Choose how long the discount lasts.")
        coupon = write(
            coupons_admin.create_coupon,
            name=field(form, "name"),
            percent_off=whole(form, "percent_off", "Percent off"),
            amounts_off={currency: amount} if amount is not None else None,
            duration=duration,
            duration_cycles=whole(form, "duration_cycles", "Number of payments")
            if duration == "repeating"
            else None,
            redeem_by=_day(form, "redeem_by", "Redeem by"),
            max_redemptions=whole(form, "max_redemptions", "Maximum redemptions"),
            plan_ids=_ticked(form, "plan_"),
            product_ids=_ticked(form, "product_"),
            code=field(form, "code"),
        )
        return self._done(f'Coupon "{coupon.name}" created.')

    @rx.event
    @guarded("staff", staff_role="admin", error="code_error")
    def add_code(self, form_data: dict):
        form = posted(form_data)
        if resubmitted(form, self.form_version):
            return None
        coupon_id = field(form, "coupon_id")
        if not coupon_id:
            raise CatalogError("Choose the coupon the code is for.")
        promo = write(
            coupons_admin.create_promotion_code,
            coupon_id=parse_id(coupon_id),
            code=field(form, "code"),
            max_redemptions=whole(form, "max_redemptions", "Maximum redemptions"),
            expires_at=_day(form, "expires_at", "Expires"),
        )
        return self._done(f"Code {promo.code} added.")

    @rx.event
    @guarded("staff", staff_role="admin")
    def switch(self, kind: str, item_id: str, active: bool):
        """On: at once. Off: asks first (the confirmation's button does it)."""
        if kind not in SWITCH or not isinstance(active, bool):
            raise ValueError("bad switch")
        item = parse_id(item_id)
        if not active:
            self._ask(
                kind,
                item,
                f"Turn this {SWITCH[kind][2]} off?",
                "Customers can no longer redeem it (none of its codes work). Subscriptions that "
                "already have it keep their discount."
                if kind == "coupon"
                else "Customers can no longer redeem this code. Subscriptions that already "
                "have its discount keep it.",
            )
            return None
        return self._switch(kind, item, True)

    def _switch(self, kind: str, item: int, active: bool):
        service, id_name, what = SWITCH[kind]
        write(service, **{id_name: item}, active=active)
        return self._changed(f"The {what} is {'on' if active else 'off'}.")

    @rx.event
    @guarded("staff", staff_role="admin")
    def confirm_off(self):
        kind, item = self.confirm_kind, self._confirm_id
        self._close_confirm()
        if kind not in SWITCH or not item:
            return None
        return self._switch(kind, item, False)

    keep_it = confirming.backs_out("staff", staff_role="viewer")
    confirm_visibility = confirming.escape_backs_out("staff", staff_role="viewer")
