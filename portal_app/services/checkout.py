"""Hosted checkout: a visitor becomes a customer with a subscription (mode "subscription") or an
order of a one-time product (mode "payment").

A session is opened by a public `/buy/<slug>` link, by staff, or (later) the API. The page reads
it with `view` and edits it (interval, code, details) until `confirm`, which does everything in
the caller's transaction: claim the session (open → completed, a conditional UPDATE, so a double
click, a retry or a second tab completes it once), create or reuse the customer, save the card,
create the subscription (trialing or charged) or the paid order, redeem the coupon, mail the
welcome. Any refusal or decline raises and the caller rolls the whole unit back: nothing is
half-written. The charge is keyed by the session id (`checkout_<id>`), so a retry after a crash
between a real gateway's charge and our commit gets the first charge back instead of a second."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app import routes
from portal_app.clock import Clock
from portal_app.config import load_settings
from portal_app.models import (
    CheckoutSession,
    CheckoutStatus,
    CouponRedemption,
    Customer,
    Merchant,
    Plan,
    Price,
    Product,
)
from portal_app.services import (
    audit,
    auth,
    coupons,
    features,
    magic_links,
    payment_methods,
    portal_links,
    profile,
    ratelimit,
    webhook_events,
)
from portal_app.services.checkout_fulfilment import buy, customer_for, subscribe, welcome
from portal_app.services.checkout_quote import (  # noqa: F401  (view and its rows: the page's API)
    ID_MAX,
    ID_PREFIX,
    INTERVALS,
    NOT_FOUND,
    CheckoutView,
    QuoteLine,
    card_required,
    expire_if_due,
    load,
    price_for,
    quote_for,
    sold_once,
    subscription_parts,
    view,
)
from portal_app.services.errors import (
    CheckoutError,
    CouponError,
    NotFound,
    PaymentError,
    PortalError,
)
from portal_app.services.gateway import CardSetup, PaymentGateway

TTL = timedelta(hours=24)
QUANTITY_MAX = 99
TRIAL_DAYS_MAX = 365


@dataclass(frozen=True)
class CardInput:
    """A card as typed: it goes to the gateway's tokenize call and nowhere else."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str


@dataclass(frozen=True)
class CollectedCard:
    """A card the gateway's own field collected in the browser (Stripe.js): the id of the
    finished card setup, which the gateway checks belongs to this checkout."""

    setup_id: str


@dataclass(frozen=True)
class ConfirmResult:
    checkout_id: str
    customer_id: int
    subscription_id: int | None
    order_id: int | None
    invoice_id: int | None
    # A one-time sign-in token for the browser that confirmed (None on a repeated confirm).
    sign_in_token: str | None
    redirect_to: str
    already_completed: bool = False


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
        if interval not in INTERVALS:
            raise CheckoutError("Choose monthly or annual billing.", code="invalid")
        price = price_for(session, plan, interval, currency)
        if price is None:
            raise CheckoutError("That plan has no price for this billing cycle.", code="invalid")
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
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="checkout.link_created",
        target_type="checkout",
        target_id=row.id,
        customer_id=row.customer_id,
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


def _open(session: Session, clock: Clock, checkout_id: Any) -> CheckoutSession:
    """The session, if it can still be changed; a clear refusal otherwise."""
    row = load(session, checkout_id)
    expire_if_due(session, clock, row)
    if row.status == CheckoutStatus.EXPIRED:
        raise CheckoutError(
            "This checkout link has expired. Start again to get a fresh one.", code="expired"
        )
    if row.status == CheckoutStatus.COMPLETED:
        raise CheckoutError("This checkout is already complete.", code="completed")
    return row


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


