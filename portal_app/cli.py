"""Command line: `python -m portal_app.cli <command>` (also installed as `portal`). Cron-friendly:
each command prints one summary line and exits non-zero on failure."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from portal_app.clock import SystemClock
from portal_app.config import PROJECT_ROOT, load_settings
from portal_app.db import get_engine, install_guards, read_scope, session_scope
from portal_app.models import Merchant, StaffUser
from portal_app.services import (
    api_keys,
    audit,
    auth,
    billing_clock,
    demo,
    mailer,
    staff_auth,
    webhook_delivery,
)
from portal_app.services.errors import PortalError
from portal_app.services.gateway import configured_gateway
from portal_app.worker import Worker


def files_dir() -> Path:
    return Path(os.environ.get("PORTAL_FILES_DIR", PROJECT_ROOT / "private_files"))


def _merchant_id(slug: str) -> int:
    with read_scope() as session:
        merchant = session.exec(select(Merchant).where(Merchant.slug == slug)).first()
    if merchant is None:
        raise PortalError(f"No merchant with slug {slug!r}.")
    return merchant.id


def cmd_seed_demo(_args) -> str:
    install_guards(get_engine())
    result = demo.seed_demo(get_engine(), configured_gateway(), SystemClock(), files_dir())
    if result.created:
        return f"seeded demo merchant {demo.DEMO_SLUG!r} (id {result.merchant_id})"
    return f"demo merchant {demo.DEMO_SLUG!r} already present (id {result.merchant_id})"


def cmd_billing_run(args) -> str:
    report = billing_clock.advance_all_merchants(
        get_engine(), configured_gateway(), batch_size=args.batch_size
    )
    return f"billing run: {report}"


def cmd_test_clock(args) -> str:
    report = billing_clock.advance_test_clock(
        get_engine(),
        configured_gateway(),
        merchant_id=_merchant_id(args.merchant),
        delta=timedelta(days=args.days),
        actor=audit.Actor("system", "cli"),
    )
    return f"test clock +{args.days} days: {report}"


def cmd_audit_verify(args) -> str:
    with read_scope() as session:
        ids = (
            [_merchant_id(args.merchant)]
            if args.merchant
            else [m.id for m in session.exec(select(Merchant))]
        )
        lines = []
        broken = False
        for merchant_id in ids:
            report = audit.verify_chain(session, merchant_id)
            broken |= not report.ok
            status = (
                "ok" if report.ok else f"BROKEN at seq {report.first_bad_seq}: {report.problem}"
            )
            lines.append(f"merchant {merchant_id}: {report.checked} events, {status}")
    if broken:
        raise PortalError("\n".join(lines))
    return "\n".join(lines)


def cmd_create_admin(args) -> str:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    with session_scope() as session:
        staff = staff_auth.create_staff(
            session,
            SystemClock(),
            merchant_id=_merchant_id(args.merchant),
            email=args.email,
            password=password,
            name=args.name,
            role="owner",
            actor=audit.Actor("system", "cli"),
        )
        return f"created owner {staff.email} (id {staff.id})"


def cmd_create_api_key(args) -> str:
    with session_scope() as session:
        raw = api_keys.create_api_key(
            session,
            SystemClock(),
            merchant_id=_merchant_id(args.merchant),
            name=args.name,
            actor=audit.Actor("system", "cli"),
        )
    return f"API key (shown once, store it now): {raw}"


def cmd_unlock_staff(args) -> str:
    """Lift a member's password lock-out (every address, and the account-wide count)."""
    merchant_id = _merchant_id(args.merchant)
    address = auth.normalize_email(args.email)
    with session_scope() as session:
        staff_id = session.exec(
            select(StaffUser.id).where(
                StaffUser.merchant_id == merchant_id, StaffUser.email == address
            )
        ).first()
        if staff_id is None:
            raise PortalError(f"No staff member {address} at merchant {args.merchant!r}.")
        staff_auth.unlock_staff(
            session,
            SystemClock(),
            merchant_id=merchant_id,
            staff_id=staff_id,
            actor=audit.Actor("system", "cli"),
        )
    if not load_settings().redis_url:
        return (
            f"unlocked {address} in this process only: without Redis the server keeps lock-outs "
            "in its own memory, so use the Staff page (or restart the server) there"
        )
    return f"unlocked {address}: password sign-in works again from every address"


