"""Email goes into the outbox in the caller's transaction; delivery happens later, via SMTP when
configured, and the outbox doubles as the dev mailbox when it is not.

Delivery claims a message before sending it, so two overlapping runs never send one message
twice: a claim sets `status='sending'`, stamps `sent_at` with the time of the claim and counts the
attempt. On PostgreSQL the claim's SELECT … FOR UPDATE SKIP LOCKED makes a concurrent run take
other messages instead of waiting; on SQLite the writer lock (BEGIN IMMEDIATE) serialises claims.
A sender that stops between its claim and its result (killed, crashed) leaves its messages
'sending'; after CLAIM_LEASE another run counts that as a failed attempt and queues them again
(so a message is sent at least once and, unless a sender outlives its lease, at most once)."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.db import session_scope
from portal_app.models import Customer, NotificationPreference, OutboxEmail
from portal_app.services import features, sealing

# Mail whose body carries a sign-in or confirmation link: stored sealed, cleared once sent.
SEALED_KINDS = {"magic_link", "email_change", "email_change_cancel", "staff_invite", "welcome"}
# A message that failed this many deliveries is marked failed and left for staff to retry
# (the dashboard's mailbox), so a dead address cannot hold the head of the queue for ever.
MAX_DELIVERY_ATTEMPTS = 5

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
SMTP_TIMEOUT_SECONDS = 10
# Messages claimed per committed claim by `deliver`: a crash leaves at most this many waiting for
# their lease to end.
CLAIM_BATCH = 10
# How long a claim keeps other runs off a message. It must outlast the slowest live sender's hold
# on a claim (a batch of CLAIM_BATCH messages, each a few SMTP round trips of at most
# SMTP_TIMEOUT_SECONDS), or a slow sender and the next run could both send it.
CLAIM_LEASE = timedelta(minutes=15)
SENT_SEALED_BODY = "(sent; the link is not kept)"
INTERRUPTED = "Interrupted (the sender stopped before recording the result)"

# kind -> (customer preference column, merchant toggle); kinds not listed are always sent.
PREFERENCE_OF_KIND = {
    "receipt": ("receipts", "notifications.receipts"),
    "invoice_reminder": ("invoice_reminders", "notifications.invoice_reminders"),
    "renewal_notice": ("renewal_notices", "notifications.renewal_notices"),
    "marketing": ("marketing", "notifications.marketing"),
}


def wants(session: Session, customer: Customer, kind: str) -> bool:
    if kind not in PREFERENCE_OF_KIND:
        return True
    column, toggle = PREFERENCE_OF_KIND[kind]
    settings = features.load(session, customer.merchant_id)
    if not settings.enabled(toggle):
        return False
    preference = session.get(NotificationPreference, customer.id)
    if preference is None:
        return kind != "marketing"
    return bool(getattr(preference, column))


def undeliverable(address: str) -> bool:
    return address.rsplit("@", 1)[-1].lower().rstrip(".").endswith(".invalid")


def queue(
    session: Session,
    clock: Clock,
    *,
    customer: Customer,
    kind: str,
    subject: str,
    body: str,
    to_address: str | None = None,
) -> OutboxEmail | None:
    """Queue a message unless the customer or merchant opted out of its kind, or the address
    can never receive mail (the `.invalid` top-level domain, RFC 6761: the dashboard's preview
    stand-in lives there, and its receipts would only fill the outbox with failures)."""
    address = to_address or customer.email
    if not wants(session, customer, kind) or undeliverable(address):
        return None
    return _add(session, clock, customer.merchant_id, customer.id, address, kind, subject, body)


def queue_staff(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    to_address: str,
    kind: str,
    subject: str,
    body: str,
) -> OutboxEmail | None:
    """Queue mail to a staff member or invitee (no customer, no preferences: always sent)."""
    if undeliverable(to_address):
        return None
    return _add(session, clock, merchant_id, None, to_address, kind, subject, body)


def _add(
    session: Session,
    clock: Clock,
    merchant_id: int,
    customer_id: int | None,
    to_address: str,
    kind: str,
    subject: str,
    body: str,
) -> OutboxEmail:
    """Insert one queued message; the bodies of SEALED_KINDS are stored sealed."""
    email = OutboxEmail(
        merchant_id=merchant_id,
        customer_id=customer_id,
        to_address=to_address,
        kind=kind,
        subject=subject,
        body=sealing.seal(body) if kind in SEALED_KINDS else body,
        created_at=clock.now(),
    )
    session.add(email)
    session.flush()
    return email


@dataclass(frozen=True)
class Claim:
    """One claimed message, as plain values (they outlive the claim's transaction). `attempt`
    is the claim's token: only the sender holding this attempt may record its result."""

    id: int
    attempt: int
    to_address: str
    subject: str
    body: str


def release_expired_claims(session: Session, clock: Clock) -> int:
    """Claims older than CLAIM_LEASE belong to a sender that stopped: count them as failed
    attempts (queued again, or failed after MAX_DELIVERY_ATTEMPTS)."""
    result = session.execute(
        sa.update(OutboxEmail)
        .where(
            OutboxEmail.status == SENDING,
            OutboxEmail.sent_at <= clock.now() - CLAIM_LEASE,
        )
        .values(
            status=sa.case((OutboxEmail.attempts >= MAX_DELIVERY_ATTEMPTS, FAILED), else_=QUEUED),
            sent_at=None,
            last_error=INTERRUPTED,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def claim(session: Session, clock: Clock, *, limit: int, after_id: int = 0) -> list[Claim]:
    """Claim up to `limit` queued messages with ids above `after_id`, oldest first, in the
    caller's transaction. Rows another transaction is claiming are skipped, not waited for."""
    ids = list(
        session.exec(
            select(OutboxEmail.id)
            .where(OutboxEmail.status == QUEUED, OutboxEmail.id > after_id)
            .order_by(OutboxEmail.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    rows = session.execute(
        sa.update(OutboxEmail)
        .where(OutboxEmail.id.in_(ids), OutboxEmail.status == QUEUED)
        .values(status=SENDING, sent_at=clock.now(), attempts=OutboxEmail.attempts + 1)
        .returning(
            OutboxEmail.id,
            OutboxEmail.attempts,
            OutboxEmail.to_address,
            OutboxEmail.subject,
            OutboxEmail.body,
        )
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((Claim(*row) for row in rows), key=lambda c: c.id)


def record(session: Session, clock: Clock, claimed: Claim, error: str | None) -> bool:
    """Record how a claimed message's delivery went (`error` None: the server accepted it).
    False when the claim was lost meanwhile (its lease ended and another run took it)."""
    mine = sa.and_(
        OutboxEmail.id == claimed.id,
        OutboxEmail.status == SENDING,
        OutboxEmail.attempts == claimed.attempt,
    )
    if error is None:
        values = {
            "status": SENT,
            "sent_at": clock.now(),
            "body": sa.case(
                (OutboxEmail.kind.in_(sorted(SEALED_KINDS)), SENT_SEALED_BODY),
                else_=OutboxEmail.body,
            ),
        }
    else:
        values = {
            "status": FAILED if claimed.attempt >= MAX_DELIVERY_ATTEMPTS else QUEUED,
            "sent_at": None,
            "last_error": error[:500],
        }
    result = session.execute(
        sa.update(OutboxEmail)
        .where(mine)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def send(claimed: Claim, *, smtp_host: str, smtp_port: int, sender: str) -> str | None:
    """One SMTP delivery, outside any transaction. Returns None, or why it failed."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = claimed.to_address
    message["Subject"] = claimed.subject
    message.set_content(sealing.unseal(claimed.body))
    try:
        with smtplib.SMTP(smtp_host, smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        return type(exc).__name__
    return None


def deliver(
    engine: sa.Engine,
    clock: Clock,
    *,
    smtp_host: str | None,
    smtp_port: int = 25,
    sender: str = "portal@localhost",
    batch_size: int = CLAIM_BATCH,
    limit: int | None = None,
) -> tuple[int, int]:
    """The deliver-mail job: claim a small batch and commit the claim, send each message outside
    any transaction, commit each result at once; repeat until nothing is left to claim (or
    `limit` messages were tried). No transaction stays open during an SMTP call, a concurrent run
    works on other messages, and each message is tried at most once per run. Returns
    (sent, failed) like `deliver_pending`."""
    if not smtp_host:
        return 0, 0
    sent = failed = 0
    for claimed in _claimed_batches(engine, clock, batch_size, limit):
        error = send(claimed, smtp_host=smtp_host, smtp_port=smtp_port, sender=sender)
        with session_scope(engine) as session:
            record(session, clock, claimed, error)
        if error is None:
            sent += 1
        else:
            failed += 1
    return sent, failed


def _claimed_batches(
    engine: sa.Engine, clock: Clock, batch_size: int, limit: int | None
) -> Iterator[Claim]:
    """Claims committed one batch at a time, walking up the ids (a message that failed in this
    run is queued again behind the cursor, for the next run)."""
    after_id, taken = 0, 0
    with session_scope(engine) as session:
        release_expired_claims(session, clock)
    while limit is None or taken < limit:
        size = batch_size if limit is None else min(batch_size, limit - taken)
        with session_scope(engine) as session:
            batch = claim(session, clock, limit=size, after_id=after_id)
        if not batch:
            return
        after_id, taken = batch[-1].id, taken + len(batch)
        yield from batch


def deliver_pending(
    session: Session,
    clock: Clock,
    *,
    smtp_host: str | None,
    smtp_port: int = 25,
    sender: str = "portal@localhost",
    limit: int = 100,
) -> tuple[int, int]:
    """Send up to `limit` queued messages within the caller's transaction: the same claims as
    `deliver`, held (row locks on PostgreSQL, the writer lock on SQLite) until the caller
    commits, so an overlapping run skips these messages or waits. `deliver` is the better job:
    it holds no transaction open across SMTP calls. Without SMTP the outbox is the mailbox and
    nothing is sent. Returns (sent, failed); a failed message stays queued for the next run,
    until its MAX_DELIVERY_ATTEMPTS-th failure marks it failed."""
    if not smtp_host:
        return 0, 0
    release_expired_claims(session, clock)
    sent = failed = 0
    for claimed in claim(session, clock, limit=limit):
        error = send(claimed, smtp_host=smtp_host, smtp_port=smtp_port, sender=sender)
        record(session, clock, claimed, error)
        if error is None:
            sent += 1
        else:
            failed += 1
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, OutboxEmail):  # changed by UPDATEs: read afresh when next used
            session.expire(loaded)
    return sent, failed
