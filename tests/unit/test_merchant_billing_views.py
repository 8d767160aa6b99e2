"""Staff billing views: invoices by status with overdue on the (test) clock, pages and sort, sums
per currency; payments; the outbox with sealed bodies hidden and failed mail retried; and the
preview customer, which is never a real customer. Services on the test database (SQLite, or
PostgreSQL with PORTAL_TEST_DB_URL); states on the app's own database."""

from __future__ import annotations

import re
import smtplib
import socket
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal_app.clock import FixedClock
from portal_app.models import (
    AuditEvent,
    Customer,
    Invoice,
    LoginToken,
    OutboxEmail,
    PaymentMethod,
    Price,
    Receipt,
    Subscription,
)
from portal_app.services import (
    audit,
    billing_clock,
    customers,
    features,
    invoices,
    magic_links,
    mailer,
    merchant_billing,
    outbox_admin,
    payment_methods,
    portal_preview,
    subscriptions,
)
from portal_app.services.errors import NotFound
from portal_app.services.sandbox_gateway import SandboxGateway
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_invoices import MerchantInvoicesState
from portal_app.state.merchant_mailbox import MerchantOutboxState
from portal_app.state.merchant_portal_preview import PortalPreviewState
from tests import factories
from tests.statekit import call, root_with, run
from tests.unit.test_concurrency import _race

STAFF = audit.Actor.merchant(1)


def _invoice(session, clock, customer, amount, currency="USD", status="open") -> Invoice:
    """A finalized invoice (due when finalized), then paid or voided when asked."""
    invoice = factories.finalized_invoice(
        session, clock, customer, [invoices.LineSpec("manual", "Work", amount)], currency=currency
    )
    if status == "void":
        invoices.void(session, clock, invoice, audit.SYSTEM)
    elif status == "paid":
        invoice.status, invoice.amount_paid, invoice.paid_at = "paid", amount, clock.now()
        session.add(invoice)
        session.flush()
    return invoice


def _numbers(page) -> list[str]:
    return [row.number for row in page.rows]


# --- invoices: overdue on the clock --------------------------------------------------------------


def test_overdue_means_open_and_past_due_on_the_clock(session, clock, catalog, customer):
    invoice = _invoice(session, clock, customer, 4900)
    merchant_id = catalog.merchant.id

    def listed(status, at):
        return merchant_billing.list_invoices(session, at, merchant_id, status=status)

    assert _numbers(listed("open", clock)) == [invoices.display_number(invoice)]
    assert listed("overdue", clock).total == 0  # due now, not past due yet
    assert listed("open", clock).rows[0].days_overdue is None

    later = FixedClock(clock.now() + timedelta(days=3, hours=5))
    row = listed("overdue", later).rows[0]
    assert (row.id, row.days_overdue, row.amount_due) == (invoice.id, 3, 4900)
    assert row.customer_email == customer.email and row.customer_name == customer.name

    # The merchant's test clock (a demo merchant moved 10 days ahead) moves "overdue" with it.
    catalog.merchant.clock_offset_seconds = int(timedelta(days=10).total_seconds())
    test_clock = billing_clock.merchant_clock(catalog.merchant, base=clock)
    assert listed("overdue", test_clock).rows[0].days_overdue == 10
    assert merchant_billing.invoice_totals(session, test_clock, merchant_id).overdue.count == 1
    assert merchant_billing.invoice_totals(session, clock, merchant_id).overdue.count == 0

    # Paid and void invoices are never overdue, however late.
    invoices.void(session, clock, invoice, audit.SYSTEM)
    assert listed("overdue", test_clock).total == 0
    assert listed("void", test_clock).rows[0].days_overdue is None


