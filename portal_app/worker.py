"""`portal worker`: one long-running process that runs the billing clock, mail delivery and
webhook delivery continuously, so nothing needs cron.

Each round: the billing clock for every merchant (at most every `clock_every` seconds; on
PostgreSQL under an advisory lock, so of several workers one runs it while the others deliver),
then queued mail (when SMTP is configured), then due webhooks. Between rounds it sleeps `poll`
seconds, or on PostgreSQL until a commit NOTIFYs new webhook events. SIGTERM or SIGINT stops it
after the item in hand. Every round that did something logs one line."""

from __future__ import annotations

import logging
import select
import signal
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from portal_app.clock import Clock, SystemClock
from portal_app.config import Settings
from portal_app.services import billing_clock, mailer, webhook_delivery, webhook_events
from portal_app.services.gateway import PaymentGateway

log = logging.getLogger("portal.worker")
# pg_try_advisory_lock key of the billing clock: one runner at a time across every host.
CLOCK_LOCK = 0x504F5254  # "PORT"


@dataclass
class Worker:
    engine: sa.Engine
    gateway: PaymentGateway
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    poll: float = 1.0
    clock_every: float = 30.0
    stopping: bool = False
    _clock_due: float = 0.0

    def stop(self, *_args) -> None:
        self.stopping = True

    def _billing(self) -> str:
        if time.monotonic() < self._clock_due:
            return ""
        self._clock_due = time.monotonic() + self.clock_every
        with _clock_lock(self.engine) as mine:
            if not mine:
                return ""
            report = billing_clock.advance_all_merchants(
                self.engine, self.gateway, base=self.clock, should_stop=lambda: self.stopping
            )
        if not (report.items or report.checkouts_expired or report.idempotency_purged):
            return ""
        return (
            f"billing {report.renewed} renewed, {report.charged} charged, "
            f"{report.payment_failed} failed, {report.ended} ended, {report.retried} retried, "
            f"{report.checkouts_expired} checkouts expired, {report.errors} errors"
        )

    def _mail(self) -> str:
        if not self.settings.smtp_host:
            return ""
        sent, failed = mailer.deliver(
            self.engine,
            self.clock,
            smtp_host=self.settings.smtp_host,
            smtp_port=self.settings.smtp_port,
        )
        return f"mail {sent} sent, {failed} failed" if sent or failed else ""

    def _webhooks(self) -> str:
        report = webhook_delivery.deliver(
            self.engine, self.clock, should_stop=lambda: self.stopping
        )
        if not report.attempts:
            return ""
        return (
            f"webhooks {report.succeeded} delivered, {report.retried} to retry, "
            f"{report.failed} failed, {report.disabled} endpoints disabled"
        )

    def round(self) -> str:
        """One round of every job; the log line ('' when nothing happened)."""
        parts = []
        for job in (self._billing, self._mail, self._webhooks):
            if self.stopping:
                break
            try:
                line = job()
            except Exception:  # one job's outage (database restart) must not end the worker
                log.exception("worker: %s failed; retrying next round", job.__name__.strip("_"))
                continue
            if line:
                parts.append(line)
        return " · ".join(parts)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info(
            "worker: started (poll %.1f s, billing clock every %.0f s)", self.poll, self.clock_every
        )
        with _listener(self.engine) as wait:
            while not self.stopping:
                line = self.round()
                if line:
                    log.info("worker: %s", line)
                if not self.stopping:
                    wait(self.poll)
        log.info("worker: stopped")


class _clock_lock:
    """Holds the billing clock's advisory lock on its own connection (PostgreSQL); released
    on exit, or by the server if this process dies. SQLite has one writer anyway: always mine."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.connection = None

    def __enter__(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        self.connection = self.engine.connect()
        got = self.connection.execute(
            sa.text(f"SELECT pg_try_advisory_lock({CLOCK_LOCK})")
        ).scalar()
        self.connection.commit()
        if not got:
            self.connection.close()
            self.connection = None
        return bool(got)

    def __exit__(self, *exc) -> None:
        if self.connection is not None:
            self.connection.execute(sa.text(f"SELECT pg_advisory_unlock({CLOCK_LOCK})"))
            self.connection.commit()
            self.connection.close()


class _listener:
    """A wait(seconds) that returns early when PostgreSQL delivers a NOTIFY on the channel the
    webhook events use; a plain sleep elsewhere."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.raw = None

    def __enter__(self):
        if self.engine.dialect.name != "postgresql":
            return self._sleep
        try:
            import psycopg

            url = self.engine.url.set(drivername="postgresql")
            self.raw = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            self.raw.execute(f"LISTEN {webhook_events.CHANNEL}")
        except Exception:
            log.warning("worker: LISTEN unavailable, polling instead", exc_info=True)
            self.raw = None
            return self._sleep
        return self._wait

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _wait(self, seconds: float) -> None:
        try:
            ready, _, _ = select.select([self.raw.fileno()], [], [], seconds)
            if ready:
                for _ in self.raw.notifies(timeout=0):
                    pass
        except Exception:  # the listening connection broke: this round waits the plain way
            time.sleep(seconds)

    def __exit__(self, *exc) -> None:
        if self.raw is not None:
            self.raw.close()
