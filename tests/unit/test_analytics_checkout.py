"""The checkout funnel in analytics, from rows inserted directly: sessions opened → email given →
paid, trials started → converted (a paid invoice for a period from the trial end on), coupon
redemptions by coupon; only the period's, only the merchant's."""

from __future__ import annotations

from datetime import timedelta

from portal_app.models import (
    CheckoutSession,
    Coupon,
    CouponRedemption,
    Invoice,
    SubscriptionStatus,
    TrialUse,
)
from portal_app.services import analytics
from tests import factories


def _months(clock):
    return analytics.recent_months(clock, 1)


def _checkout(session, clock, merchant, n, *, created=None, **values):
    at = created or clock.now()
    session.add(
        CheckoutSession(
            id=f"cs_{merchant.id}_{n}",
            merchant_id=merchant.id,
            mode="subscription",
            created_at=at,
            expires_at=at + timedelta(hours=24),
            **values,
        )
    )


def test_sessions_opened_email_given_and_paid(session, clock, catalog):
    m, now = catalog.merchant, clock.now()
    _checkout(session, clock, m, 1)
    _checkout(session, clock, m, 2, email="a@example.com", email_given_at=now)
    _checkout(session, clock, m, 3, email="b@example.com", email_given_at=now, status="completed")
    _checkout(session, clock, m, 4, email_given_at=now, status="expired")
    _checkout(session, clock, m, 5, created=now - timedelta(days=400), status="completed")
    other = factories.make_catalog(session, clock, slug="globex")
    _checkout(session, clock, other.merchant, 6, status="completed")
    session.flush()
    funnel = analytics.checkout_funnel(session, m.id, _months(clock))
    assert (funnel.opened, funnel.email_given, funnel.paid) == (4, 3, 1)
    assert funnel.paid_percent == "25.0%"


def test_trials_started_and_converted_by_a_paid_invoice_after_the_trial(session, clock, catalog):
    m, now = catalog.merchant, clock.now()
    for n, (status, paid) in enumerate(
        [("active", True), ("past_due", False), (SubscriptionStatus.TRIALING, False)]
    ):
        customer = factories.make_customer(session, clock, m, f"t{n}@example.com")
        sub = factories.make_subscription_row(
            session, clock, customer, catalog.monthly["Pro"], status=status
        )
        sub.trial_end = now + timedelta(days=14)
        session.add(sub)
        session.add(
            TrialUse(
                customer_id=customer.id,
                product_id=catalog.product.id,
                subscription_id=sub.id,
                started_at=now,
            )
        )
        # Every one has a $0 paid invoice at the trial start: that is not a conversion.
        invoices = [("paid", now)]
        if paid:
            invoices.append(("paid", sub.trial_end))
        elif status == "past_due":  # the conversion's charge was declined: not converted
            invoices.append(("open", sub.trial_end))
        for inv_status, start in invoices:
            session.add(
                Invoice(
                    merchant_id=m.id,
                    customer_id=customer.id,
                    subscription_id=sub.id,
                    status=inv_status,
                    currency="USD",
                    period_start=start,
                    created_at=start,
                )
            )
    session.flush()
    funnel = analytics.checkout_funnel(session, m.id, _months(clock))
    assert (funnel.trials_started, funnel.trials_converted, funnel.trials_running) == (3, 1, 1)
    assert funnel.trial_conversion_percent == "50.0%"  # 1 of the 2 trials that ended


def test_coupon_redemptions_by_coupon_most_first(session, clock, catalog, customer):
    m, now = catalog.merchant, clock.now()
    spring = Coupon(merchant_id=m.id, name="Spring", percent_off=20, created_at=now)
    vip = Coupon(merchant_id=m.id, name="VIP", percent_off=50, created_at=now)
    session.add_all([spring, vip])
    session.flush()
    for coupon, at in [
        (vip, now),
        (spring, now),
        (spring, now - timedelta(hours=1)),
        (vip, now - timedelta(days=400)),  # before the period
    ]:
        session.add(
            CouponRedemption(
                merchant_id=m.id,
                coupon_id=coupon.id,
                customer_id=customer.id,
                currency="USD",
                created_at=at,
            )
        )
    session.flush()
    funnel = analytics.checkout_funnel(session, m.id, _months(clock))
    assert funnel.redemptions == 3
    assert [(c.coupon, c.redemptions) for c in funnel.by_coupon] == [("Spring", 2), ("VIP", 1)]


def test_nothing_yet_is_zeros_and_no_rate(session, clock, catalog):
    funnel = analytics.checkout_funnel(session, catalog.merchant.id, _months(clock))
    assert (funnel.opened, funnel.paid, funnel.trials_started, funnel.redemptions) == (0, 0, 0, 0)
    assert funnel.paid_percent == funnel.trial_conversion_percent == "n/a"
    assert analytics.overview(session, catalog.merchant.id, clock, 1).checkout == funnel