def test_filters_pages_and_sort_by_due_date(session, clock, catalog, customer):
    made = []
    for i in range(45):
        clock.set(clock.now() + timedelta(hours=1))
        made.append(_invoice(session, clock, customer, 100 + i))
    _invoice(session, clock, customer, 7, status="paid")
    _invoice(session, clock, customer, 8, status="void")
    # drafts are never listed
    factories.draft_invoice(session, clock, customer, [invoices.LineSpec("manual", "Draft", 9)])
    later = FixedClock(clock.now() + timedelta(days=1))
    merchant_id = catalog.merchant.id
    expected = [invoices.display_number(i) for i in made]

    pages = [
        merchant_billing.list_invoices(session, later, merchant_id, status="open", page=n)
        for n in (1, 2, 3)
    ]
    assert [len(p.rows) for p in pages] == [20, 20, 5]
    assert {(p.total, p.pages) for p in pages} == {(45, 3)}
    assert [n for p in pages for n in _numbers(p)] == expected  # oldest due first, no repeats

    newest_first = merchant_billing.list_invoices(
        session, later, merchant_id, status="open", sort="due_desc"
    )
    assert _numbers(newest_first) == expected[::-1][:20]
    # A page past the end shows the last page; below 1 shows the first.
    beyond = merchant_billing.list_invoices(session, later, merchant_id, status="open", page=99)
    assert (beyond.page, _numbers(beyond)) == (3, expected[40:])
    assert merchant_billing.list_invoices(session, later, merchant_id, page=-4).page == 1

    counts = {
        status: merchant_billing.list_invoices(session, later, merchant_id, status=status).total
        for status in merchant_billing.INVOICE_FILTERS
    }
    assert counts == {"open": 45, "overdue": 45, "paid": 1, "void": 1, "all": 47}
    with pytest.raises(merchant_billing.BillingViewError):
        merchant_billing.list_invoices(session, later, merchant_id, status="draft")
    with pytest.raises(merchant_billing.BillingViewError):
        merchant_billing.list_invoices(session, later, merchant_id, sort="amount")


def test_outstanding_is_summed_per_currency_in_minor_units(session, clock, catalog, customer):
    other = factories.make_customer(session, clock, catalog.merchant, "eu@example.com")
    _invoice(session, clock, customer, 1999)  # USD, will be overdue
    _invoice(session, clock, other, 5000, "EUR")  # EUR, will be overdue
    _invoice(session, clock, other, 1200, "JPY")  # JPY, will be overdue
    _invoice(session, clock, customer, 123, status="paid")
    _invoice(session, clock, customer, 456, status="void")
    clock.advance(timedelta(days=2))
    _invoice(session, clock, customer, 1, "USD")  # open, due now: not overdue
    _invoice(session, clock, other, 250, "EUR")  # open, due now: not overdue

    totals = merchant_billing.invoice_totals(session, clock, catalog.merchant.id)
    assert totals.open.count == 5
    assert totals.open.sums == {"EUR": 5250, "JPY": 1200, "USD": 2000}
    assert totals.overdue.count == 3
    assert totals.overdue.sums == {"EUR": 5000, "JPY": 1200, "USD": 1999}
    assert all(type(v) is int for v in (*totals.open.sums.values(), *totals.overdue.sums.values()))

    empty = factories.make_catalog(session, clock, slug="empty")
    nothing = merchant_billing.invoice_totals(session, clock, empty.merchant.id)
    assert (nothing.open.count, nothing.open.sums, nothing.overdue.sums) == (0, {}, {})


def test_another_merchants_money_and_mail_are_not_listed(session, clock, catalog, customer):
    mine = _invoice(session, clock, customer, 1000)
    other = factories.make_catalog(session, clock, slug="other")
    stranger = factories.make_customer(session, clock, other.merchant, "x@example.com")
    theirs = _invoice(session, clock, stranger, 2000)
    gateway = SandboxGateway()
    for who, invoice in ((customer, mine), (stranger, theirs)):
        factories.add_gateway_card(session, clock, gateway, who)
        factories.pay_invoice(session, clock, gateway, who, invoice)
    later = FixedClock(clock.now() + timedelta(days=1))

    for status in merchant_billing.INVOICE_FILTERS:
        page = merchant_billing.list_invoices(session, later, catalog.merchant.id, status=status)
        assert {r.customer_id for r in page.rows} <= {customer.id}
    listed = merchant_billing.list_invoices(session, later, catalog.merchant.id, status="all")
    assert [r.id for r in listed.rows] == [mine.id]
    payments = merchant_billing.list_payments(session, catalog.merchant.id)
    assert [r.invoice_id for r in payments.rows] == [mine.id]
    assert merchant_billing.invoice_totals(session, later, other.merchant.id).open.count == 0
    mail = outbox_admin.list_outbox(session, catalog.merchant.id)
    assert mail.total >= 1 and {r.to_address for r in mail.rows} == {customer.email}
    stranger_mail = session.exec(
        select(OutboxEmail.id).where(OutboxEmail.merchant_id == other.merchant.id)
    ).first()
    with pytest.raises(NotFound):
        outbox_admin.message(session, catalog.merchant.id, stranger_mail)


