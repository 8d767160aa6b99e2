"""Webhook delivery, at least once, in order per endpoint and customer.

A run claims a few due deliveries and commits the claim (status 'sending', the attempt counted),
posts each outside any transaction, then commits each result. On PostgreSQL the claim's
SELECT … FOR UPDATE SKIP LOCKED lets several workers take different deliveries; on SQLite the
writer lock serialises claims. A delivery is claimable only when no earlier delivery of the same
endpoint and customer is still pending or sending, so one customer's events arrive in the order
they happened. A worker that dies mid-delivery leaves its claim 'sending'; after CLAIM_LEASE it
counts as a failed attempt and the delivery goes out again with the same `webhook-id`.

Signing follows Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, one signature per live secret (two during a rotation)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.db import session_scope
from portal_app.models import (
    StaffUser,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from portal_app.services import audit, mailer, webhook_endpoints, webhook_events
from portal_app.services.errors import NotFound, PortalError

PENDING, SENDING, SUCCEEDED, FAILED = "pending", "sending", "succeeded", "failed"
# After the first try fails, the next ones come this long after the one before (then: failed).
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
TIMEOUT_SECONDS = 15.0
# Longer than a live sender holds a claim (one post of at most TIMEOUT_SECONDS per phase).
CLAIM_LEASE = timedelta(minutes=2)
CLAIM_BATCH = 20
# An endpoint whose every delivery failed for this long is disabled and its admins are mailed.
DISABLE_AFTER = timedelta(days=5)
# Retry-After is honoured up to this (a longer one waits this long).
MAX_RETRY_AFTER = timedelta(hours=24)
RESPONSE_HEAD = 500
USER_AGENT = "Portal-Webhooks/1"
INTERRUPTED = "Interrupted (the worker stopped before recording the result)"
TEST_EVENT = "endpoint.test"


def sign(secrets: list[str], msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,<signature>` per secret, space-separated."""
    content = f"{msg_id}.{timestamp}.{body}".encode()
    signatures = []
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix(webhook_endpoints.SECRET_PREFIX))
        digest = hmac.new(key, content, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode())
    return " ".join(signatures)


@dataclass(frozen=True)
class Claim:
    """One claimed delivery as plain values; `attempt` is the claim's token."""

    delivery_id: int
    attempt: int
    endpoint_id: int
    url: str
    secrets: tuple[str, ...]
    msg_id: str
    event_type: str
    body: str


@dataclass(frozen=True)
class Result:
    status_code: int | None
    latency_ms: int
    response_head: str = ""
    error: str = ""
    retry_after: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def release_expired_claims(session: Session, clock: Clock) -> int:
    """Claims older than CLAIM_LEASE belong to a worker that stopped: record the attempt as
    interrupted and make the delivery due again at once (at least once: the receiver may have
    seen it, and dedupes on `webhook-id`)."""
    now = clock.now()
    rows = session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == SENDING, WebhookDelivery.claimed_at <= now - CLAIM_LEASE)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        session.add(
            WebhookAttempt(delivery_id=row.id, number=row.attempts, at=now, error=INTERRUPTED)
        )
        row.status = FAILED if row.attempts >= MAX_ATTEMPTS else PENDING
        row.claimed_at = None
        row.next_attempt_at = now
        row.last_error = INTERRUPTED
        row.finished_at = now if row.status == FAILED else None
        session.add(row)
    session.flush()
    return len(rows)