def switch_interval(session: Session, clock: Clock, checkout_id: Any, interval: Any) -> None:
    row = _open(session, clock, checkout_id)
    if row.mode != "subscription":
        raise CheckoutError("A one-time purchase has no billing cycle.", code="invalid")
    if interval not in INTERVALS:
        raise CheckoutError("Choose monthly or annual billing.", code="invalid")
    info = subscription_parts(session, row)
    if info.price.interval == interval:
        return
    price = price_for(session, info.plan, interval, info.price.currency)
    if price is None:
        raise CheckoutError("That plan has no price for this billing cycle.", code="invalid")
    row.price_id = price.id
    session.add(row)
    session.flush()


def _throttle(*checks: tuple[str, str]) -> None:
    decision = ratelimit.get_limiter().hit(*checks)
    if not decision.allowed:
        raise CheckoutError(decision.message(), code="rate_limited")


def apply_code(
    session: Session, clock: Clock, checkout_id: Any, code: Any, *, ip: str = ""
) -> None:
    """Check a discount code against the session's plan or product and keep it. A bad code
    raises CouponError with a clear message and leaves the session as it was."""
    row = _open(session, clock, checkout_id)
    if not isinstance(code, str) or not code.strip():
        raise CouponError("Enter a discount code.", code="unknown")
    if len(code) > 64:
        raise CouponError("That discount code is not valid.", code="unknown")
    _throttle(("checkout_ip", ip or "unknown"))
    if row.mode == "subscription":
        info = subscription_parts(session, row)
        plan_id, product_id, currency = info.plan.id, None, info.price.currency
    else:
        product = session.get(Product, row.product_id)
        plan_id, product_id, currency = None, product.id, product.currency
    applied = coupons.resolve_code(
        session,
        clock,
        merchant_id=row.merchant_id,
        code=code,
        plan_id=plan_id,
        product_id=product_id,
        currency=currency,
    )
    row.promotion_code_id = applied.promotion_code_id
    session.add(row)
    session.flush()


def remove_code(session: Session, clock: Clock, checkout_id: Any) -> None:
    row = _open(session, clock, checkout_id)
    row.promotion_code_id = None
    session.add(row)
    session.flush()


def _clean_details(
    email: Any, name: Any, billing_address: Any, shipping_address: Any, *, partial: bool
) -> tuple[str, str, dict, dict]:
    problems: list[str] = []
    address = ""
    if isinstance(email, str) and email.strip():
        try:
            address = auth.normalize_email(email)
        except PortalError as exc:
            problems.append(str(exc))
    elif not partial:
        problems.append("Enter your email address.")
    clean_name = ""
    if isinstance(name, str) and name.strip():
        clean_name = profile.clean_name(name, problems) or ""
    elif not partial:
        problems.append("Enter your name.")
    billing = _address(billing_address, "Billing address", problems)
    shipping = _address(shipping_address, "Shipping address", problems)
    if problems:
        raise CheckoutError(" ".join(problems), code="invalid")
    return address, clean_name, billing, shipping


def _address(value: Any, label: str, problems: list[str]) -> dict:
    if (
        value is None
        or value == {}
        or (isinstance(value, dict) and not any(str(v).strip() for v in value.values()))
    ):
        return {}
    cleaned = profile.clean_address(value, label, problems)
    return cleaned or {}


def save_details(
    session: Session,
    clock: Clock,
    checkout_id: Any,
    *,
    email: Any = "",
    name: Any = "",
    billing_address: Any = None,
    shipping_address: Any = None,
) -> None:
    """Keep what the visitor typed (checked), so a reload or a sign-in round trip keeps it and
    the funnel sees the email given. Bad input raises CheckoutError and keeps the old values."""
    row = _open(session, clock, checkout_id)
    address, clean_name, billing, shipping = _clean_details(
        email, name, billing_address, shipping_address, partial=True
    )
    if address and row.email_given_at is None:
        row.email_given_at = clock.now()
    row.email = address or row.email
    row.name = clean_name or row.name
    row.billing_address = billing or row.billing_address
    row.shipping_address = shipping or row.shipping_address
    session.add(row)
    session.flush()