# --- payments ------------------------------------------------------------------------------------


def test_payments_show_card_invoice_and_customer(session, clock, catalog, customer):
    gateway = SandboxGateway()
    good = factories.add_gateway_card(session, clock, gateway, customer)
    paid = _invoice(session, clock, customer, 2900)
    outcome = factories.pay_invoice(session, clock, gateway, customer, paid, card=good)
    assert outcome.status == "paid"
    bad = factories.add_gateway_card(
        session, clock, gateway, customer, "4000000000000341", default=False
    )
    unpaid = _invoice(session, clock, customer, 4100)
    clock.advance(timedelta(minutes=1))
    failed = factories.pay_invoice(session, clock, gateway, customer, unpaid, card=bad)
    assert failed.status == "failed"

    page = merchant_billing.list_payments(session, catalog.merchant.id)
    assert page.total == 2
    newest, oldest = page.rows
    assert (newest.status, newest.amount, newest.invoice_number, newest.card_last4) == (
        "failed",
        4100,
        invoices.display_number(unpaid),
        "0341",
    )
    assert newest.failure_code
    assert (oldest.status, oldest.card_brand, oldest.card_last4, oldest.customer_email) == (
        "succeeded",
        "visa",
        "4242",
        customer.email,
    )
    only_failed = merchant_billing.list_payments(session, catalog.merchant.id, status="failed")
    assert [r.id for r in only_failed.rows] == [newest.id]

    # A removed card: the succeeded payment still shows the card from its receipt.
    payment_methods.remove_card(
        session,
        clock,
        gateway,
        customer_id=customer.id,
        payment_method_id=good.id,
        actor=audit.Actor.customer(customer.id),
    )
    kept = merchant_billing.list_payments(session, catalog.merchant.id, status="succeeded")
    assert (kept.rows[0].card_brand, kept.rows[0].card_last4) == ("visa", "4242")
    with pytest.raises(merchant_billing.BillingViewError):
        merchant_billing.list_payments(session, catalog.merchant.id, status="refunded")


# --- the outbox ----------------------------------------------------------------------------------


def test_sealed_bodies_are_never_shown(session, clock, catalog, customer):
    token = factories.login_link(session, clock, catalog.merchant.id, customer.email)
    receipt = mailer.queue(
        session, clock, customer=customer, kind="renewal_notice", subject="Renews", body="Hi!"
    )
    page = outbox_admin.list_outbox(session, catalog.merchant.id)
    by_kind = {row.kind: row for row in page.rows}
    assert by_kind["magic_link"].sealed and not by_kind["renewal_notice"].sealed
    link_row, shown = outbox_admin.message(session, catalog.merchant.id, by_kind["magic_link"].id)
    assert shown == outbox_admin.SEALED_TEXT and link_row.sealed
    assert outbox_admin.message(session, catalog.merchant.id, receipt.id)[1] == "Hi!"
    # A sign-in link that was sent is cleared, but is still shown as sealed.
    sent = session.get(OutboxEmail, by_kind["magic_link"].id)
    sent.status, sent.body = "sent", "(sent; the link is not kept)"
    session.add(sent)
    # Any sealed body is hidden, whatever its kind says.
    odd = mailer.queue(session, clock, customer=customer, kind="notice", subject="x", body="x")
    odd.body = "sealed:v1:AAAA"
    session.add(odd)
    session.flush()
    assert outbox_admin.message(session, catalog.merchant.id, sent.id)[1] == "sealed"
    assert outbox_admin.message(session, catalog.merchant.id, odd.id)[1] == "sealed"
    assert token not in repr(outbox_admin.list_outbox(session, catalog.merchant.id))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_failed_mail_is_marked_and_retried_with_an_audit_event(session, clock, catalog, customer):
    notice = mailer.queue(
        session, clock, customer=customer, kind="renewal_notice", subject="Renews", body="Hi"
    )
    factories.login_link(session, clock, catalog.merchant.id, customer.email)
    port = _closed_port()
    for attempt in range(1, mailer.MAX_DELIVERY_ATTEMPTS + 1):
        assert mailer.deliver_pending(session, clock, smtp_host="127.0.0.1", smtp_port=port) == (
            0,
            2,
        )
        session.refresh(notice)
        assert notice.attempts == attempt
        assert notice.status == ("failed" if attempt == mailer.MAX_DELIVERY_ATTEMPTS else "queued")
    assert notice.last_error == "ConnectionRefusedError"
    assert outbox_admin.status_counts(session, catalog.merchant.id) == {
        "queued": 0,
        "sent": 0,
        "failed": 2,
    }
    assert outbox_admin.retryable_count(session, catalog.merchant.id) == 1

    other = factories.make_catalog(session, clock, slug="other")
    stranger = factories.make_customer(session, clock, other.merchant, "x@example.com")
    theirs = mailer.queue(session, clock, customer=stranger, kind="notice", subject="s", body="b")
    theirs.status = "failed"
    session.add(theirs)
    session.flush()

    assert (
        outbox_admin.retry_failed(session, clock, merchant_id=catalog.merchant.id, actor=STAFF) == 1
    )
    session.refresh(notice)
    session.refresh(theirs)
    assert (notice.status, notice.attempts, notice.last_error) == (
        "queued",
        0,
        "ConnectionRefusedError",
    )
    assert theirs.status == "failed"  # another merchant's mail is not touched
    link = session.exec(select(OutboxEmail).where(OutboxEmail.kind == "magic_link")).one()
    assert link.status == "failed"  # an expired sign-in link is not sent again
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.retry_failed")).one()
    assert (event.merchant_id, event.actor_type, event.after) == (
        catalog.merchant.id,
        "merchant",
        {"count": 1, "ids": [notice.id]},
    )
    with pytest.raises(outbox_admin.OutboxError):
        outbox_admin.retry_failed(session, clock, merchant_id=catalog.merchant.id, actor=STAFF)
    assert (
        len(
            session.exec(
                select(AuditEvent.id).where(AuditEvent.action == "outbox.retry_failed")
            ).all()
        )
        == 1
    )