def cmd_deliver_mail(_args) -> str:
    settings = load_settings()
    sent, failed = mailer.deliver(
        get_engine(), SystemClock(), smtp_host=settings.smtp_host, smtp_port=settings.smtp_port
    )
    if not settings.smtp_host:
        return "no SMTP server configured: mail stays in the outbox (dev mailbox)"
    return f"mail: {sent} sent, {failed} failed (will retry)"


def cmd_deliver_webhooks(_args) -> str:
    report = webhook_delivery.deliver(get_engine(), SystemClock())
    return (
        f"webhooks: {report.succeeded} delivered, {report.retried} to retry, "
        f"{report.failed} failed, {report.disabled} endpoints disabled"
    )


def cmd_worker(args) -> str:
    """Runs until SIGTERM / SIGINT (systemd's stop, Ctrl-C); see portal_app/worker.py."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per webhook post
    # No install_guards here: its DDL, run by workers starting together while another one
    # renews, deadlocked on PostgreSQL (tests/faults/test_workers_side_by_side.py caught it).
    Worker(
        get_engine(),
        configured_gateway(),
        load_settings(),
        poll=args.poll,
        clock_every=args.clock_every,
    ).run()
    return "worker: exited"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("seed-demo", help="create the demo merchant (idempotent)").set_defaults(
        run=cmd_seed_demo
    )
    billing = commands.add_parser("billing-run", help="run the billing clock for every merchant")
    billing.add_argument("--batch-size", type=int, default=500)
    billing.set_defaults(run=cmd_billing_run)
    test_clock = commands.add_parser("test-clock", help="move a demo merchant's time forward")
    test_clock.add_argument("--merchant", default=demo.DEMO_SLUG)
    test_clock.add_argument("--days", type=int, required=True)
    test_clock.set_defaults(run=cmd_test_clock)
    verify = commands.add_parser("audit-verify", help="check the audit hash chains")
    verify.add_argument("--merchant")
    verify.set_defaults(run=cmd_audit_verify)
    commands.add_parser("deliver-mail", help="send queued mail over SMTP").set_defaults(
        run=cmd_deliver_mail
    )
    admin = commands.add_parser("create-admin", help="first run: create a merchant admin")
    admin.add_argument("--merchant", default=demo.DEMO_SLUG)
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    admin.set_defaults(run=cmd_create_admin)
    unlock = commands.add_parser("unlock-staff", help="lift a staff member's password lock-out")
    unlock.add_argument("--merchant", default=demo.DEMO_SLUG)
    unlock.add_argument("--email", required=True)
    unlock.set_defaults(run=cmd_unlock_staff)
    api_key = commands.add_parser("create-api-key", help="create a merchant API key")
    api_key.add_argument("--merchant", default=demo.DEMO_SLUG)
    api_key.add_argument("--name", default="default")
    api_key.set_defaults(run=cmd_create_api_key)
    commands.add_parser(
        "deliver-webhooks", help="post due webhook deliveries once (the worker does this)"
    ).set_defaults(run=cmd_deliver_webhooks)
    worker = commands.add_parser(
        "worker", help="run the billing clock, mail and webhooks continuously (no cron needed)"
    )
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between rounds")
    worker.add_argument(
        "--clock-every", type=float, default=30.0, help="seconds between billing clock runs"
    )
    worker.set_defaults(run=cmd_worker)
    args = parser.parse_args(argv)
    try:
        print(args.run(args))
    except PortalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