def claim(session: Session, clock: Clock, *, limit: int) -> list[Claim]:
    """Claim up to `limit` due deliveries of enabled endpoints, oldest first, each the earliest
    unfinished one of its endpoint and customer, in the caller's transaction."""
    now = clock.now()
    earlier = aliased(WebhookDelivery)
    blocked = (
        select(earlier.id)
        .where(
            earlier.endpoint_id == WebhookDelivery.endpoint_id,
            earlier.customer_id == WebhookDelivery.customer_id,
            earlier.id < WebhookDelivery.id,
            earlier.status.in_((PENDING, SENDING)),
        )
        .exists()
    )
    ids = list(
        session.exec(
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(
                WebhookEvent.payload != "",  # rendered: its transaction committed
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.enabled,
                ~blocked,
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
    )
    if not ids:
        return []
    taken = session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == PENDING)
        .values(status=SENDING, claimed_at=now, attempts=WebhookDelivery.attempts + 1)
        .returning(WebhookDelivery.id, WebhookDelivery.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    attempt_of = dict(taken)
    rows = session.exec(
        select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(list(attempt_of)))
        .order_by(WebhookDelivery.id)
    ).all()
    return [
        Claim(
            delivery_id=delivery.id,
            attempt=attempt_of[delivery.id],
            endpoint_id=endpoint.id,
            url=endpoint.url,
            secrets=tuple(webhook_endpoints.signing_secrets(endpoint, now)),
            msg_id=event.msg_id,
            event_type=event.type,
            body=event.payload,
        )
        for delivery, endpoint, event in rows
    ]


def _retry_after(response: httpx.Response) -> timedelta | None:
    raw = response.headers.get("retry-after", "").strip()
    if raw.isdigit():
        return min(timedelta(seconds=int(raw)), MAX_RETRY_AFTER)
    return None


def http_client(timeout: float = TIMEOUT_SECONDS) -> httpx.Client:
    """One client per delivery run: its TLS context (~40 ms to build) and keep-alive
    connections serve every post. Redirects are not followed (one could lead to a private
    address); proxies from the environment are not used."""
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


def post(
    claimed: Claim,
    clock: Clock,
    *,
    timeout: float = TIMEOUT_SECONDS,
    client: httpx.Client | None = None,
) -> Result:
    """One attempt, outside any transaction. The URL is checked again first (DNS can change)."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        webhook_endpoints.check_url(claimed.url)
    except PortalError as exc:
        return Result(None, 0, error=f"Refused: {exc}"[:300])
    timestamp = int(clock.now().timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": claimed.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(list(claimed.secrets), claimed.msg_id, timestamp, claimed.body),
    }
    own = client is None
    client = client or http_client(timeout)
    try:
        with client.stream(
            "POST", claimed.url, content=claimed.body.encode(), headers=headers
        ) as response:
            head = b""
            for chunk in response.iter_bytes():
                head += chunk
                if len(head) >= RESPONSE_HEAD:
                    break
            return Result(
                response.status_code,
                elapsed(),
                head[:RESPONSE_HEAD].decode("utf-8", "replace"),
                retry_after=_retry_after(response),
            )
    except httpx.TimeoutException:
        return Result(None, elapsed(), error=f"Timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return Result(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        if own:
            client.close()


def record(session: Session, clock: Clock, claimed: Claim, result: Result) -> str:
    """Record an attempt and decide what follows: 'succeeded', 'retry', 'failed', 'disabled', or
    'lost' (the claim's lease ended meanwhile and another worker took it)."""
    now = clock.now()
    delivery = session.exec(
        select(WebhookDelivery).where(
            WebhookDelivery.id == claimed.delivery_id,
            WebhookDelivery.status == SENDING,
            WebhookDelivery.attempts == claimed.attempt,
        )
    ).first()
    if delivery is None:
        return "lost"
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=claimed.attempt,
            at=now,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_head=result.response_head,
            error=result.error,
        )
    )
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    delivery.claimed_at = None
    delivery.last_status_code = result.status_code
    delivery.last_latency_ms = result.latency_ms
    delivery.last_response = result.response_head
    delivery.last_error = result.error
    outcome = _next_step(session, clock, delivery, endpoint, result, now)
    session.add(delivery)
    session.flush()
    return outcome