def test_mail_is_sent_when_smtp_answers(session, clock, catalog, customer, monkeypatch):
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def send_message(self, message):
            sent.append(message["To"])

    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    mailer.queue(session, clock, customer=customer, kind="notice", subject="s", body="b")
    assert mailer.deliver_pending(session, clock, smtp_host="mail.test") == (1, 0)
    assert sent == [customer.email]
    assert outbox_admin.status_counts(session, catalog.merchant.id)["sent"] == 1


# --- the preview customer ------------------------------------------------------------------------


def _preview(session, clock, merchant_id) -> portal_preview.PreviewLink:
    return portal_preview.issue_preview_link(
        session, clock, SandboxGateway(), merchant_id=merchant_id, actor=STAFF
    )


def test_preview_link_is_for_the_stand_in_only(session, clock, catalog, customer):
    merchant_id = catalog.merchant.id
    link = _preview(session, clock, merchant_id).url
    stand_in = session.exec(
        select(Customer).where(Customer.email == portal_preview.PREVIEW_EMAIL)
    ).one()
    token = magic_links.peek_token(session, clock, link.split("token=")[1])
    assert token.customer_id == stand_in.id != customer.id
    assert token.purpose == "portal_link" and token.return_to == "/portal"
    assert portal_preview.is_preview_customer(session, stand_in)
    assert not portal_preview.is_preview_customer(session, customer)
    actions = session.exec(
        select(AuditEvent.action).where(AuditEvent.customer_id == stand_in.id)
    ).all()
    assert actions[0] == portal_preview.CREATED_ACTION and actions[-1] == "portal_link.create"
    assert {"payment_method.add", "subscription.create"} <= set(actions)

    # Again: the same stand-in, the older link no longer works.
    second = _preview(session, clock, merchant_id).url
    assert magic_links.peek_token(session, clock, link.split("token=")[1]) is None
    assert (
        magic_links.peek_token(session, clock, second.split("token=")[1]).customer_id == stand_in.id
    )
    assert len(session.exec(select(Customer).where(Customer.merchant_id == merchant_id)).all()) == 2

    # Never listed or counted as a customer, nor its money.
    assert customers.search(session, merchant_id, "", 1)[1] == 1
    assert customers.search(session, merchant_id, "preview", 1)[1] == 0
    _invoice(session, clock, stand_in, 999)
    later = FixedClock(clock.now() + timedelta(days=1))
    assert merchant_billing.list_invoices(session, later, merchant_id, status="all").total == 0
    assert merchant_billing.invoice_totals(session, later, merchant_id).open.count == 0

    # Each merchant has its own stand-in.
    other = factories.make_catalog(session, clock, slug="other")
    theirs = _preview(session, clock, other.merchant.id).url
    their_customer = magic_links.peek_token(session, clock, theirs.split("token=")[1]).customer_id
    assert their_customer != stand_in.id
    assert session.get(Customer, their_customer).merchant_id == other.merchant.id


