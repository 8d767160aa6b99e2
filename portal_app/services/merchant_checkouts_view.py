"""Staff → Checkouts, read for the screen: the merchant's checkout sessions (open, completed,
expired), newest first, one page at a time, and what the "Create a checkout link" form offers
(active plans with their billing cycles, products sold once). Creating a link is
`checkout.create_by_staff`'s.

A session still marked open whose 24 hours are over is shown, and filtered, as expired: the
checkout service marks it so on its next read (or `expire_due`), which a list must not wait for."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app import formatting, routes
from portal_app.clock import Clock, ensure_utc
from portal_app.config import load_settings
from portal_app.models import CheckoutSession, CheckoutStatus, Customer, Plan, Price, Product
from portal_app.services import catalog_admin
from portal_app.services.errors import PortalError
from portal_app.services.paging import Page, clamp_page, offset, page_count

PAGE_SIZE = 20
STATUS_FILTERS = ("all", CheckoutStatus.OPEN, CheckoutStatus.COMPLETED, CheckoutStatus.EXPIRED)
SOURCE_LABELS = {"public": "Public link", "staff": "Staff link", "api": "API"}
INTERVAL_WORDS = {"month": "monthly", "year": "annual"}


class CheckoutListRow(TypedDict):
    id: str
    created: str  # UTC, to the minute
    item: str  # "Pro · monthly" or the product's name
    email: str  # "" when not given yet
    status: str  # open | completed | expired
    source: str  # "Public link", "Staff link", "API"
    customer_id: str  # "" until completed
    customer: str  # the customer's name, else email; "" until completed
    # A staff link's address while it is open, else "" (a visitor's own session is theirs: its
    # address is never shown around the dashboard).
    link: str


class LinkChoice(TypedDict):
    value: str  # "plan:<id>:<interval>" or "product:<id>"
    label: str


def checkout_link(checkout_id: str) -> str:
    """The full address of a checkout session, to send to the buyer."""
    return f"{load_settings().public_url}{routes.checkout(checkout_id)}"


def _shown_status(row: CheckoutSession, now: datetime) -> str:
    if row.status == CheckoutStatus.OPEN and ensure_utc(row.expires_at) <= now:
        return CheckoutStatus.EXPIRED
    return row.status


def _status_condition(status: str, now: datetime):
    open_ = CheckoutSession.status == CheckoutStatus.OPEN
    if status == CheckoutStatus.OPEN:
        return sa.and_(open_, CheckoutSession.expires_at > now)
    if status == CheckoutStatus.EXPIRED:
        return sa.or_(
            CheckoutSession.status == CheckoutStatus.EXPIRED,
            sa.and_(open_, CheckoutSession.expires_at <= now),
        )
    return CheckoutSession.status == status


def checkouts_page(
    session: Session, clock: Clock, *, merchant_id: int, status: str = "all", page: int = 1
) -> Page:
    """One page of the merchant's checkout sessions, newest first. Rows: `CheckoutListRow`."""
    if status not in STATUS_FILTERS:
        raise PortalError("That filter is not available.")
    now = clock.now()
    query = (
        select(CheckoutSession, Plan.name, Price.interval, Product.name, Customer)
        .outerjoin(Price, Price.id == CheckoutSession.price_id)
        .outerjoin(Plan, Plan.id == Price.plan_id)
        .outerjoin(Product, Product.id == CheckoutSession.product_id)
        .outerjoin(Customer, Customer.id == CheckoutSession.customer_id)
        .where(CheckoutSession.merchant_id == merchant_id)
    )
    if status != "all":
        query = query.where(_status_condition(status, now))
    total = session.exec(
        select(sa.func.count(CheckoutSession.id)).where(
            CheckoutSession.merchant_id == merchant_id,
            *([] if status == "all" else [_status_condition(status, now)]),
        )
    ).one()
    shown = clamp_page(page, total, PAGE_SIZE)
    found = session.exec(
        query.order_by(CheckoutSession.created_at.desc(), CheckoutSession.id.desc())
        .offset(offset(shown, PAGE_SIZE))
        .limit(PAGE_SIZE)
    ).all()
    rows = [_row(*found_row, now=now) for found_row in found]
    return Page(rows, total, shown, page_count(total, PAGE_SIZE))


def _row(
    row: CheckoutSession,
    plan_name: str | None,
    interval: str | None,
    product_name: str | None,
    customer: Customer | None,
    *,
    now: datetime,
) -> CheckoutListRow:
    if plan_name is not None:
        item = f"{plan_name} · {INTERVAL_WORDS.get(interval or '', interval or '')}"
    else:
        item = product_name or ""
    status = _shown_status(row, now)
    done = status == CheckoutStatus.COMPLETED and customer is not None
    return CheckoutListRow(
        id=row.id,
        created=formatting.iso_minute(row.created_at),
        item=item,
        email=row.email,
        status=status,
        source=SOURCE_LABELS.get(row.source, row.source),
        customer_id=str(customer.id) if done else "",
        customer=(customer.name or customer.email) if done else "",
        link=checkout_link(row.id)
        if status == CheckoutStatus.OPEN and row.source == "staff"
        else "",
    )


def link_choices(session: Session, clock: Clock, *, merchant_id: int) -> list[LinkChoice]:
    """What a staff checkout link can sell: each active plan (public or not) per billing cycle it
    has an active price for in the merchant's currency, then each active product sold once."""
    currency = catalog_admin.merchant_currency(session, merchant_id)
    choices: list[LinkChoice] = []
    for plan, product_name, price in session.exec(
        select(Plan, Product.name, Price)
        .join(Product, Product.id == Plan.product_id)
        .join(Price, Price.plan_id == Plan.id)
        .where(
            Plan.merchant_id == merchant_id,
            Plan.active.is_(True),
            Price.active.is_(True),
            Price.currency == currency,
        )
        .order_by(Product.name, Plan.tier, Plan.id, Price.interval)
    ).all():
        trial = f", {plan.trial_days}-day trial" if plan.trial_days else ""
        choices.append(
            LinkChoice(
                value=f"plan:{plan.id}:{price.interval}",
                label=f"{product_name} · {plan.name} · "
                f"{formatting.price(price.amount, price.currency, price.interval)}{trial}",
            )
        )
    for product in session.exec(
        select(Product)
        .where(
            Product.merchant_id == merchant_id,
            Product.active.is_(True),
            Product.one_time_amount.is_not(None),
        )
        .order_by(Product.name, Product.id)
    ).all():
        choices.append(
            LinkChoice(
                value=f"product:{product.id}",
                label=f"{product.name} · "
                f"{formatting.price(product.one_time_amount, product.currency)} once",
            )
        )
    return choices


def parse_choice(value: object) -> dict[str, int | str | None]:
    """A `LinkChoice.value` from the browser as `create_by_staff`'s plan_id / interval /
    product_id; anything else is a refusal."""
    parts = str(value).split(":")
    number = parts[1] if len(parts) > 1 and parts[1].isdigit() and len(parts[1]) <= 12 else ""
    if number and len(parts) == 3 and parts[0] == "plan" and parts[2] in INTERVAL_WORDS:
        return {"plan_id": int(number), "interval": parts[2], "product_id": None}
    if number and len(parts) == 2 and parts[0] == "product":
        return {"plan_id": None, "interval": None, "product_id": int(number)}
    raise PortalError("Choose a plan or a product from the list.")
