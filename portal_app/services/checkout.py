"""Hosted checkout: a visitor becomes a customer with a subscription (mode "subscription") or an
order of a one-time product (mode "payment").

A session is opened (`checkout_opening`) by a public `/buy/<slug>` link, staff or the API. The page
reads it with `view` and edits it (interval, code, details) until `confirm`, which does everything
in the caller's transaction: claim the session (open → completed, a conditional UPDATE, so a double
click, a retry or a second tab completes it once), create or reuse the customer, save the card,
create the subscription (trialing or charged) or the paid order, redeem the coupon, mail the
welcome. Any refusal or decline raises and the caller rolls the whole unit back: nothing is
half-written. The charge is keyed by the session id (`checkout_<id>`), so a retry after a crash
between a real gateway's charge and our commit gets the first charge back instead of a second."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from portal_app import routes
from portal_app.clock import Clock
from portal_app.models import CheckoutSession, CheckoutStatus, CouponRedemption, Customer, Product
from portal_app.services import (
    audit,
    auth,
    coupons,
    features,
    magic_links,
    payment_methods,
    profile,
    ratelimit,
)
from portal_app.services.checkout_fulfilment import buy, customer_for, subscribe, welcome
from portal_app.services.checkout_opening import (  # noqa: F401  (how sessions open: the API's)
    SUCCESS_URL_MAX,
    TRIAL_DAYS_MAX,
    TTL,
    create_by_staff,
    create_session,
    expire_due,
    open_link,
    price_in,
    renew_link,
)
from portal_app.services.checkout_quote import (  # noqa: F401  (view and its rows: the page's API)
    ID_MAX,
    INTERVALS,
    NOT_FOUND,
    CheckoutView,
    QuoteLine,
    card_required,
    expire_if_due,
    load,
    quote_for,
    subscription_parts,
    view,
)
from portal_app.services.errors import CheckoutError, CouponError, PaymentError, PortalError
from portal_app.services.gateway import CardSetup, PaymentGateway


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


def _expired() -> CheckoutError:
    return CheckoutError(
        "This checkout link has expired. Start again to get a fresh one.", code="expired"
    )


def _open(session: Session, clock: Clock, checkout_id: Any) -> CheckoutSession:
    """The session, if it can still be changed; a clear refusal otherwise."""
    row = load(session, checkout_id)
    expire_if_due(session, clock, row)
    if row.status == CheckoutStatus.EXPIRED:
        raise _expired()
    if row.status == CheckoutStatus.COMPLETED:
        raise CheckoutError("This checkout is already complete.", code="completed")
    return row


def switch_interval(session: Session, clock: Clock, checkout_id: Any, interval: Any) -> None:
    row = _open(session, clock, checkout_id)
    if row.mode != "subscription":
        raise CheckoutError("A one-time purchase has no billing cycle.", code="invalid")
    info = subscription_parts(session, row)
    if info.price.interval == interval:
        return
    price = price_in(session, info.plan, interval, info.price.currency)
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
        raise _expired()
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
        raise _expired()
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
    audit.record_about(
        session,
        clock,
        row,
        "checkout",
        actor=actor,
        action="checkout.completed",
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