def _stand_in_rows(session, merchant_id):
    stand_in = session.exec(
        select(Customer).where(
            Customer.merchant_id == merchant_id, Customer.email == portal_preview.PREVIEW_EMAIL
        )
    ).one()
    return (
        stand_in,
        session.exec(select(Subscription).where(Subscription.customer_id == stand_in.id)).all(),
        session.exec(select(PaymentMethod).where(PaymentMethod.customer_id == stand_in.id)).all(),
    )


def test_the_stand_in_has_a_test_card_and_the_cheapest_monthly_plan(session, clock, catalog):
    merchant_id = catalog.merchant.id
    first = _preview(session, clock, merchant_id)
    stand_in, subs, cards = _stand_in_rows(session, merchant_id)
    cheapest = min(catalog.monthly.values(), key=lambda price: price.amount)
    assert first.note == ""
    assert [(s.status, s.price_id) for s in subs] == [("active", cheapest.id)]
    assert [(c.brand, c.last4, c.is_default) for c in cards] == [("visa", "4242", True)]
    # A real, paid invoice with its receipt, as a customer's sign-up makes.
    invoice = session.exec(select(Invoice).where(Invoice.customer_id == stand_in.id)).one()
    assert (invoice.status, invoice.total, invoice.subscription_id) == (
        "paid",
        cheapest.amount,
        subs[0].id,
    )
    assert session.exec(select(Receipt).where(Receipt.invoice_id == invoice.id)).one()
    created = session.exec(
        select(AuditEvent).where(
            AuditEvent.customer_id == stand_in.id, AuditEvent.action == "subscription.create"
        )
    ).one()
    assert created.actor_type == "merchant"

    # The next preview adds nothing: one subscription, one card, one invoice.
    clock.set(clock.now() + timedelta(hours=1))
    assert _preview(session, clock, merchant_id).note == ""
    _, subs_again, cards_again = _stand_in_rows(session, merchant_id)
    assert [s.id for s in subs_again] == [subs[0].id]
    assert [c.id for c in cards_again] == [cards[0].id]
    assert len(session.exec(select(Invoice).where(Invoice.customer_id == stand_in.id)).all()) == 1

    # Cancelled in a preview: the next preview subscribes it again, on the card it has.
    features.save(session, clock, merchant_id, {"cancel.mode": "customer_choice"}, STAFF)
    subscriptions.cancel(
        session,
        clock,
        customer_id=stand_in.id,
        subscription_id=subs[0].id,
        at_period_end=False,
        actor=audit.Actor.customer(stand_in.id),
    )
    _preview(session, clock, merchant_id)
    _, subs_after, cards_after = _stand_in_rows(session, merchant_id)
    assert sorted(s.status for s in subs_after) == ["active", "canceled"]
    assert [c.id for c in cards_after] == [cards[0].id]


def test_without_an_active_monthly_price_the_stand_in_stays_empty(session, clock, catalog):
    merchant_id = catalog.merchant.id
    for price in catalog.monthly.values():
        price.active = False
        session.add(price)
    session.flush()
    link = _preview(session, clock, merchant_id)
    stand_in, subs, cards = _stand_in_rows(session, merchant_id)
    assert link.note == portal_preview.NO_PRICE_NOTE and "/auth/verify" in link.url
    assert (subs, cards) == ([], [])
    assert portal_preview.is_preview_customer(session, stand_in)

    # A monthly price offered later: the next preview subscribes the stand-in.
    catalog.monthly["Pro"].active = True
    session.add(catalog.monthly["Pro"])
    session.flush()
    assert _preview(session, clock, merchant_id).note == ""
    _, subs, cards = _stand_in_rows(session, merchant_id)
    assert [(s.status, s.price_id) for s in subs] == [("active", catalog.monthly["Pro"].id)]
    assert len(cards) == 1


