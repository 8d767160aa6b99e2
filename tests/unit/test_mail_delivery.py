"""`deliver-mail` claims each message before sending it: two overlapping runs send every message
exactly once, a claim left by a sender that stopped is taken again when its lease ends, and a
sender that lost its claim cannot overwrite the new one. Real SMTP over a local test server, on
SQLite and (with PORTAL_TEST_DB_URL) PostgreSQL."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest
from sqlmodel import Session, select

from portal_app.db import session_scope
from portal_app.models import OutboxEmail
from portal_app.services import mailer
from tests.faults.support import LocalSMTP, free_port


@pytest.fixture
def smtp():
    server = LocalSMTP()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slow_smtp(monkeypatch):
    """Each message takes a little while, so two runs really overlap."""
    send_message = smtplib.SMTP.send_message

    def slowly(self, *args, **kwargs):
        time.sleep(0.02)
        return send_message(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "send_message", slowly)


def _queue(session, clock, customer, count: int) -> list[str]:
    subjects = [f"Notice {n:03d}" for n in range(count)]
    for subject in subjects:
        mailer.queue(session, clock, customer=customer, kind="notice", subject=subject, body="Hi")
    session.commit()
    return subjects


def _rows(engine) -> list[OutboxEmail]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxEmail).order_by(OutboxEmail.id)))


def _received_subjects(smtp) -> list[str]:
    return sorted(message["Subject"] for _, _, message in smtp.received)


def _run_side_by_side(job, runs: int = 2) -> list:
    barrier = threading.Barrier(runs)
    results: list = [None] * runs
    errors: list[BaseException] = []

    def run(n):
        barrier.wait()
        try:
            results[n] = job()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


def test_two_overlapping_deliver_runs_send_each_message_once(
    engine, session, clock, customer, smtp, slow_smtp
):
    subjects = _queue(session, clock, customer, 24)

    def job():
        return mailer.deliver(
            engine, clock, smtp_host="127.0.0.1", smtp_port=smtp.port, batch_size=3
        )

    first, second = _run_side_by_side(job)
    assert _received_subjects(smtp) == subjects  # every message, each exactly once
    assert first[0] + second[0] == 24 and first[1] == second[1] == 0
    assert first[0] > 0 and second[0] > 0  # the runs did overlap and shared the work
    assert {(r.status, r.attempts) for r in _rows(engine)} == {("sent", 1)}
    assert all(r.sent_at is not None for r in _rows(engine))


def test_two_overlapping_single_transaction_runs_send_each_message_once(
    engine, session, clock, customer, smtp, slow_smtp
):
    """`deliver_pending` in the caller's transaction (as the CLI calls it): the second run
    skips the rows the first holds (PostgreSQL) or waits for its commit (SQLite)."""
    subjects = _queue(session, clock, customer, 12)

    def job():
        with session_scope(engine) as s:
            return mailer.deliver_pending(s, clock, smtp_host="127.0.0.1", smtp_port=smtp.port)

    results = _run_side_by_side(job)
    assert _received_subjects(smtp) == subjects
    assert sum(sent for sent, _ in results) == 12
    assert {(r.status, r.attempts) for r in _rows(engine)} == {("sent", 1)}


def test_a_claim_left_by_a_stopped_sender_is_sent_once_when_its_lease_ends(
    engine, session, clock, customer, smtp
):
    _queue(session, clock, customer, 2)
    with session_scope(engine) as s:  # a sender claims the first message, then is killed
        [abandoned] = mailer.claim(s, clock, limit=1)

    assert mailer.deliver(engine, clock, smtp_host="127.0.0.1", smtp_port=smtp.port) == (1, 0)
    assert _received_subjects(smtp) == ["Notice 001"]  # the claimed one is left alone
    assert _rows(engine)[0].status == "sending"

    clock.advance(mailer.CLAIM_LEASE)
    assert mailer.deliver(engine, clock, smtp_host="127.0.0.1", smtp_port=smtp.port) == (1, 0)
    assert _received_subjects(smtp) == ["Notice 000", "Notice 001"]
    first = _rows(engine)[0]
    assert (first.status, first.attempts, first.last_error) == ("sent", 2, mailer.INTERRUPTED)

    with session_scope(engine) as s:  # the killed sender's late result changes nothing
        assert mailer.record(s, clock, abandoned, "SMTPServerDisconnected") is False
    assert _rows(engine)[0].status == "sent"
    assert mailer.deliver(engine, clock, smtp_host="127.0.0.1", smtp_port=smtp.port) == (0, 0)
    assert len(smtp.received) == 2


def test_a_message_whose_sender_always_stops_ends_failed(engine, session, clock, customer):
    _queue(session, clock, customer, 1)
    for _ in range(mailer.MAX_DELIVERY_ATTEMPTS):
        with session_scope(engine) as s:
            mailer.release_expired_claims(s, clock)
            assert len(mailer.claim(s, clock, limit=10)) == 1
        clock.advance(mailer.CLAIM_LEASE)
    with session_scope(engine) as s:
        assert mailer.release_expired_claims(s, clock) == 1
    [row] = _rows(engine)
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        mailer.MAX_DELIVERY_ATTEMPTS,
        mailer.INTERRUPTED,
    )


def test_a_failed_message_is_tried_once_per_run_and_stays_queued(engine, session, clock, customer):
    _queue(session, clock, customer, 3)
    closed = free_port()  # nothing listens there
    for attempt in (1, 2):
        assert mailer.deliver(
            engine, clock, smtp_host="127.0.0.1", smtp_port=closed, batch_size=2
        ) == (0, 3)
        rows = _rows(engine)
        assert {(r.status, r.attempts, r.last_error) for r in rows} == {
            ("queued", attempt, "ConnectionRefusedError")
        }
        assert all(r.sent_at is None for r in rows)


def test_without_smtp_nothing_is_claimed(engine, session, clock, customer):
    _queue(session, clock, customer, 1)
    assert mailer.deliver(engine, clock, smtp_host=None) == (0, 0)
    assert [(r.status, r.attempts) for r in _rows(engine)] == [("queued", 0)]


def test_mail_to_an_invalid_domain_is_never_queued(session, clock, customer):
    """The preview stand-in (preview@portal-preview.invalid) gets no receipts in the outbox."""
    from portal_app.services import mailer

    customer.email = "someone@portal-preview.invalid"
    session.add(customer)
    session.flush()
    assert (
        mailer.queue(session, clock, customer=customer, kind="receipt", subject="s", body="b")
        is None
    )
    kept = mailer.queue(
        session,
        clock,
        customer=customer,
        kind="receipt",
        subject="s",
        body="b",
        to_address="real@example.com",
    )
    assert kept is not None and kept.to_address == "real@example.com"
    assert mailer.undeliverable("x@Example.INVALID.") and not mailer.undeliverable("x@invalid.com")
