"""The demo merchant: a catalog, customers in every interesting state, and six months of billing
history produced by the real services and the billing clock (nothing is faked in the tables)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock, FixedClock, add_months
from portal_app.db import session_scope
from portal_app.models import (
    AssetGrant,
    Coupon,
    Customer,
    DigitalAsset,
    LicenseKey,
    Merchant,
    NotificationPreference,
    Plan,
    Price,
    Product,
    PromotionCode,
    RetentionOffer,
)
from portal_app.services import (
    audit,
    billing_clock,
    cancellation,
    features,
    invoices,
    payment_methods,
    plan_changes,
    subscriptions,
)
from portal_app.services.catalog_rules import slugify
from portal_app.services.gateway import PaymentGateway

DEMO_SLUG = "acme"
HISTORY_MONTHS = 6
SEED_ACTOR = audit.Actor("system", "seed")

PLANS = [  # name, tier, monthly, annual (USD cents), features
    ("Starter", 0, 900, 9000, ["1 project", "Community support"]),
    ("Pro", 1, 2900, 29000, ["10 projects", "Email support", "CLI downloads"]),
    ("Business", 2, 9900, 99000, ["Unlimited projects", "Priority support", "SSO"]),
]
# What the merchant's app checks through the API's customer state (GET /customers/{id}/state).
ENTITLEMENTS = {
    "Starter": {"projects": 1},
    "Pro": {"projects": 10, "cli_downloads": True},
    "Business": {"projects": 1000, "cli_downloads": True, "sso": True},
}

# email, name, plan, interval, card number, what happens at "now"
CUSTOMERS = [
    ("zoe@example.com", "Zoë Ångström", "Pro", "month", "4242424242424242", "active"),
    ("nikos@example.com", "Νίκος Παπαδόπουλος", "Starter", "year", "5555555555554444", "active"),
    ("olga@example.com", "Ольга Иванова", "Business", "month", "4242424242424242", "past_due"),
    ("sam@example.com", "Sam Okafor", "Pro", "month", "378282246310005", "paused"),
    ("li@example.com", "Li Wei", "Starter", "month", "4242424242424242", "canceled"),
    ("maria@example.com", "María José García", "Pro", "year", "4242424242424242", "canceling"),
    ("ben@example.com", "Ben Carter", "Business", "month", "5555555555554444", "downgrading"),
    ("ada@example.com", "Ada Lovelace", None, None, "4242424242424242", "open_invoice"),
]

# Customers who went through the cancellation flow during the history, so the analytics page has
# reasons and a funnel to show. No browser test relies on them (the ones above are all in use).
# email, name, plan, interval, card number, days before "now", survey reason, outcome
FLOW_CUSTOMERS = [
    (
        "priya@example.com",
        "Priya Raman",
        "Pro",
        "month",
        "4242424242424242",
        75,
        "too_expensive",
        "discount",
    ),
    ("tomas@example.com", "Tomás Silva", "Pro", "month", "4242424242424242", 52, "unused", "pause"),
    (
        "hana@example.com",
        "Hana Kobayashi",
        "Starter",
        "month",
        "5555555555554444",
        33,
        "switched_service",
        "cancel",
    ),
    (
        "kwame@example.com",
        "Kwame Mensah",
        "Business",
        "month",
        "4242424242424242",
        20,
        "missing_features",
        "abandon",
    ),
]
FLOW_PAUSE_DAYS = 14  # the flow's pause ends, and billing resumes, before "now"
# Sold once at checkout (/buy/<slug>): name, slug, amount (USD cents), ships, grants the CLI
ONE_TIME_PRODUCTS = [
    ("Acme sticker pack", "sticker-pack", 1200, True, False),
    ("Acme CLI lifetime licence", "cli-lifetime", 4900, False, True),
]
TRIAL_PLAN, TRIAL_DAYS = "Pro", 14
# A discount code for the demo's checkout: code, coupon name, percent off, duration, cycles
DEMO_CODES = [("WELCOME20", "Welcome: 20% off the first invoice", 20, "once", None)]
RETENTION_OFFERS = [  # name, percent off, billing cycles, the survey reasons it answers
    ("25% off for 3 months", 25, 3, ["too_expensive", "switched_service"]),
    ("50% off your next month", 50, 1, ["unused"]),
]


@dataclass
class SeedResult:
    created: bool
    merchant_id: int


def seed_demo(
    engine: sa.Engine, gateway: PaymentGateway, now_clock: Clock, files_dir: Path
) -> SeedResult:
    """Idempotent: a database that already has the demo merchant is left alone."""
    with session_scope(engine) as session:
        existing = session.exec(select(Merchant).where(Merchant.slug == DEMO_SLUG)).first()
        if existing is not None:
            return SeedResult(False, existing.id)
    now = now_clock.now().replace(microsecond=0)
    start = add_months(now, -HISTORY_MONTHS)
    history_clock = FixedClock(start)
    with session_scope(engine) as session:
        merchant = _catalog(session, history_clock, files_dir)
        merchant_id = merchant.id
        prices = _prices(session, merchant_id)
        everyone = [row[:5] for row in CUSTOMERS] + [row[:5] for row in FLOW_CUSTOMERS]
        for email, name, plan, interval, number in everyone:
            customer = Customer(
                merchant_id=merchant_id,
                email=email,
                name=name,
                billing_address={
                    "line1": "1 Demo Street",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                },
                custom_fields={"company": "" if plan is None else f"{name.split()[0]} Ltd"},
                created_at=start,
            )
            session.add(customer)
            session.flush()
            session.add(NotificationPreference(customer_id=customer.id))
            actor = audit.Actor.customer(customer.id)
            payment_methods.add_card(
                session,
                history_clock,
                gateway,
                customer_id=customer.id,
                number=number,
                exp_month=12,
                exp_year=now.year + 2,
                cvc="1234" if number.startswith("3") else "123",
                actor=actor,
            )
            if plan is not None:
                subscriptions.create(
                    session,
                    history_clock,
                    gateway,
                    customer_id=customer.id,
                    price_id=prices[(plan, interval)].id,
                    actor=actor,
                )
    # Six months of renewals, by the real billing clock, stopping for each cancellation flow on
    # the day it happened.
    for days, *flow in sorted(
        ((row[5], row[0], row[6], row[7]) for row in FLOW_CUSTOMERS), reverse=True
    ):
        when = now - timedelta(days=days)
        billing_clock.advance(engine, history_clock, gateway, now=when, merchant_id=merchant_id)
        with session_scope(engine) as session:
            _cancellation_flow(session, FixedClock(when), merchant_id, *flow)
    billing_clock.advance(engine, history_clock, gateway, now=now, merchant_id=merchant_id)
    with session_scope(engine) as session:
        _states_at_now(session, FixedClock(now), gateway, merchant_id, prices)
    billing_clock.advance(engine, FixedClock(now), gateway, now=now, merchant_id=merchant_id)
    return SeedResult(True, merchant_id)


def _catalog(session: Session, clock: Clock, files_dir: Path) -> Merchant:
    merchant = Merchant(
        slug=DEMO_SLUG,
        name="Acme Cloud",
        address="Acme Cloud GmbH, Invalidenstraße 1, 10115 Berlin, Germany",
        default_currency="USD",
        is_demo=True,
        created_at=clock.now(),
    )
    session.add(merchant)
    session.flush()
    features.apply_preset(session, clock, merchant.id, "saas", SEED_ACTOR)
    features.save(
        session,
        clock,
        merchant.id,
        {
            "subscriptions.pause": True,
            "cancel.pause_instead": True,
            "cancel.mode": "customer_choice",
            "branding.name": "Acme Cloud",
            "profile.custom_field_definitions": [
                {"key": "company", "label": "Company", "type": "text"},
                {"key": "vat_id", "label": "VAT ID", "type": "text"},
                {
                    "key": "team_size",
                    "label": "Team size",
                    "type": "select",
                    "options": ["1-10", "11-50", "51+"],
                },
            ],
        },
        SEED_ACTOR,
    )
    product = Product(
        merchant_id=merchant.id, name="Acme Cloud", description="Hosted builds", slug="acme-cloud"
    )
    session.add(product)
    session.flush()
    plans = {}
    for name, tier, monthly, annual, perks in PLANS:
        plan = Plan(
            merchant_id=merchant.id,
            product_id=product.id,
            name=name,
            tier=tier,
            features=perks,
            entitlements=ENTITLEMENTS[name],
            slug=slugify(name),
        )
        session.add(plan)
        session.flush()
        plans[name] = plan
        session.add_all(
            Price(
                merchant_id=merchant.id,
                plan_id=plan.id,
                interval=interval,
                amount=amount,
                currency="USD",
            )
            for interval, amount in (("month", monthly), ("year", annual))
        )
    session.add_all(
        RetentionOffer(
            merchant_id=merchant.id,
            name=name,
            percent_off=percent_off,
            duration_cycles=cycles,
            reasons=list(reasons),
            created_at=clock.now(),
        )
        for name, percent_off, cycles, reasons in RETENTION_OFFERS
    )
    plans[TRIAL_PLAN].trial_days = TRIAL_DAYS
    assets = _digital_assets(session, clock, merchant.id, plans, files_dir)
    _storefront(session, clock, merchant.id, assets)
    session.flush()
    return merchant


def _storefront(session, clock, merchant_id, assets) -> None:
    """One-time products (one grants the CLI download and a licence) and a discount code."""
    for name, slug, amount, ships, digital in ONE_TIME_PRODUCTS:
        product = Product(
            merchant_id=merchant_id,
            name=name,
            slug=slug,
            one_time_amount=amount,
            currency="USD",
            shippable=ships,
        )
        session.add(product)
        session.flush()
        if digital:
            session.add_all(
                AssetGrant(asset_id=asset.id, product_id=product.id) for asset in assets[:2]
            )
    for code, name, percent, duration, cycles in DEMO_CODES:
        coupon = Coupon(
            merchant_id=merchant_id,
            name=name,
            percent_off=percent,
            duration=duration,
            duration_cycles=cycles,
            created_at=clock.now(),
        )
        session.add(coupon)
        session.flush()
        session.add(
            PromotionCode(
                merchant_id=merchant_id, coupon_id=coupon.id, code=code, created_at=clock.now()
            )
        )


def _digital_assets(session, clock, merchant_id, plans, files_dir: Path) -> list[DigitalAsset]:
    files_dir.mkdir(parents=True, exist_ok=True)
    relative = f"{merchant_id}/acme-cli-2.0-linux.tar.gz"
    path = files_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ACME CLI 2.0 demo archive\n" * 64)
    assets = [
        DigitalAsset(
            merchant_id=merchant_id,
            kind="file",
            name="Acme CLI 2.0 (Linux)",
            description="Command-line client",
            file_path=relative,
            file_size=path.stat().st_size,
            download_limit=20,
            created_at=clock.now(),
        ),
        DigitalAsset(
            merchant_id=merchant_id,
            kind="license",
            name="Acme Desktop licence",
            description="One seat of the desktop app",
            created_at=clock.now(),
        ),
        DigitalAsset(
            merchant_id=merchant_id,
            kind="link",
            name="Customer community",
            url="https://community.example.com/acme",
            created_at=clock.now(),
        ),
    ]
    session.add_all(assets)
    session.flush()
    for asset in assets:
        for plan_name in ("Pro", "Business"):
            session.add(AssetGrant(asset_id=asset.id, plan_id=plans[plan_name].id))
    for i in range(1, 21):
        session.add(LicenseKey(asset_id=assets[1].id, key=f"ACME-DEMO-{i:04d}-{i * 7919:06d}"))
    return assets


def _prices(session: Session, merchant_id: int) -> dict[tuple[str, str], Price]:
    rows = session.exec(
        select(Price, Plan)
        .join(Plan, Plan.id == Price.plan_id)
        .where(Price.merchant_id == merchant_id)
    ).all()
    return {(plan.name, price.interval): price for price, plan in rows}


def _states_at_now(session, clock, gateway, merchant_id, prices) -> None:
    """Put each demo customer into the state its row in CUSTOMERS names."""
    by_email = {
        c.email: c
        for c in session.exec(select(Customer).where(Customer.merchant_id == merchant_id))
    }
    for email, _name, _plan, _interval, _number, state in CUSTOMERS:
        customer = by_email[email]
        actor = audit.Actor.customer(customer.id)
        subs = subscriptions.list_for_customer(session, customer.id)
        sub = subs[0] if subs else None
        if state == "past_due":
            # The card starts failing; the next renewal (run just after seeding) goes past due.
            payment_methods.add_card(
                session,
                clock,
                gateway,
                customer_id=customer.id,
                number="4000000000009995",
                exp_month=12,
                exp_year=clock.now().year + 2,
                cvc="123",
                make_default=True,
                actor=actor,
            )
            sub.current_period_end = clock.now() - timedelta(hours=1)
            session.add(sub)
        elif state == "paused":
            subscriptions.pause(
                session,
                clock,
                customer_id=customer.id,
                subscription_id=sub.id,
                resume_at=clock.now() + timedelta(days=30),
                actor=actor,
            )
        elif state in ("canceled", "canceling"):  # now, or at the end of the period
            subscriptions.cancel(
                session,
                clock,
                customer_id=customer.id,
                subscription_id=sub.id,
                at_period_end=state == "canceling",
                actor=actor,
            )
        elif state == "downgrading":
            plan_changes.change_plan(
                session,
                clock,
                gateway,
                customer_id=customer.id,
                subscription_id=sub.id,
                new_price_id=prices[("Pro", "month")].id,
                timing="period_end",
                actor=actor,
            )
        elif state == "open_invoice":
            draft = invoices.create_draft(
                session,
                clock,
                customer=customer,
                currency="USD",
                lines=[
                    invoices.LineSpec("manual", "Onboarding workshop", 45000),
                    invoices.LineSpec("manual", "Extra build minutes (2,000)", 4000),
                ],
                billing_reason="manual",
            )
            invoices.finalize(session, clock, draft, SEED_ACTOR)


def _cancellation_flow(
    session: Session, clock: Clock, merchant_id: int, email: str, reason: str, outcome: str
) -> None:
    """One pass through the cancellation flow as the customer's page makes it: start, survey,
    offers shown (and noted), then the outcome."""
    customer = session.exec(
        select(Customer).where(Customer.merchant_id == merchant_id, Customer.email == email)
    ).one()
    actor = audit.Actor.customer(customer.id)
    sub = subscriptions.list_for_customer(session, customer.id)[0]
    attempt = cancellation.start(
        session, clock, customer_id=customer.id, subscription_id=sub.id, actor=actor
    )
    ids = {"customer_id": customer.id, "attempt_id": attempt.id, "actor": actor}
    cancellation.answer_survey(session, clock, reason=reason, **ids)
    found = cancellation.offers(session, clock, customer_id=customer.id, attempt_id=attempt.id)
    cancellation.record_offers_shown(session, clock, offers=found, **ids)
    if outcome == "discount":
        cancellation.accept_offer(session, clock, offer_id=found.discount.offer_id, **ids)
    elif outcome == "pause":
        resume_at = clock.now() + timedelta(days=FLOW_PAUSE_DAYS)
        cancellation.accept_pause(session, clock, resume_at=resume_at, **ids)
    elif outcome == "cancel":
        cancellation.confirm_cancel(session, clock, at_period_end=False, **ids)
    else:
        cancellation.abandon(session, clock, **ids)