def test_two_staff_previewing_at_once_make_one_subscription(engine, session, clock, catalog):
    merchant_id = catalog.merchant.id
    session.commit()

    def preview(s):
        return _preview(s, clock, merchant_id)

    # First use (both insert the stand-in; one creates it), then a stand-in without a
    # subscription (both find it; the row lock makes the second see the first's subscription).
    for expected_subscriptions in (1, 2):
        outcomes, _ = _race(engine, [preview, preview])
        assert all(isinstance(o, portal_preview.PreviewLink) for o in outcomes), outcomes
        with Session(engine) as check:
            _, subs, cards = _stand_in_rows(check, merchant_id)
            assert len(subs) == expected_subscriptions and len(cards) == 1
            assert [s.status for s in subs].count("active") == 1
            live = next(s for s in subs if s.status == "active")
            if expected_subscriptions == 1:
                live.status, live.ended_at = "canceled", clock.now()  # as if cancelled
                check.add(live)
                check.commit()


def test_a_real_customer_at_the_preview_address_is_refused(session, clock, catalog):
    real = factories.make_customer(session, clock, catalog.merchant, portal_preview.PREVIEW_EMAIL)
    tokens_before = len(session.exec(select(LoginToken.id)).all())
    with pytest.raises(portal_preview.PreviewError) as refused:
        _preview(session, clock, catalog.merchant.id)
    assert refused.value.code == "preview_conflict"
    assert len(session.exec(select(LoginToken.id)).all()) == tokens_before
    assert not portal_preview.is_preview_customer(session, real)

    # A creation event for another customer id (or another creation time) is no marker either.
    stand_in_of_other_time = factories.make_customer(
        session, clock, factories.make_merchant(session, clock, "m2"), portal_preview.PREVIEW_EMAIL
    )
    audit.record(
        session,
        clock,
        merchant_id=stand_in_of_other_time.merchant_id,
        actor=STAFF,
        action=portal_preview.CREATED_ACTION,
        target_type="customer",
        target_id=stand_in_of_other_time.id,
        customer_id=stand_in_of_other_time.id,
        after={"created_at": (clock.now() - timedelta(days=1)).isoformat()},
    )
    assert not portal_preview.is_preview_customer(session, stand_in_of_other_time)


# --- the states, as a browser calls them ---------------------------------------------------------


def test_staff_pages_through_invoices_and_bad_filters_change_nothing(app_db):
    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        state = await root.get_state(MerchantInvoicesState)
        await call(root, MerchantInvoicesState, "load")
        loaded = (state.status, [r["number"] for r in state.rows], state.open_count)
        await call(root, MerchantInvoicesState, "show", "overdue")
        overdue = (state.status, state.total)
        refused = await call(root, MerchantInvoicesState, "show", "draft' OR 1=1")
        bad_page = await call(root, MerchantInvoicesState, "go_to_page", "x")
        return loaded, overdue, str(refused), str(bad_page), state.status, state.rows

    loaded, overdue, refused, bad_page, status, rows = run(scenario())
    bob_number = invoices.display_number(app_db["bob_invoice"])
    assert loaded == ("open", [bob_number], 1)
    assert overdue == ("overdue", 1)  # due when finalized, so past due a moment later
    assert "not available" in refused and "not valid" in bad_page
    assert status == "overdue" and len(rows) == 1  # the refusals changed nothing
    assert (rows[0]["email"], rows[0]["amount"], rows[0]["days_overdue"]) == (
        "bob@example.com",
        "$12.34",
        "<1",
    )


def test_staff_mailbox_state_never_holds_a_sign_in_link(app_db):
    with Session(app_db["engine"]) as session:
        link_id = session.exec(
            select(OutboxEmail.id).where(OutboxEmail.kind == "magic_link")
        ).first()

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        state = await root.get_state(MerchantOutboxState)
        await call(root, MerchantOutboxState, "load")
        await call(root, MerchantOutboxState, "open_message", link_id)
        return state.rows, dict(state.opened), root.dict()

    rows, opened, everything = run(scenario())
    assert opened["body"] == "sealed" and opened["sealed"] == "yes"
    assert {r["sealed"] for r in rows if r["kind"] == "magic link"} == {"yes"}
    assert "/auth/verify" not in repr(everything) and "sealed:v1:" not in repr(everything)


