"""Customers, and optionally their subscriptions, from a CSV file: how a merchant moves from
another billing system. A dry run lists every row's problems and what would happen; the import
runs in one transaction or not at all; importing the same file again changes nothing (rows are
matched by `external_id`, else by email, and a subscription already there is left alone).

Columns (a header row, any order, case-blind): email (required), name, external_id, currency,
plan (the plan's slug), interval (month | year), status (active | trialing | past_due, default
active), current_period_end and trial_end (ISO dates or times, UTC if no zone), and any number
of `metadata.<key>` columns. An imported subscription is not charged now: it renews at its
current_period_end, as it would have in the old system."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import (
    Customer,
    Merchant,
    Plan,
    Price,
    Subscription,
    SubscriptionStatus,
    TrialUse,
)
from portal_app.services import audit, customer_accounts, digital_admin
from portal_app.services.auth import AuthError, normalize_email
from portal_app.services.catalog import period_end
from portal_app.services.errors import PortalError

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_PROBLEMS_SHOWN = 200
COLUMNS = (
    "email",
    "name",
    "external_id",
    "currency",
    "plan",
    "interval",
    "status",
    "current_period_end",
    "trial_end",
)
STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
LIVE = (*STATUSES, SubscriptionStatus.PAUSED)


class CustomerImportError(PortalError):
    code = "import"


@dataclass(frozen=True)
class Problem:
    line: int  # the file's line number (the header is line 1)
    message: str


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    subscriptions: int = 0
    problems: list[Problem] = field(default_factory=list)
    written: bool = False

    def summary(self) -> str:
        verb = "Imported" if self.written else "Would import"
        return (
            f"{verb} {self.rows} rows: {self.created} new customers, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.subscriptions} new subscriptions."
        )


@dataclass
class _Row:
    line: int
    email: str
    name: str | None
    external_id: str | None
    currency: str | None
    metadata: dict[str, str]
    price: Price | None = None
    status: str = SubscriptionStatus.ACTIVE
    period_end_at: datetime | None = None
    trial_end: datetime | None = None


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _read(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    if len(data) > MAX_BYTES:
        raise CustomerImportError(f"The file is over {MAX_BYTES // (1024 * 1024)} MB. Split it.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CustomerImportError("The file is not UTF-8 text. Save it as CSV (UTF-8).") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise CustomerImportError("The first line must name the columns, with an email column.")
    unknown = [h for h in header if h not in COLUMNS and not h.startswith("metadata.")]
    if unknown:
        raise CustomerImportError(
            f"Unknown columns: {', '.join(unknown)}. Known: {', '.join(COLUMNS)}."
        )
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= MAX_ROWS:
            raise CustomerImportError(f"At most {MAX_ROWS:,} rows per file. Split it.")
        rows.append({k: (v or "").strip() for k, v in row.items() if k is not None})
    return header, rows


def _prices(session: Session, merchant_id: int) -> dict[tuple[str, str, str], Price]:
    found = {}
    for price, plan in session.exec(
        select(Price, Plan)
        .join(Plan, Plan.id == Price.plan_id)
        .where(Price.merchant_id == merchant_id, Price.active, Plan.active)
    ):
        if plan.slug:
            found[(plan.slug, price.interval, price.currency)] = price
    return found


def _check_row(
    raw: dict[str, str], line: int, default_currency: str, prices, now: datetime
) -> tuple[_Row | None, list[str]]:
    problems: list[str] = []
    try:
        email = normalize_email(raw.get("email", ""))
    except AuthError:
        problems.append("email is not a valid address")
        email = ""
    name = raw.get("name") or None
    if name is not None and len(name) > 200:
        problems.append("name is over 200 characters")
    external_id = raw.get("external_id") or None
    if external_id is not None and len(external_id) > customer_accounts.EXTERNAL_ID_MAX:
        problems.append("external_id is over 255 characters")
    currency = (raw.get("currency") or "").upper() or None
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        problems.append("currency must be a three-letter code such as USD")
    metadata = {k[9:]: v for k, v in raw.items() if k.startswith("metadata.") and v != ""}
    try:
        customer_accounts.clean_metadata(metadata)
    except PortalError as exc:
        problems.append(str(exc))
    row = _Row(line, email, name, external_id, currency, metadata)
    plan = raw.get("plan", "")
    if plan:
        interval = raw.get("interval") or "month"
        row.price = prices.get((plan.lower(), interval, currency or default_currency))
        if row.price is None:
            problems.append(
                f'no active {interval} price of plan "{plan}" in {currency or default_currency}'
            )
        row.status = raw.get("status") or SubscriptionStatus.ACTIVE
        if row.status not in STATUSES:
            problems.append("status must be active, trialing or past_due")
        for column in ("current_period_end", "trial_end"):
            if raw.get(column):
                try:
                    setattr(
                        row, "period_end_at" if column[0] == "c" else column, _when(raw[column])
                    )
                except ValueError:
                    problems.append(f"{column} is not a date such as 2027-01-31")
        if row.status == SubscriptionStatus.TRIALING:
            row.period_end_at = row.period_end_at or row.trial_end
            if row.trial_end is None:
                problems.append("a trialing subscription needs its trial_end")
        if row.period_end_at is None:
            problems.append("a subscription needs its current_period_end")
        elif row.period_end_at <= now:
            problems.append("current_period_end must be in the future")
    elif any(raw.get(c) for c in ("interval", "status", "current_period_end", "trial_end")):
        problems.append("subscription columns need a plan")
    return (row if not problems else None), problems


def import_csv(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    data: bytes,
    actor: audit.Actor,
    dry_run: bool,
) -> ImportResult:
    """Check every row, then (unless `dry_run`, and only with no problem at all) write them."""
    _, raw_rows = _read(data)
    merchant = session.get(Merchant, merchant_id)
    now = clock.now()
    prices = _prices(session, merchant_id)
    existing = list(session.exec(select(Customer).where(Customer.merchant_id == merchant_id)))
    by_email = {c.email: c for c in existing}
    by_external = {c.external_id: c for c in existing if c.external_id}
    live: dict[int, set[int]] = {}
    for customer_id, plan_id in session.exec(
        select(Subscription.customer_id, Subscription.plan_id).where(
            Subscription.merchant_id == merchant_id, Subscription.status.in_(LIVE)
        )
    ):
        live.setdefault(customer_id, set()).add(plan_id)

    result = ImportResult(rows=len(raw_rows))
    checked: list[tuple[_Row, Customer | None]] = []
    seen_emails: dict[str, int] = {}
    seen_external: dict[str, int] = {}
    for index, raw in enumerate(raw_rows):
        line = index + 2
        row, problems = _check_row(raw, line, merchant.default_currency, prices, now)
        email, external_id = (raw.get("email") or "").strip().lower(), raw.get("external_id")
        for key, seen, label in (
            (email, seen_emails, "email"),
            (external_id, seen_external, "external_id"),
        ):
            if key and key in seen:
                problems.append(f"the same {label} as line {seen[key]}")
            elif key:
                seen[key] = line
        match = None
        if row is not None and not problems:
            match = by_external.get(row.external_id) if row.external_id else None
            match = match or by_email.get(row.email)
            owner = by_email.get(row.email)
            if match is not None and owner is not None and owner.id != match.id:
                problems.append("this email belongs to another customer")
            if match is not None and match.deleted_at is not None:
                problems.append("this customer was deleted")
            if (
                match is not None
                and row.external_id
                and match.external_id
                not in (
                    None,
                    row.external_id,
                )
            ):
                problems.append("this email's customer has another external_id")
            if match is not None and row.price is not None:
                plans = live.get(match.id, set())
                if plans and row.price.plan_id not in plans:
                    problems.append("this customer already has a live subscription")
        if problems:
            result.problems.extend(Problem(line, p) for p in problems)
            continue
        checked.append((row, match))

    new_customers: list[tuple[_Row, Customer]] = []
    for row, match in checked:
        if match is None:
            result.created += 1
            new_customers.append(
                (
                    row,
                    Customer(
                        merchant_id=merchant_id,
                        email=row.email,
                        name=row.name or "",
                        external_id=row.external_id,
                        currency=row.currency or merchant.default_currency,
                        metadata_=row.metadata,
                        created_at=now,
                    ),
                )
            )
            continue
        changes = {
            "name": row.name if row.name is not None else match.name,
            "external_id": row.external_id or match.external_id,
            "metadata_": {**(match.metadata_ or {}), **row.metadata},
        }
        if all(getattr(match, k) == v for k, v in changes.items()):
            result.unchanged += 1
        else:
            result.updated += 1
            if not dry_run:
                for key, value in changes.items():
                    setattr(match, key, value)
                session.add(match)
    subscriptions = [
        (row, customer)
        for row, customer in [*new_customers, *((r, m) for r, m in checked if m is not None)]
        if row.price is not None and row.price.plan_id not in live.get(customer.id or -1, set())
    ]
    result.subscriptions = len(subscriptions)
    if dry_run:
        return result
    if result.problems:
        bad_rows = len({p.line for p in result.problems})
        raise CustomerImportError(
            f"{bad_rows} rows have problems: nothing was imported. Fix them and try again."
        )
    session.add_all([c for _, c in new_customers])
    session.flush()
    plans = {p.id: p for p in session.exec(select(Plan).where(Plan.merchant_id == merchant_id))}
    rows = []
    trials = []
    for row, customer in subscriptions:
        length = period_end(row.period_end_at, row.price.interval) - row.period_end_at
        start = row.period_end_at - length
        subscription = Subscription(
            merchant_id=merchant_id,
            customer_id=customer.id,
            plan_id=row.price.plan_id,
            price_id=row.price.id,
            status=row.status,
            current_period_start=min(start, now),
            current_period_end=row.period_end_at,
            trial_end=row.trial_end if row.status == SubscriptionStatus.TRIALING else None,
            created_at=now,
        )
        rows.append(subscription)
        if subscription.trial_end is not None:
            trials.append((customer.id, plans[row.price.plan_id].product_id, subscription))
    session.add_all(rows)
    session.flush()
    session.add_all(
        TrialUse(customer_id=c, product_id=p, subscription_id=s.id, started_at=now)
        for c, p, s in trials
    )
    audit.record(
        session,
        clock,
        merchant_id=merchant_id,
        actor=actor,
        action="customer.import",
        target_type="import",
        target_id=hashlib.sha256(data).hexdigest()[:16],
        after={
            "rows": result.rows,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "subscriptions": result.subscriptions,
        },
    )
    result.written = True
    return result


def check_file(
    session: Session, clock: Clock, *, merchant_id: int, relative_path: str, actor: audit.Actor
) -> ImportResult:
    """The dry run of an uploaded file in the private store (services/digital_admin)."""
    data = digital_admin.stored_file_path(merchant_id, relative_path).read_bytes()
    return import_csv(session, clock, merchant_id=merchant_id, data=data, actor=actor, dry_run=True)


def import_file(
    session: Session, clock: Clock, *, merchant_id: int, relative_path: str, actor: audit.Actor
) -> ImportResult:
    """The import of that file, all or nothing; the file is deleted once it is imported."""
    path = digital_admin.stored_file_path(merchant_id, relative_path)
    result = import_csv(
        session, clock, merchant_id=merchant_id, data=path.read_bytes(), actor=actor, dry_run=False
    )
    digital_admin.discard_stored_file(session, merchant_id, relative_path)
    return result


def discard_file(session: Session, clock: Clock, *, merchant_id: int, relative_path: str) -> None:
    """Delete an uploaded file that will not be imported."""
    digital_admin.discard_stored_file(session, merchant_id, relative_path)
