"""The checkout page's state, driven the way Reflex drives it (no browser): it reads the checkout
named by the page's route, never one named in an event's arguments; bad codes and declined cards
are inline messages that change nothing; a confirm sends the browser on; tries are throttled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal_app.models import (
    CheckoutSession,
    Coupon,
    Customer,
    Price,
    PromotionCode,
    Subscription,
)
from portal_app.services import checkout, ratelimit
from portal_app.services.errors import ServiceUnavailable
from portal_app.state import checkout as checkout_state
from portal_app.state.checkout import CheckoutState
from portal_app.state.guard import CLOCK
from tests.statekit import call, root_with, run, visit

GOOD_CARD = {"number": "4242 4242 4242 4242", "expiry": "12/30", "cvc": "123"}
DECLINED_CARD = {**GOOD_CARD, "number": "4000 0000 0000 0341"}


@pytest.fixture(autouse=True)
def fresh_limits():
    ratelimit.reset_singletons()
    yield
    ratelimit.reset_singletons()


def _open(app_db, slug: str = "pro", interval: str = "month") -> str:
    with Session(app_db["engine"], expire_on_commit=False) as session:
        checkout_id = checkout.open_link(
            session, CLOCK, merchant_id=app_db["merchant"].id, slug=slug, interval=interval
        )
        session.commit()
    return checkout_id


def _row(app_db, checkout_id: str) -> CheckoutSession:
    with Session(app_db["engine"], expire_on_commit=False) as session:
        return session.get(CheckoutSession, checkout_id)


def _interval(app_db, checkout_id: str) -> str:
    with Session(app_db["engine"]) as session:
        return session.get(Price, _row(app_db, checkout_id).price_id).interval


def _on_page(checkout_id: str, customer_sid: str | None = None):
    """A state tree on /checkout/<checkout_id> (the route's id), optionally signed in."""
    return visit(root_with(customer_sid), "/checkout/[id]", id=checkout_id)


async def _confirm(root, form: dict):
    """Run the confirm generator to its end, as Reflex does; what it finally yielded."""
    state = await root.get_state(CheckoutState)
    last = None
    async for update in CheckoutState.confirm.fn(state, form):
        last = update
    return last


def _visitor(email: str = "new@example.com", **card) -> dict:
    return {"email": email, "name": "New Visitor", **GOOD_CARD, **card}


def _customers(app_db, email: str) -> list[Customer]:
    with Session(app_db["engine"]) as session:
        return list(session.exec(select(Customer).where(Customer.email == email)))


def _spring_code(app_db) -> None:
    """SPRING20: 20 % off, once."""
    with Session(app_db["engine"], expire_on_commit=False) as session:
        coupon = Coupon(
            merchant_id=app_db["merchant"].id,
            name="Spring",
            percent_off=20,
            created_at=CLOCK.now(),
        )
        session.add(coupon)
        session.flush()
        session.add(
            PromotionCode(
                merchant_id=coupon.merchant_id,
                coupon_id=coupon.id,
                code="SPRING20",
                created_at=CLOCK.now(),
            )
        )
        session.commit()


def test_the_page_shows_the_checkout_its_route_names(app_db):
    checkout_id = _open(app_db, "pro", "year")

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        return await root.get_state(CheckoutState)

    state = run(scenario())
    assert state.loaded and not state.missing
    shown = state.shown
    assert (shown.id, shown.status, shown.title, shown.interval) == (
        checkout_id,
        "open",
        "Pro",
        "year",
    )
    assert shown.price_label == "$200.00/year" and shown.can_switch_interval
    assert shown.lines[0].amount == "$200.00" and shown.due_today == "$200.00"
    assert shown.customer_signed_in_email == ""


def test_an_unknown_or_malformed_checkout_id_shows_the_not_valid_page(app_db):
    async def scenario(checkout_id):
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        return await root.get_state(CheckoutState)

    for forged in ("cs_doesnotexist", "x" * 500, "1"):
        state = run(scenario(forged))
        assert state.loaded and state.missing and state.shown.id == ""


def test_a_checkout_id_in_the_arguments_is_ignored(app_db):
    """The handlers name no checkout: they act on the route's, whatever the payload says."""
    mine, other = _open(app_db), _open(app_db)
    _spring_code(app_db)

    async def scenario():
        root = _on_page(mine)
        await call(root, CheckoutState, "load")
        await call(root, CheckoutState, "switch_interval", "year")
        forged = {"code": "SPRING20", "id": other, "checkout_id": other}
        await call(root, CheckoutState, "apply_code", forged)
        await _confirm(root, {**_visitor(), "id": other, "checkout_id": other})
        return await root.get_state(CheckoutState)

    state = run(scenario())
    assert _interval(app_db, mine) == "year" and state.shown.id == mine
    assert _row(app_db, mine).status == "completed"
    assert _row(app_db, mine).promotion_code_id is not None
    untouched = _row(app_db, other)
    assert (untouched.status, untouched.email, untouched.promotion_code_id) == ("open", "", None)
    assert _interval(app_db, other) == "month"


def test_a_bad_discount_code_is_an_inline_message_and_changes_nothing(app_db):
    checkout_id = _open(app_db)

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        state = await root.get_state(CheckoutState)
        before = (state.shown.total, list(state.shown.lines))
        toast = await call(root, CheckoutState, "apply_code", {"code": "NOPE"})
        return state, before, toast

    state, before, toast = run(scenario())
    assert toast is None  # inline, not a toast
    assert state.code_error and "code" in state.code_error.lower()
    assert (state.shown.total, state.shown.lines) == before and state.shown.code_applied == ""
    assert _row(app_db, checkout_id).promotion_code_id is None


def test_a_good_code_is_applied_live_and_removed_again(app_db):
    checkout_id = _open(app_db)
    _spring_code(app_db)

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        state = await root.get_state(CheckoutState)
        await call(root, CheckoutState, "apply_code", {"code": "spring20"})
        applied = (state.code_error, state.shown.code_applied, state.shown.total)
        await call(root, CheckoutState, "remove_code")
        return applied, (state.shown.code_applied, state.shown.total)

    applied, removed = run(scenario())
    assert applied[0] == "" and "SPRING20" in applied[1] and applied[2] == "$16.00"
    assert removed == ("", "$20.00")


def test_a_confirm_sends_the_browser_on_with_a_sign_in_link(app_db):
    checkout_id = _open(app_db)

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        last = await _confirm(root, _visitor())
        again = await _confirm(root, _visitor())  # a second click: nothing happens
        return last, again, await root.get_state(CheckoutState)

    last, again, state = run(scenario())
    assert "window.location.assign" in str(last) and "/auth/verify?token=" in str(last)
    assert again is None
    assert state.done and state.confirming and state.form_error == ""
    [customer] = _customers(app_db, "new@example.com")
    row = _row(app_db, checkout_id)
    assert (row.status, row.customer_id) == ("completed", customer.id)
    with Session(app_db["engine"]) as session:
        assert session.get(Subscription, row.subscription_id).customer_id == customer.id


def test_a_declined_card_is_an_inline_message_and_nothing_is_bought(app_db):
    checkout_id = _open(app_db)

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        last = await _confirm(root, _visitor(**DECLINED_CARD))
        return last, await root.get_state(CheckoutState)

    last, state = run(scenario())
    assert last is None and not state.done and not state.confirming
    assert "declined" in state.form_error.lower()
    assert _customers(app_db, "new@example.com") == []
    row = _row(app_db, checkout_id)
    assert (row.status, row.email, row.customer_id) == ("open", "new@example.com", None)


def test_a_bad_expiry_is_an_inline_message(app_db):
    checkout_id = _open(app_db)

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        await _confirm(root, _visitor(expiry="next year"))
        return await root.get_state(CheckoutState)

    assert run(scenario()).form_error == "Enter the card's expiry as MM/YY."
    assert _row(app_db, checkout_id).status == "open"


def test_an_email_with_an_account_gets_a_sign_in_link_not_a_second_customer(app_db):
    checkout_id = _open(app_db)

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        last = await _confirm(root, _visitor("alice@example.com"))
        return last, await root.get_state(CheckoutState)

    last, state = run(scenario())
    assert last is None and state.notice == checkout_state.EMAIL_EXISTS
    assert state.form_error == ""
    assert len(_customers(app_db, "alice@example.com")) == 1
    row = _row(app_db, checkout_id)
    assert (row.status, row.email) == ("open", "alice@example.com")


def test_a_signed_in_customer_buys_as_themself(app_db):
    checkout_id = _open(app_db)
    alice = app_db["alice"]

    async def scenario():
        root = _on_page(checkout_id, app_db["sessions"]["alice@example.com"])
        await call(root, CheckoutState, "load")
        state = await root.get_state(CheckoutState)
        shown = state.shown.customer_signed_in_email
        # the form has no email field then; a forged one is not used
        last = await _confirm(root, _visitor("mallory@example.com"))
        return shown, last

    shown, last = run(scenario())
    assert shown == "alice@example.com" and "window.location.assign" in str(last)
    assert _row(app_db, checkout_id).customer_id == alice.id
    assert _customers(app_db, "mallory@example.com") == []


def test_tries_are_throttled_per_address(app_db):
    checkout_id = _open(app_db)
    limit = ratelimit.get_limiter().rules["checkout_ip"].amount

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        state = await root.get_state(CheckoutState)
        errors = []
        for _ in range(limit + 1):
            await call(root, CheckoutState, "apply_code", {"code": "NOPE"})
            errors.append(state.code_error)
        await _confirm(root, _visitor())
        return errors, state.form_error

    errors, confirm_error = run(scenario())
    assert all("Too many" not in e for e in errors[:limit])
    assert errors[limit].startswith("Too many attempts")
    assert confirm_error.startswith("Too many attempts")
    assert _row(app_db, checkout_id).status == "open"


def test_an_expired_link_says_so_and_starts_again(app_db):
    checkout_id = _open(app_db, "pro", "year")
    with Session(app_db["engine"]) as session:
        row = session.get(CheckoutSession, checkout_id)
        row.expires_at = CLOCK.now() - timedelta(minutes=1)
        session.add(row)
        session.commit()

    async def scenario():
        root = _on_page(checkout_id)
        await call(root, CheckoutState, "load")
        state = await root.get_state(CheckoutState)
        status = state.shown.status
        return status, await call(root, CheckoutState, "renew")

    status, redirect = run(scenario())
    assert status == "expired"
    fresh = str(redirect).split("/checkout/")[1].split('"')[0].split("'")[0]
    assert fresh != checkout_id and _row(app_db, fresh).status == "open"
    assert _interval(app_db, fresh) == "year"


def test_the_database_away_is_a_toast(app_db, monkeypatch):
    checkout_id = _open(app_db)

    def unavailable(*args, **kwargs):
        raise ServiceUnavailable("The service is briefly unavailable. Try again in a moment.")

    monkeypatch.setattr(checkout, "view", unavailable)

    async def scenario():
        root = _on_page(checkout_id)
        return await call(root, CheckoutState, "load")

    assert "briefly unavailable" in str(run(scenario()))


def test_address_fields_not_on_the_page_give_no_address():
    """The form's submit handler sends every input with an id, an unmounted one as None."""
    from portal_app.state.checkout import _address_from

    absent = {f"billing_{key}": None for key in ("line1", "line2", "city", "postal_code")}
    assert _address_from({**absent, "billing_country": None}, "billing") == {}
    typed = {**absent, "billing_line1": " 1 Main St ", "billing_country": "us"}
    assert _address_from(typed, "billing") == {"line1": "1 Main St", "country": "us"}