def test_preview_from_the_settings_page_signs_in_the_stand_in_only(app_db):
    async def scenario(**cookies):
        root = root_with(**cookies)
        result = await call(root, PortalPreviewState, "open_preview")
        state = await root.get_state(PortalPreviewState)
        return str(result), state.opened, root.dict()

    alice = app_db["sessions"]["alice@example.com"]
    for cookies in ({"customer_sid": alice}, {"staff_sid": alice}):
        refused, opened, _ = run(scenario(**cookies))
        assert "/merchant/login" in refused and not opened, cookies

    result, opened, everything = run(scenario(staff_sid=app_db["sessions"]["staff"]))
    token = re.search(r"/auth/verify\?token=([A-Za-z0-9_\-]+)", result).group(1)
    assert opened and "_redirect" in result
    assert token not in repr(everything)  # the link is never kept in state
    with Session(app_db["engine"]) as session:
        row = magic_links.peek_token(session, CLOCK, token)
        stand_in = session.get(Customer, row.customer_id)
        assert stand_in.email == portal_preview.PREVIEW_EMAIL
        assert stand_in.id not in (app_db["alice"].id, app_db["bob"].id)
        signed = magic_links.redeem_login_token(
            session, CLOCK, token=token, merchant_id=app_db["merchant"].id, actor=audit.SYSTEM
        )
        assert signed.auth_session.customer_id == stand_in.id
        assert signed.auth_session.role == "customer"
        _, subs, cards = _stand_in_rows(session, app_db["merchant"].id)
        assert [s.status for s in subs] == ["active"] and len(cards) == 1

    # A second preview signs in the same stand-in and adds nothing.
    again, _, _ = run(scenario(staff_sid=app_db["sessions"]["staff"]))
    assert "_redirect" in again and "toast" not in again
    with Session(app_db["engine"]) as session:
        _, subs_again, cards_again = _stand_in_rows(session, app_db["merchant"].id)
        assert [s.id for s in subs_again] == [s.id for s in subs]
        assert [c.id for c in cards_again] == [c.id for c in cards]


def test_preview_without_a_monthly_price_says_so(app_db):
    with Session(app_db["engine"]) as session:
        for price in session.exec(
            select(Price).where(Price.merchant_id == app_db["merchant"].id, Price.active)
        ):
            if price.interval == "month":
                price.active = False
                session.add(price)
        session.commit()

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        return str(await call(root, PortalPreviewState, "open_preview"))

    result = run(scenario())
    assert "_redirect" in result and "/auth/verify" in result
    assert portal_preview.NO_PRICE_NOTE in result
    with Session(app_db["engine"]) as session:
        assert _stand_in_rows(session, app_db["merchant"].id)[1:] == ([], [])


def test_each_screens_rows_have_exactly_the_keys_of_their_row_type(app_db):
    """The staff lists' rows are typed (services/merchant_*_view.py): what the views build is
    exactly what the row types declare, so the pages' `row.key` lookups can't drift."""
    from portal_app.services import (
        merchant_invoices_view,
        merchant_outbox_view,
        merchant_payments_view,
    )

    merchant_id = app_db["merchant"].id
    with Session(app_db["engine"]) as session:
        shown = merchant_invoices_view.invoices_page(
            session, CLOCK, merchant_id=merchant_id, status="all", sort="due_asc", page=1
        )
        paid = merchant_payments_view.payments_page(
            session, CLOCK, merchant_id=merchant_id, status="all", page=1
        )
        mail = merchant_outbox_view.outbox_page(
            session, CLOCK, merchant_id=merchant_id, status="all", page=1
        )
        opened = merchant_outbox_view.opened_message(
            session, CLOCK, merchant_id=merchant_id, email_id=int(mail.found.rows[0]["id"])
        )
    assert shown.found.rows and mail.found.rows
    for rows, kind in (
        (shown.found.rows, merchant_invoices_view.InvoiceListRow),
        (paid.rows, merchant_payments_view.PaymentListRow),
        (mail.found.rows, merchant_outbox_view.OutboxListRow),
        ([opened], merchant_outbox_view.OpenedMessage),
    ):
        assert all(set(row) == set(kind.__annotations__) for row in rows), kind.__name__
