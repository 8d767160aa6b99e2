"""How a checkout session comes to exist: the public `/buy/<slug>` link, a link staff make, a
session the merchant's code makes through the API, a fresh one for an expired link, and the
expiry sweep. Everything here is checked before anything is written, and audited where a person
or a key asked for it."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.config import load_settings
from portal_app.models import (
    CheckoutSession,
    CheckoutStatus,
    Customer,
    Merchant,
    Plan,
    Price,
    Product,
)
from portal_app.services import audit, auth, coupons, features, portal_links, webhook_events
from portal_app.services.checkout_quote import ID_PREFIX, INTERVALS, load, price_for, sold_once
from portal_app.services.errors import CheckoutError, NotFound

TTL = timedelta(hours=24)
TRIAL_DAYS_MAX = 365


def price_in(session: Session, plan: Plan, interval: Any, currency: str) -> Price:
    """The plan's price for a billing cycle the buyer chose, or a clear refusal."""
    if interval not in INTERVALS:
        raise CheckoutError("Choose monthly or annual billing.", code="invalid")
    price = price_for(session, plan, interval, currency)
    if price is None:
        raise CheckoutError("That plan has no price for this billing cycle.", code="invalid")
    return price


def _new_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(24)


def _public_plan(session: Session, merchant_id: int, slug: str) -> Plan | None:
    plan = session.exec(
        select(Plan).where(Plan.merchant_id == merchant_id, Plan.slug == slug)
    ).first()
    if plan is None or not (plan.active and plan.public):
        return None
    product = session.get(Product, plan.product_id)
    return plan if product is not None and product.active else None


def _first_interval(session: Session, plan: Plan, currency: str, wanted: str | None) -> Price:
    order = [wanted] if wanted in INTERVALS else []
    order += [i for i in INTERVALS if i not in order]
    for interval in order:
        price = price_for(session, plan, interval, currency)
        if price is not None:
            return price
    raise NotFound("That plan has no price on sale.")


SUCCESS_URL_MAX = 1000  # CheckoutSession.success_url's length


def _success_url(session: Session, merchant_id: int, url: Any) -> str:
    """The page a buyer returns to after paying: empty (the portal, signed in), or an http(s)
    URL on this portal or on an origin the merchant allow-listed; anything else is refused,
    so a link cannot send a buyer, with their checkout id, to a page the merchant never chose."""
    if url is None or url == "":
        return ""
    if not isinstance(url, str) or len(url) > SUCCESS_URL_MAX or not url.isprintable():
        raise CheckoutError("That return page is not allowed.", code="success_url")
    origins = features.load(session, merchant_id)["checkout.success_url_origins"]
    if not portal_links.allowed_return_url(url, load_settings().public_url, origins):
        raise CheckoutError(
            "That return page is not allowed: add its origin to the checkout settings first.",
            code="success_url",
        )
    return url


def _new_session(clock: Clock, merchant_id: int, **values: Any) -> CheckoutSession:
    now = clock.now()
    return CheckoutSession(
        id=_new_id(), merchant_id=merchant_id, created_at=now, expires_at=now + TTL, **values
    )


def open_link(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    slug: str,
    interval: str | None = None,
    success_url: str | None = None,
) -> str:
    """A new open session for the public link `/buy/<slug>`: a public plan's slug, or a
    product sold once. NotFound (nothing written) for anything else or with checkout off;
    CheckoutError for a `success_url` off the merchant's allow-list."""
    features.require_feature(session, merchant_id, "checkout.public")
    success_url = _success_url(session, merchant_id, success_url)
    slug = (slug or "").strip().lower()[:80]
    merchant = session.get(Merchant, merchant_id)
    plan = _public_plan(session, merchant_id, slug)
    if plan is not None:
        price = _first_interval(session, plan, merchant.default_currency, interval)
        row = _new_session(clock, merchant_id, mode="subscription", price_id=price.id)
    else:
        product = session.exec(
            select(Product).where(Product.merchant_id == merchant_id, Product.slug == slug)
        ).first()
        if not sold_once(product):
            raise NotFound("That product is not on sale.")
        row = _new_session(clock, merchant_id, mode="payment", product_id=product.id)
    row.success_url = success_url
    session.add(row)
    session.flush()
    return row.id


def create_by_staff(
    session: Session, clock: Clock, *, merchant_id: int, staff_id: int, **choices: Any
) -> str:
    """A checkout link staff send to someone (`choices`: plan_id and interval or product_id,
    email, trial_days, success_url; see `create_session`). Audited under the member."""
    row = create_session(
        session,
        clock,
        merchant_id=merchant_id,
        actor=audit.Actor.merchant(staff_id),
        source="staff",
        **choices,
    )
    row.created_by_staff_id = staff_id
    session.add(row)
    return row.id