def _next_step(session, clock, delivery, endpoint, result: Result, now: datetime) -> str:
    if result.ok:
        delivery.status, delivery.finished_at = SUCCEEDED, now
        if endpoint is not None and endpoint.failing_since is not None:
            endpoint.failing_since = None
            session.add(endpoint)
        return "succeeded"
    if result.status_code == 410 and endpoint is not None:
        delivery.status, delivery.finished_at = FAILED, now
        _disable(session, clock, endpoint, "The endpoint answered 410 Gone.")
        return "disabled"
    disabled = ""
    if endpoint is not None and endpoint.enabled and delivery.event_type != TEST_EVENT:
        endpoint.failing_since = endpoint.failing_since or now
        session.add(endpoint)
        if now - endpoint.failing_since >= DISABLE_AFTER:
            # The delivery stays pending: enabling the endpoint again resumes where it stopped.
            _disable(session, clock, endpoint, "Every delivery failed for 5 days.")
            disabled = "disabled"
    if delivery.attempts >= MAX_ATTEMPTS or delivery.event_type == TEST_EVENT:
        delivery.status, delivery.finished_at = FAILED, now
        return disabled or "failed"
    wait = RETRY_SCHEDULE[delivery.attempts - 1]
    throttled = result.status_code == 429 or (result.status_code or 0) >= 500
    if throttled and result.retry_after is not None:
        wait = max(wait, result.retry_after)
    delivery.status, delivery.next_attempt_at = PENDING, now + wait
    return disabled or "retry"


def _disable(session: Session, clock: Clock, endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable the endpoint, audited, and mail its merchant's owners and admins."""
    with audit.changing(
        session,
        clock,
        endpoint,
        actor=audit.Actor("system", "webhooks"),
        action="webhook_endpoint.disabled",
        before={"enabled": endpoint.enabled},
    ) as change:
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        change.after = {"enabled": False, "reason": reason}
    admins = session.exec(
        select(StaffUser.email).where(
            StaffUser.merchant_id == endpoint.merchant_id,
            StaffUser.role.in_(("owner", "admin")),
            StaffUser.disabled_at.is_(None),
        )
    ).all()
    for address in admins:
        mailer.queue_staff(
            session,
            clock,
            merchant_id=endpoint.merchant_id,
            to_address=address,
            kind="webhook_disabled",
            subject="A webhook endpoint was disabled",
            body=(
                f"Portal stopped sending events to {endpoint.url}: {reason} Deliveries that "
                "were waiting go out, in order, when you enable it again on the dashboard's "
                "Webhooks page; events that happen while it is disabled are not sent to it."
            ),
        )


def _async_commit(session: Session) -> None:
    """On PostgreSQL, this transaction's COMMIT does not wait for the WAL flush (~10 ms here).
    Only delivery bookkeeping runs like this: a crash may forget the last claims or results,
    and those deliveries go out again with their webhook-id (at least once, as promised)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL synchronous_commit = off"))


def _claimed_batches(
    engine: sa.Engine, clock: Clock, batch_size: int, limit: int | None
) -> Iterator[list[Claim]]:
    taken = 0
    with session_scope(engine) as session:
        release_expired_claims(session, clock)
    while limit is None or taken < limit:
        size = batch_size if limit is None else min(batch_size, limit - taken)
        with session_scope(engine) as session:
            _async_commit(session)
            batch = claim(session, clock, limit=size)
        if not batch:
            return
        taken += len(batch)
        yield batch


@dataclass
class DeliveryReport:
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0

    @property
    def attempts(self) -> int:
        return self.succeeded + self.retried + self.failed + self.disabled


def deliver(
    engine: sa.Engine,
    clock: Clock,
    *,
    batch_size: int = CLAIM_BATCH,
    limit: int | None = None,
    timeout: float = TIMEOUT_SECONDS,
    should_stop=lambda: False,
) -> DeliveryReport:
    """The delivery job: claim a batch, post each, commit each result; repeat until nothing is
    due (or `limit` attempts, or `should_stop()` says so after the attempt in hand)."""
    report = DeliveryReport()
    with http_client(timeout) as client:
        _deliver_claims(engine, clock, batch_size, limit, client, should_stop, report)
    return report


def _deliver_claims(engine, clock, batch_size, limit, client, should_stop, report) -> None:
    disabled: set[int] = set()  # endpoints this run disabled: their other claims go back
    for batch in _claimed_batches(engine, clock, batch_size, limit):
        for n, claimed in enumerate(batch):
            if should_stop():  # after the item in hand: the rest of the batch goes back untried
                with session_scope(engine) as session:
                    for rest in batch[n:]:
                        unclaim(session, rest)
                return
            if claimed.endpoint_id in disabled:
                with session_scope(engine) as session:
                    unclaim(session, claimed)
                continue
            result = post(claimed, clock, timeout=client.timeout.read, client=client)
            with session_scope(engine) as session:
                _async_commit(session)
                outcome = record(session, clock, claimed, result)
            if outcome == "disabled":
                disabled.add(claimed.endpoint_id)
            if outcome in ("succeeded", "retry", "failed", "disabled"):
                field_ = {"retry": "retried"}.get(outcome, outcome)
                setattr(report, field_, getattr(report, field_) + 1)


def unclaim(session: Session, claimed: Claim) -> None:
    """Give a claimed delivery back untried (its attempt not counted)."""
    session.execute(
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed.delivery_id,
            WebhookDelivery.status == SENDING,
            WebhookDelivery.attempts == claimed.attempt,
        )
        .values(status=PENDING, claimed_at=None, attempts=claimed.attempt - 1)
        .execution_options(synchronize_session=False)
    )


def forget_endpoint(session: Session, endpoint_id: int) -> None:
    """Drop an endpoint's deliveries and their attempts (before the endpoint itself)."""
    ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))