def send_sign_in_link(session: Session, clock: Clock, checkout_id: Any, *, ip: str = "") -> None:
    """For an email that already has an account: mail its sign-in link, which brings the
    visitor back to this checkout signed in (the purchase then attaches to that customer)."""
    row = _open(session, clock, checkout_id)
    if not row.email:
        raise CheckoutError("Enter your email address.", code="invalid")
    magic_links.request_login_link(
        session,
        clock,
        merchant_id=row.merchant_id,
        email=row.email,
        return_to=routes.checkout(row.id),
        actor=audit.Actor("system", "checkout", ip=ip),
    )


def _claim(session: Session, clock: Clock, row: CheckoutSession) -> bool:
    """open → completed for exactly one transaction (the others wait on the row, then see it
    completed). A rollback reopens it."""
    claimed = session.execute(
        sa.update(CheckoutSession)
        .where(
            CheckoutSession.id == row.id,
            CheckoutSession.status == CheckoutStatus.OPEN,
            CheckoutSession.expires_at > clock.now(),
        )
        .values(status=CheckoutStatus.COMPLETED, completed_at=clock.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(row)
    return claimed == 1


def _completed(row: CheckoutSession) -> ConfirmResult:
    return ConfirmResult(
        checkout_id=row.id,
        customer_id=row.customer_id,
        subscription_id=row.subscription_id,
        order_id=row.order_id,
        invoice_id=row.invoice_id,
        sign_in_token=None,
        redirect_to=_success_redirect(row) or f"{routes.LOGIN}?reason=checkout_done",
        already_completed=True,
    )


def _success_redirect(row: CheckoutSession) -> str:
    if not row.success_url:
        return ""
    joiner = "&" if "?" in row.success_url else "?"
    return f"{row.success_url}{joiner}checkout_id={row.id}"


def start_card_setup(
    session: Session, clock: Clock, gateway: PaymentGateway, checkout_id: Any
) -> CardSetup | None:
    """What the checkout page needs to collect the card with the gateway's own field (a setup
    tied to this checkout, for a customer made at confirm), or None when our form collects it."""
    row = load(session, checkout_id)
    expire_if_due(session, clock, row)
    if row.status != CheckoutStatus.OPEN:
        return None
    return gateway.card_setup(session, clock, customer_id=None, reference=row.id)


def confirm(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    checkout_id: Any,
    *,
    card: CardInput | CollectedCard | None,
    customer_id: int | None = None,
    ip: str = "",
    email: Any = None,
    name: Any = None,
    billing_address: Any = None,
    shipping_address: Any = None,
) -> ConfirmResult:
    """Complete the checkout once. Details passed here replace the saved ones. Raises (and the
    caller rolls everything back) on bad input, a used email, a bad or exhausted code, a
    declined card; a session already completed answers with its first result."""
    row = load(session, checkout_id)
    expire_if_due(session, clock, row)
    if row.status == CheckoutStatus.COMPLETED:
        return _completed(row)
    if row.status == CheckoutStatus.EXPIRED:
        raise CheckoutError(
            "This checkout link has expired. Start again to get a fresh one.", code="expired"
        )
    signed_in = session.get(Customer, customer_id) if customer_id else None
    if signed_in is not None and signed_in.merchant_id != row.merchant_id:
        signed_in = None
    address, clean_name, billing, shipping = _clean_details(
        row.email if email is None and not signed_in else (signed_in.email if signed_in else email),
        (row.name or (signed_in.name if signed_in else "")) if name is None else name,
        row.billing_address if billing_address is None else billing_address,
        row.shipping_address if shipping_address is None else shipping_address,
        # a signed-in customer is known already: their name is not asked again
        partial=signed_in is not None,
    )
    _throttle(("checkout_ip", ip or "unknown"), ("checkout_email", address))
    settings = features.load(session, row.merchant_id)
    if settings.enabled("checkout.require_billing_address") and not billing:
        raise CheckoutError("Enter your billing address.", code="invalid")
    product = session.get(Product, row.product_id) if row.mode == "payment" else None
    if product is not None and product.shippable and not shipping:
        raise CheckoutError("Enter the shipping address.", code="invalid")
    quote = quote_for(session, clock, row, signed_in.id if signed_in else None)
    if quote.code_problem:
        raise CouponError(f"{quote.code_problem} Remove the code to continue.", code="coupon")
    if not _claim(session, clock, row):
        if row.status == CheckoutStatus.COMPLETED:
            return _completed(row)
        raise CheckoutError(
            "This checkout link has expired. Start again to get a fresh one.", code="expired"
        )
    customer, created = customer_for(
        session, clock, row, signed_in, address, clean_name, billing, shipping, quote.currency
    )
    actor = audit.Actor.customer(customer.id, ip=ip)
    needs_card = card_required(session, row, quote)
    if isinstance(card, CollectedCard):
        payment_methods.add_collected_card(
            session,
            clock,
            gateway,
            customer_id=customer.id,
            setup_id=card.setup_id,
            reference=row.id,
            make_default=True,
            actor=actor,
        )
    elif card is not None:
        payment_methods.add_card(
            session,
            clock,
            gateway,
            customer_id=customer.id,
            number=card.number,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            cvc=card.cvc,
            make_default=True,
            actor=actor,
        )
    elif needs_card and payment_methods.default_card(session, customer.id) is None:
        raise PaymentError("Enter your card details.", code="card_required")
    if quote.applied is not None:
        # Before any charge: a code that ran out meanwhile stops here, with nothing charged.
        coupons.redeem(
            session,
            clock,
            applied=quote.applied,
            customer_id=customer.id,
            checkout_id=row.id,
            amount_off=quote.discount,
            currency=quote.currency,
        )
    obligation = f"checkout_{row.id}"
    if row.mode == "subscription":
        subscription, invoice_id = subscribe(
            session, clock, gateway, row, customer, quote, actor, obligation
        )
        row.subscription_id, row.invoice_id = subscription.id, invoice_id
    else:
        order, invoice_id = buy(
            session, clock, gateway, row, customer, product, quote, shipping, actor, obligation
        )
        row.order_id, row.invoice_id = order.id, invoice_id
    if quote.applied is not None:
        session.execute(
            sa.update(CouponRedemption)
            .where(CouponRedemption.checkout_id == row.id)
            .values(subscription_id=row.subscription_id, order_id=row.order_id)
            .execution_options(synchronize_session=False)
        )
    row.customer_id = customer.id
    row.email, row.name = customer.email, clean_name
    row.billing_address, row.shipping_address = billing, shipping
    if row.email_given_at is None:
        row.email_given_at = clock.now()
    session.add(row)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=row.merchant_id,
        actor=actor,
        action="checkout.completed",
        target_type="checkout",
        target_id=row.id,
        customer_id=customer.id,
        after={
            "mode": row.mode,
            "subscription_id": row.subscription_id,
            "order_id": row.order_id,
            "invoice_id": row.invoice_id,
            "total": quote.total,
            "code": quote.applied.code if quote.applied else None,
            "new_customer": created,
        },
    )
    welcome(session, clock, row, customer, created)
    token = magic_links.issue_token(
        session,
        clock,
        customer=customer,
        purpose="login",
        return_to=routes.PORTAL_HOME,
        ttl=auth.LINK_TTL,
        void_older=False,
    )
    redirect = _success_redirect(row) or magic_links.verify_link(token)
    return ConfirmResult(
        checkout_id=row.id,
        customer_id=customer.id,
        subscription_id=row.subscription_id,
        order_id=row.order_id,
        invoice_id=row.invoice_id,
        sign_in_token=token,
        redirect_to=redirect,
    )