def create_session(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    actor: audit.Actor,
    source: str,
    plan_id: int | None = None,
    interval: str | None = None,
    product_id: int | None = None,
    email: str = "",
    trial_days: int | None = None,
    success_url: str = "",
    customer_id: int | None = None,
    external_customer_id: str | None = None,
    promotion_code: str | None = None,
    metadata: dict[str, str] | None = None,
) -> CheckoutSession:
    """An open session made by staff or the merchant's code (the REST API), not by a visitor:
    any active plan or product sold once, optionally for an email or an existing customer, with
    its own trial, a discount code already applied, metadata, and an allow-listed page to
    return to. Audited; bad input raises before anything is written."""
    if (plan_id is None) == (product_id is None):
        raise CheckoutError("Choose a plan or a product.", code="invalid")
    success_url = _success_url(session, merchant_id, success_url)
    address = auth.normalize_email(email) if (email or "").strip() else ""
    if trial_days is not None and (
        type(trial_days) is not int or not 0 <= trial_days <= TRIAL_DAYS_MAX
    ):
        raise CheckoutError(
            f"Trial days must be a whole number from 0 to {TRIAL_DAYS_MAX}.", code="invalid"
        )
    merchant = session.get(Merchant, merchant_id)
    customer = None
    if external_customer_id is not None and customer_id is None:
        known = session.exec(
            select(Customer.id).where(
                Customer.merchant_id == merchant_id, Customer.external_id == external_customer_id
            )
        ).first()
        customer_id = known  # that customer signs in to buy; None: created at confirm
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.merchant_id != merchant_id or customer.deleted_at:
            raise NotFound("Customer not found.")
        address = customer.email
    currency = customer.currency if customer is not None else merchant.default_currency
    if plan_id is not None:
        plan = session.get(Plan, plan_id)
        if plan is None or plan.merchant_id != merchant_id or not plan.active:
            raise NotFound("Plan not found.")
        price = price_in(session, plan, interval, currency)
        row = _new_session(
            clock, merchant_id, mode="subscription", price_id=price.id, trial_days=trial_days
        )
        target = {"plan_id": plan.id, "product_id": None, "currency": price.currency}
    else:
        if trial_days:
            raise CheckoutError("A one-time product has no trial.", code="invalid")
        product = session.get(Product, product_id)
        if product is None or product.merchant_id != merchant_id or not sold_once(product):
            raise NotFound("Product not found.")
        row = _new_session(clock, merchant_id, mode="payment", product_id=product.id)
        target = {"plan_id": None, "product_id": product.id, "currency": product.currency}
    if promotion_code is not None:
        applied = coupons.resolve_code(
            session, clock, merchant_id=merchant_id, code=promotion_code, **target
        )
        row.promotion_code_id = applied.promotion_code_id
    row.email = address
    row.customer_id = customer.id if customer is not None else None
    row.external_customer_id = external_customer_id if customer is None else None
    row.success_url = success_url
    row.source = source
    row.metadata_ = dict(metadata or {})
    if address:
        row.email_given_at = clock.now()
    session.add(row)
    session.flush()
    audit.record_about(
        session,
        clock,
        row,
        "checkout",
        actor=actor,
        action="checkout.link_created",
        after={
            "mode": row.mode,
            "price_id": row.price_id,
            "product_id": row.product_id,
            "email": auth.masked(address) if address else "",
            "trial_days": trial_days,
            "success_url": success_url,
            "source": source,
        },
    )
    return row


def renew_link(session: Session, clock: Clock, checkout_id: str) -> str:
    """A fresh open session with what an expired one was for (its choices, not its details)."""
    old = load(session, checkout_id)
    row = _new_session(
        clock,
        old.merchant_id,
        mode=old.mode,
        price_id=old.price_id,
        product_id=old.product_id,
        quantity=old.quantity,
        trial_days=old.trial_days,
        success_url=old.success_url,
        source=old.source,
        created_by_staff_id=old.created_by_staff_id,
        email=old.email,
        email_given_at=clock.now() if old.email else None,
    )
    session.add(row)
    session.flush()
    return row.id


def expire_due(session: Session, clock: Clock, merchant_id: int | None = None) -> int:
    """Mark every open session past its expiry expired (each billing clock run does, so the
    staff list and the funnel count it, and the merchant's app hears checkout.expired; a page
    read marks its own session on the spot)."""
    query = sa.update(CheckoutSession).where(
        CheckoutSession.status == CheckoutStatus.OPEN,
        CheckoutSession.expires_at <= clock.now(),
    )
    if merchant_id is not None:
        query = query.where(CheckoutSession.merchant_id == merchant_id)
    rows = session.execute(
        query.values(status=CheckoutStatus.EXPIRED)
        .returning(CheckoutSession.id, CheckoutSession.merchant_id, CheckoutSession.customer_id)
        .execution_options(synchronize_session=False)
    ).all()
    by_merchant: dict[int, dict[int, int | None]] = {}
    for checkout_id, owner, customer_id in rows:
        by_merchant.setdefault(owner, {})[checkout_id] = customer_id
    for owner, customers in by_merchant.items():
        webhook_events.emit(
            session,
            clock.now(),
            merchant_id=owner,
            type_="checkout.expired",
            kind="checkout",
            object_ids=list(customers),
            customer_of=customers,
        )
    return len(rows)