def replay(
    session: Session, clock: Clock, *, merchant_id: int, delivery_id: int, actor: audit.Actor
) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again (the same `webhook-id`), now."""
    original = session.get(WebhookDelivery, delivery_id)
    if original is None or original.merchant_id != merchant_id:
        raise NotFound("No such delivery.")
    now = clock.now()
    again = WebhookDelivery(
        merchant_id=merchant_id,
        endpoint_id=original.endpoint_id,
        event_id=original.event_id,
        customer_id=original.customer_id,
        event_type=original.event_type,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(again)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="webhook_delivery.replay",
        target_type="webhookdelivery",
        target_id=again.id,
        after={"of": original.id, "event_id": original.event_id},
    )
    return again


def send_test(
    session: Session, clock: Clock, *, merchant_id: int, endpoint_id: int, actor: audit.Actor
) -> WebhookDelivery:
    """A test event to one endpoint (tried once, never retried, never counted as failing)."""
    endpoint = webhook_endpoints.get_endpoint(session, merchant_id, endpoint_id)
    if not endpoint.enabled:
        raise webhook_endpoints.WebhookError(
            "Enable the endpoint before sending it a test event.", code="endpoint_disabled"
        )
    now = clock.now()
    event = WebhookEvent(
        merchant_id=merchant_id,
        msg_id=webhook_events.new_msg_id(),
        type=TEST_EVENT,
        object_kind="webhookendpoint",
        object_id=str(endpoint.id),
        payload=json.dumps(
            {
                "type": TEST_EVENT,
                "timestamp": webhook_events.iso(now),
                "data": {"endpoint_id": endpoint.id},
            },
            separators=(",", ":"),
        ),
        created_at=now,
    )
    session.add(event)
    session.flush()
    delivery = WebhookDelivery(
        merchant_id=merchant_id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        event_type=TEST_EVENT,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="webhook_endpoint.test",
        target_type="webhookendpoint",
        target_id=endpoint.id,
    )
    return delivery
