"""What the dashboard's home shows: the merchant, who is signed in, headline counts and the
audit chain's state. Verifying the chain here is incremental (audit.verify_recent), so the page
costs the same with a million events as with a hundred."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Customer, Merchant, StaffUser, Subscription
from portal_app.services import audit
from portal_app.services.portal_preview import PREVIEW_EMAIL, not_preview


@dataclass(frozen=True)
class Home:
    merchant_name: str
    staff_email: str
    customers: int
    active_subscriptions: int
    chain: audit.ChainReport


def read(session: Session, clock: Clock, *, merchant_id: int, staff_id: int) -> Home:
    """The home page's figures, read-only: the caller saves `home.chain` with
    `audit.save_checkpoint` when it verified new events (see `needs_saving`)."""
    merchant = session.get(Merchant, merchant_id)
    staff = session.get(StaffUser, staff_id)
    # the preview customer (staff's stand-in, services/portal_preview.py) is not counted
    customers = session.exec(
        select(sa.func.count(Customer.id)).where(
            Customer.merchant_id == merchant_id, Customer.email != PREVIEW_EMAIL
        )
    ).one()
    active = session.exec(
        select(sa.func.count(Subscription.id)).where(
            Subscription.merchant_id == merchant_id,
            Subscription.status == "active",
            not_preview(Subscription.customer_id, merchant_id),
        )
    ).one()
    return Home(
        merchant_name=merchant.name,
        staff_email=staff.email,
        customers=customers,
        active_subscriptions=active,
        chain=audit.verify_recent(session, clock, merchant_id, save=False),
    )


def needs_saving(home: Home) -> bool:
    """Whether the load verified events past the checkpoint (then a short write moves it)."""
    return home.chain.ok and home.chain.checked > 0


def chain_status(report: audit.ChainReport) -> str:
    """One line for staff: intact (and how far), still catching up, or where it broke."""
    if not report.ok:
        return f"Audit chain BROKEN at event {report.first_bad_seq}: {report.problem}"
    if not report.complete:
        return (
            f"Audit chain intact up to event {report.last_seq} of {report.total}; "
            "the rest is checked on the next loads."
        )
    return f"Audit chain intact ({report.total} events)"
