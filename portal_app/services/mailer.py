"""Email goes into the outbox in the caller's transaction; delivery happens later, via SMTP when
configured, and the outbox doubles as the dev mailbox when it is not."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Customer, NotificationPreference, OutboxEmail
from portal_app.services import features, sealing

# Mail whose body carries a sign-in or confirmation link: stored sealed, cleared once sent.
SEALED_KINDS = {"magic_link", "email_change"}
# A message that failed this many deliveries is marked failed and left for staff to retry
# (the dashboard's mailbox), so a dead address cannot hold the head of the queue for ever.
MAX_DELIVERY_ATTEMPTS = 5

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
    """Queue a message unless the customer or merchant opted out of its kind."""
    if not wants(session, customer, kind):
        return None
    email = OutboxEmail(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        to_address=to_address or customer.email,
        kind=kind,
        subject=subject,
        body=sealing.seal(body) if kind in SEALED_KINDS else body,
        created_at=clock.now(),
    )
    session.add(email)
    session.flush()
    return email


def deliver_pending(
    session: Session,
    clock: Clock,
    *,
    smtp_host: str | None,
    smtp_port: int = 25,
    sender: str = "portal@localhost",
    limit: int = 100,
) -> tuple[int, int]:
    """Send queued mail. Without SMTP the outbox is the mailbox and nothing is sent.
    Returns (sent, failed); a failed message stays queued for the next run, until its
    MAX_DELIVERY_ATTEMPTS-th failure marks it failed."""
    if not smtp_host:
        return 0, 0
    pending = session.exec(
        select(OutboxEmail)
        .where(OutboxEmail.status == "queued")
        .order_by(OutboxEmail.id)
        .limit(limit)
    ).all()
    sent = failed = 0
    for email in pending:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = email.to_address
        message["Subject"] = email.subject
        message.set_content(sealing.unseal(email.body))
        email.attempts += 1
        try:
            with smtplib.SMTP(smtp_host, smtp_port, timeout=10) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            email.last_error = type(exc).__name__
            if email.attempts >= MAX_DELIVERY_ATTEMPTS:
                email.status = "failed"
            failed += 1
        else:
            email.status = "sent"
            email.sent_at = clock.now()
            if email.kind in SEALED_KINDS:
                email.body = "(sent; the link is not kept)"
            sent += 1
        session.add(email)
    session.flush()
    return sent, failed
