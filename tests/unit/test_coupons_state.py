"""Staff → Catalog → Coupons through its state, as the browser calls it: an admin creates a
coupon and adds a code, a double click's second submit is ignored, bad input shows in the form
and writes nothing, and a viewer or a customer cannot create anything."""

from __future__ import annotations

from sqlmodel import Session, select

from portal_app.models import Coupon, PromotionCode
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_catalog_coupons import MerchantCatalogCouponsState as Coupons
from tests import factories
from tests.statekit import call, root_with, run

FORM = {"name": "Launch", "percent_off": "25", "duration": "once", "code": "LAUNCH25"}


def _coupons(app_db) -> list[Coupon]:
    with Session(app_db["engine"]) as session:
        return list(session.exec(select(Coupon)))


def _codes(app_db) -> list[str]:
    with Session(app_db["engine"]) as session:
        return sorted(p.code for p in session.exec(select(PromotionCode)))


def test_an_admin_creates_a_coupon_once_however_often_the_form_is_sent(app_db):
    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, Coupons, "load")
        state = await root.get_state(Coupons)
        form = {**FORM, "form_version": str(state.form_version)}
        created = await call(root, Coupons, "create_coupon", dict(form))
        again = await call(root, Coupons, "create_coupon", dict(form))  # the double click
        shown = [row["name"] for row in state.coupons]
        code_form = {
            "coupon_id": state.coupons[0]["id"],
            "code": "SPRING",
            "form_version": str(state.form_version),
        }
        await call(root, Coupons, "add_code", dict(code_form))
        code_again = await call(root, Coupons, "add_code", dict(code_form))
        return created, again, code_again, shown, state.coupon_error, state.code_error

    created, again, code_again, shown, coupon_error, code_error = run(scenario())
    assert "created" in str(created)
    assert again is None and code_again is None  # no second toast, no "code already used"
    assert shown == ["Launch"] and coupon_error == code_error == ""
    [coupon] = _coupons(app_db)
    assert (coupon.percent_off, coupon.duration) == (25, "once")
    assert _codes(app_db) == ["LAUNCH25", "SPRING"]


def test_bad_coupon_input_shows_in_the_form_and_writes_nothing(app_db):
    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, Coupons, "load")
        state = await root.get_state(Coupons)
        answer = await call(root, Coupons, "create_coupon", {**FORM, "percent_off": "250"})
        return answer, state.coupon_error

    answer, error = run(scenario())
    assert answer is None and error != ""
    assert _coupons(app_db) == [] and _codes(app_db) == []


def test_a_viewer_and_a_customer_cannot_create_coupons(app_db):
    viewer = factories.staff_with_role(app_db["engine"], CLOCK, app_db["merchant"], "viewer")

    async def scenario(root):
        return await call(root, Coupons, "create_coupon", dict(FORM))

    assert "it needs Admin" in str(run(scenario(root_with(staff_sid=viewer))))
    run(scenario(root_with(app_db["sessions"]["alice@example.com"])))
    assert _coupons(app_db) == []
