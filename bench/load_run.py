"""Load run: many simulated customers sign in and use the portal over socket.io for a few minutes,
then the database is checked for consistency. Bounded in time and actions, loopback only.

    python bench/load_run.py                                  # 40 customers, 60 s, PG, 2 workers
    python bench/load_run.py --customers 100 --duration 180 --workers 2
    python bench/load_run.py --db sqlite --workers 1 --customers 50 --duration 120

Set-up (not timed): a private database (scratch PostgreSQL on 127.0.0.1:5432, or a temporary
SQLite file), migrated and seeded as `make run` does; --customers bench customers made through
the services (card, monthly subscription on Starter/Pro/Business, --open-invoices unpaid
invoices; every 10th customer's default card declines every charge); in the portal settings,
pausing switched on and downgrades now or at period end as the customer chooses; the production
server on 127.0.0.1 only (`--backend-host 127.0.0.1`) with --workers granian workers (Redis
state manager, private database number, when more than one).

The run: each customer signs in through the merchant API (one-time link, redeemed at
/auth/verify: "sign_in"), opens a tab (socket, hydrate of /portal: "open_tab") and then, until
--duration seconds have passed or --max-actions actions were done in all, picks actions at random
with --think seconds (0.5x to 1.5x) between them: view a page (overview, subscriptions, invoices,
cards, downloads), pay an open invoice (one customer in five has a second tab and sometimes pays
from both tabs at once), download an invoice PDF, change plan (open, pick a plan, pick a timing
when offered, confirm), pause or resume, undo a scheduled change, add a card (one in five is
refused by the gateway), make another card the default. An action with nothing to act on views
its page instead.

Each answer is classified from what the server sends back: ok, refused (a business answer such as
"declined" or "only an active subscription can be paused"), or error (no answer within --timeout,
"Something went wrong", a redirect to sign-in).

The checks, over the whole database after the server has stopped:
- every succeeded payment belongs to exactly one paid invoice of the same customer, for its
  amount; every paid invoice with money paid has exactly one succeeded payment; no open or void
  invoice has a succeeded payment;
- one receipt per succeeded payment (same amount), none for failed ones; every succeeded payment
  has its succeeded gateway charge (same amount), and there are no other succeeded charges;
- invoice and receipt numbers are gapless per merchant (1..n, no duplicates) and agree with the
  counters;
- balances add up: each invoice's total is the sum of its lines, amount paid is 0 or the total
  (by status); no customer has a negative credit balance; each bench customer's credit balance
  moved by exactly the credit granted minus the credit spent in the run;
- the audit hash chain of every merchant verifies (services/audit.py `verify_chain`);
- nothing lost or duplicated: what the clients were told succeeded matches the rows written in
  the run (payments on the bench invoices, declined attempts, plan changes now and scheduled,
  undone changes, pauses, resumes, cards added, default changes), and no invoice was paid twice.
Exit status 1 if a check fails or any action ended in an error."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _client import (
    CARDS,
    DOWNLOADS,
    INVOICES,
    PORTAL,
    SUBSCRIPTIONS,
    PortalSocket,
    Reply,
    check_state_names,
)
from _server import (
    BenchCustomer,
    PortalServer,
    add_bench_customers,
    describe_url,
    machine_note,
    percentile,
    save_settings,
    scratch_database,
    scratch_redis,
    sign_in,
)

PAID = "Payment received. Thank you!"
ALREADY_PAID = "This invoice is already paid."
CHANGED_NOW = "Your plan has changed."
SCHEDULED = "Your change is scheduled for the end of the period."
GOOD_NEW_CARDS = ("4242424242424242", "5555555555554444")
REFUSED_NEW_CARD = "4000000000000069"  # the gateway refuses to tokenize it (expired_card)
CRASH_TEXTS = ("Something went wrong", "That request was not valid")

WEIGHTS = {
    "view_overview": 14,
    "view_subscriptions": 8,
    "view_invoices": 8,
    "view_cards": 5,
    "view_downloads": 4,
    "pay_invoice": 14,
    "download_pdf": 5,
    "change_plan": 10,
    "pause_resume": 10,
    "undo_change": 3,
    "add_card": 6,
    "set_default_card": 4,
}

# An action with nothing to act on (no open invoice, no paused subscription...) views this page,
# which also tells the customer what there is.
FALLBACK = {
    "pay_invoice": "view_overview",
    "download_pdf": "view_invoices",
    "change_plan": "view_subscriptions",
    "pause_resume": "view_subscriptions",
    "undo_change": "view_subscriptions",
    "set_default_card": "view_cards",
}


@dataclass
class Tally:
    """What the clients saw, for the report and for the lost/duplicate-write checks."""

    outcomes: Counter = field(default_factory=Counter)  # (action, ok|refused|error)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    told: Counter = field(default_factory=Counter)  # what the server said succeeded
    paid_per_invoice: Counter = field(default_factory=Counter)
    error_samples: Counter = field(default_factory=Counter)
    actions: int = 0

    def record(self, action: str, outcome: str, seconds: float, detail: str = "") -> None:
        self.outcomes[(action, outcome)] += 1
        self.latencies[action].append(seconds)
        if outcome == "error":
            self.error_samples[f"{action}: {detail[:120]}"] += 1


class Budget:
    def __init__(self, duration: float, max_actions: int):
        self.end = time.perf_counter() + duration
        self.left = max_actions

    def take(self) -> bool:
        if self.left <= 0 or time.perf_counter() >= self.end:
            return False
        self.left -= 1
        return True


def classify(reply: Reply, ok_texts: tuple[str, ...] = ()) -> tuple[str, str]:
    """(ok | refused | error, detail) from an answer's toasts, redirects and timeout."""
    if reply.timed_out:
        return "error", "no answer"
    if any("/login" in path for path in reply.redirects):
        return "error", "sent to sign-in"
    for level, text in reply.toasts:
        if any(text.startswith(crash) for crash in CRASH_TEXTS):
            return "error", text
        if level == "error":
            return "refused", text
    for level, text in reply.toasts:
        if level == "success" and (not ok_texts or text in ok_texts):
            return "ok", text
    return "refused", "no success message"


def viewed(reply: Reply, state: str) -> tuple[str, str]:
    """A page load: ok when the page's data came back; a page without data and without any
    message is an error (a refusal always says why)."""
    if reply.delta(state).get("loaded"):
        return "ok", ""
    if reply.timed_out or reply.toasts or reply.redirects:
        return classify(reply)
    return "error", "no data and no message"


class SimulatedCustomer:
    def __init__(self, who: BenchCustomer, base_url: str, key: str, tally: Tally, args):
        self.who, self.base_url, self.key, self.tally, self.args = who, base_url, key, tally, args
        self.tab: PortalSocket | None = None
        self.second: PortalSocket | None = None
        self.open_invoices: list[str] = []
        self.invoice_rows: list[str] = []
        self.subscriptions: list[dict] = []
        self.cards: list[dict] = []

    async def run(self, budget: Budget, http) -> None:
        await asyncio.sleep(random.uniform(0, min(5.0, self.args.duration / 4)))
        start = time.perf_counter()
        try:
            cookie = await sign_in(http, self.base_url, self.key, self.who.id, "portal-bench")
        except Exception as exc:
            self.tally.record("sign_in", "error", time.perf_counter() - start, repr(exc))
            return
        self.tally.record("sign_in", "ok", time.perf_counter() - start)
        start = time.perf_counter()
        try:
            self.tab = PortalSocket(self.base_url, cookie)
            reply = await self.tab.connect("/portal", timeout=self.args.timeout)
            if reply.timed_out or not reply.delta(PORTAL).get("loaded"):
                raise RuntimeError("hydrate gave no overview")
            self._note_overview(reply)
            if self.who.id % 5 == 0:
                self.second = PortalSocket(self.base_url, cookie)
                await self.second.connect("/portal", timeout=self.args.timeout)
        except Exception as exc:
            self.tally.record("open_tab", "error", time.perf_counter() - start, repr(exc))
            return
        self.tally.record("open_tab", "ok", time.perf_counter() - start)
        names, weights = list(WEIGHTS), list(WEIGHTS.values())
        try:
            while budget.take():
                action = random.choices(names, weights)[0]
                began = time.perf_counter()
                answer = await getattr(self, action)()
                if answer is None:  # nothing to do it on yet: look at the page it lives on
                    action = FALLBACK[action]
                    began = time.perf_counter()
                    answer = await getattr(self, action)()
                outcome, detail = answer
                self.tally.actions += 1
                self.tally.record(action, outcome, time.perf_counter() - began, detail)
                await asyncio.sleep(self.args.think * random.uniform(0.5, 1.5))
        finally:
            for tab in (self.tab, self.second):
                if tab is not None:
                    with contextlib.suppress(Exception):
                        await tab.close()

    async def call(self, handler: str, payload: dict | None, path: str, tab=None) -> Reply:
        return await (tab or self.tab).call(handler, payload, path=path, timeout=self.args.timeout)

    # --- what the customer sees -------------------------------------------------------------

    def _note_overview(self, reply: Reply) -> None:
        data = reply.delta(PORTAL)
        if "open_invoices" in data:
            self.open_invoices = [row["id"] for row in data["open_invoices"]]

    async def view_overview(self):
        reply = await self.call(f"{PORTAL}.load", None, "/portal")
        self._note_overview(reply)
        return viewed(reply, PORTAL)

    async def view_subscriptions(self):
        reply = await self.call(f"{SUBSCRIPTIONS}.load", None, "/subscriptions")
        data = reply.delta(SUBSCRIPTIONS)
        if "items" in data:
            self.subscriptions = data["items"]
        return viewed(reply, SUBSCRIPTIONS)

    async def view_invoices(self):
        page = random.choice(("/invoices", "/invoices", "/invoices?page=2"))
        reply = await self.call(f"{INVOICES}.load", None, page)
        data = reply.delta(INVOICES)
        if "rows" in data:
            self.invoice_rows = [row["id"] for row in data["rows"]]
        return viewed(reply, INVOICES)

    async def view_cards(self):
        reply = await self.call(f"{CARDS}.load", None, "/payment-methods")
        data = reply.delta(CARDS)
        if "cards" in data:
            self.cards = data["cards"]
        return viewed(reply, CARDS)

    async def view_downloads(self):
        reply = await self.call(f"{DOWNLOADS}.load", None, "/downloads")
        return viewed(reply, DOWNLOADS)

    # --- what changes things -------------------------------------------------------------------

    async def pay_invoice(self):
        if not self.open_invoices:
            return None  # not possible now: the loop shows a page instead
        invoice_id = random.choice(self.open_invoices)
        payload = {"invoice_id": invoice_id}
        handler = f"{PORTAL}.pay_invoice"
        tabs = [self.tab]
        if self.second is not None and random.random() < 0.5:
            tabs.append(self.second)  # the same invoice from two tabs at once
        replies = await asyncio.gather(*(self.call(handler, payload, "/portal", t) for t in tabs))
        outcomes = []
        for reply in replies:
            outcome, text = classify(reply, (PAID, ALREADY_PAID))
            if outcome == "ok" and text == PAID:
                self.tally.told["paid"] += 1
                self.tally.paid_per_invoice[invoice_id] += 1
            elif outcome == "ok":
                self.tally.told["already_paid"] += 1
            elif outcome == "refused" and "declined" in text.lower():
                self.tally.told["declined"] += 1
            outcomes.append((outcome, text))
            self._note_overview(reply)
        if len(tabs) == 2:
            self.tally.told["double_pay_attempts"] += 1
        return next((o for o in outcomes if o[0] == "error"), outcomes[0])

    async def download_pdf(self):
        if not self.invoice_rows:
            return None  # not possible now: the loop shows a page instead
        reply = await self.call(
            f"{INVOICES}.download_pdf",
            {"invoice_id": random.choice(self.invoice_rows)},
            "/invoices",
        )
        if reply.downloads:
            return "ok", ""
        return classify(reply)

    def _pick_subscription(self, *statuses: str) -> dict | None:
        fitting = [s for s in self.subscriptions if s.get("status") in statuses]
        return random.choice(fitting) if fitting else None

    async def change_plan(self):
        sub = self._pick_subscription("active")
        if sub is None or sub.get("canceling") or sub.get("pending"):
            return None  # not possible now: the loop shows a page instead
        path = "/subscriptions"
        reply = await self.call(
            f"{SUBSCRIPTIONS}.open_change", {"subscription_id": sub["id"]}, path
        )
        options = reply.delta(SUBSCRIPTIONS).get("options") or []
        if not options:
            return classify(reply) if reply.toasts or reply.timed_out else ("refused", "no options")
        option = random.choice(options)
        reply = await self.call(
            f"{SUBSCRIPTIONS}.choose_price", {"price_id": option["price_id"]}, path
        )
        data = reply.delta(SUBSCRIPTIONS)
        if reply.timed_out or reply.toasts:
            return classify(reply)
        if data.get("preview_error"):
            return "refused", data["preview_error"]
        timings = data.get("allowed_timings") or []
        if len(timings) > 1:  # the merchant lets the customer choose: now or at period end
            reply = await self.call(
                f"{SUBSCRIPTIONS}.choose_timing", {"timing": random.choice(timings)}, path
            )
            if reply.timed_out or reply.toasts:
                return classify(reply)
            if reply.delta(SUBSCRIPTIONS).get("preview_error"):
                return "refused", reply.delta(SUBSCRIPTIONS)["preview_error"]
        reply = await self.call(f"{SUBSCRIPTIONS}.confirm_change", None, path)
        outcome, text = classify(reply, (CHANGED_NOW, SCHEDULED))
        error = reply.delta(SUBSCRIPTIONS).get("preview_error")
        if outcome == "refused" and error:
            text = error
        if outcome == "ok":
            self.tally.told["changed_now" if text == CHANGED_NOW else "scheduled"] += 1
        if "items" in reply.delta(SUBSCRIPTIONS):
            self.subscriptions = reply.delta(SUBSCRIPTIONS)["items"]
        else:
            await self.view_subscriptions()
        return outcome, text

    async def pause_resume(self):
        if not self.subscriptions:
            return None  # not possible now: the loop shows a page instead
        sub = random.choice(self.subscriptions)
        path = "/subscriptions"
        if sub.get("status") == "paused":
            reply = await self.call(f"{SUBSCRIPTIONS}.resume", {"subscription_id": sub["id"]}, path)
            outcome, text = classify(reply)
            if outcome == "ok":
                self.tally.told["resumed"] += 1
        else:
            resume_on = (datetime.now(UTC) + timedelta(days=random.randint(7, 60))).date()
            form = {"subscription_id": sub["id"], "resume_on": resume_on.isoformat()}
            reply = await self.call(f"{SUBSCRIPTIONS}.pause", {"form_data": form}, path)
            outcome, text = classify(reply)
            error = reply.delta(SUBSCRIPTIONS).get("pause_error")
            if error:
                outcome, text = ("refused", error) if outcome != "error" else (outcome, text)
            if outcome == "ok":
                self.tally.told["paused"] += 1
        data = reply.delta(SUBSCRIPTIONS)
        if "items" in data:
            self.subscriptions = data["items"]
        return outcome, text

    async def undo_change(self):
        sub = next((s for s in self.subscriptions if s.get("pending")), None)
        if sub is None:
            return None  # not possible now: the loop shows a page instead
        reply = await self.call(
            f"{SUBSCRIPTIONS}.undo_scheduled_change",
            {"subscription_id": sub["id"]},
            "/subscriptions",
        )
        outcome, text = classify(reply)
        if outcome == "ok":
            self.tally.told["unscheduled"] += 1
        if "items" in reply.delta(SUBSCRIPTIONS):
            self.subscriptions = reply.delta(SUBSCRIPTIONS)["items"]
        return outcome, text

    async def add_card(self):
        number = REFUSED_NEW_CARD if random.random() < 0.2 else random.choice(GOOD_NEW_CARDS)
        form = {"number": number, "expiry": "12/34", "cvc": "123", "make_default": False}
        reply = await self.call(f"{CARDS}.add_card", {"form_data": form}, "/payment-methods/new")
        outcome, text = classify(reply, ("Card added.",))
        error = reply.delta(CARDS).get("add_error")
        if error and outcome != "error":
            outcome, text = "refused", error
        if outcome == "ok":
            self.tally.told["card_added"] += 1
        if "cards" in reply.delta(CARDS):
            self.cards = reply.delta(CARDS)["cards"]
        return outcome, text

    async def set_default_card(self):
        others = [c for c in self.cards if not c.get("default")]
        if not others:
            return None  # not possible now: the loop shows a page instead
        card = random.choice(others)
        reply = await self.call(
            f"{CARDS}.make_default", {"payment_method_id": card["id"]}, "/payment-methods"
        )
        outcome, text = classify(reply, ("Default card updated.",))
        if outcome == "ok":
            self.tally.told["default_set"] += 1
        if "cards" in reply.delta(CARDS):
            self.cards = reply.delta(CARDS)["cards"]
        return outcome, text


async def drive(
    server: PortalServer, customers: list[BenchCustomer], keys: list[str], args
) -> Tally:
    import aiohttp

    tally = Tally()
    budget = Budget(args.duration, args.max_actions)
    per_key = max(1, -(-len(customers) // len(keys)))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        sims = [
            SimulatedCustomer(c, server.base_url, keys[i // per_key], tally, args)
            for i, c in enumerate(customers)
        ]
        await asyncio.gather(*(s.run(budget, http) for s in sims))
    return tally


# --- the consistency check ------------------------------------------------------------------------


def read_engine(db_url: str):
    """An engine for reading only (SQLite: deferred BEGIN, so no write lock is taken)."""
    from portal_app.db import make_engine

    return make_engine(db_url).execution_options(sqlite_begin="DEFERRED")


def snapshot(engine, customer_ids: list[int]) -> dict:
    import sqlalchemy as sa

    with engine.connect() as conn:

        def top(table: str) -> int:
            return conn.execute(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar()

        found = {t: top(t) for t in ("payment", "auditevent", "paymentmethod", "invoice")}
        rows = conn.execute(
            sa.text("SELECT id, credit_balance FROM customer WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": customer_ids},
        )
        found["credit"] = dict(rows.all())
    return found


CHECKS_SQL = {
    "succeeded payment on an invoice that is not paid, another customer's, or another amount": """
        SELECT COUNT(*) FROM payment p JOIN invoice i ON i.id = p.invoice_id
        WHERE p.status = 'succeeded'
          AND (i.status <> 'paid' OR i.customer_id <> p.customer_id
               OR i.merchant_id <> p.merchant_id OR p.amount <> i.amount_paid)""",
    "paid invoice with money paid but not exactly one succeeded payment": """
        SELECT COUNT(*) FROM invoice i
        WHERE i.status = 'paid' AND i.amount_paid > 0
          AND (SELECT COUNT(*) FROM payment p
               WHERE p.invoice_id = i.id AND p.status = 'succeeded') <> 1""",
    "succeeded payment without exactly one receipt of its amount": """
        SELECT COUNT(*) FROM payment p
        WHERE p.status = 'succeeded'
          AND (SELECT COUNT(*) FROM receipt r
               WHERE r.payment_id = p.id AND r.amount = p.amount
                 AND r.invoice_id = p.invoice_id) <> 1""",
    "receipt for a failed payment": """
        SELECT COUNT(*) FROM receipt r JOIN payment p ON p.id = r.payment_id
        WHERE p.status <> 'succeeded'""",
    "succeeded payment without its succeeded gateway charge": """
        SELECT COUNT(*) FROM payment p
        WHERE p.status = 'succeeded'
          AND NOT EXISTS (SELECT 1 FROM sandboxcharge c WHERE c.id = p.gateway_charge_id
                          AND c.status = 'succeeded' AND c.amount = p.amount)""",
    "succeeded gateway charges that are not exactly the succeeded payments": """
        SELECT ABS((SELECT COUNT(*) FROM sandboxcharge WHERE status = 'succeeded')
                 - (SELECT COUNT(*) FROM payment WHERE status = 'succeeded'))""",
    "invoice whose total is not the sum of its lines": """
        SELECT COUNT(*) FROM invoice i
        WHERE i.total <> COALESCE((SELECT SUM(l.amount) FROM invoiceline l
                                   WHERE l.invoice_id = i.id), 0)""",
    "invoice whose amount paid does not fit its status": """
        SELECT COUNT(*) FROM invoice i
        WHERE (i.status = 'paid' AND i.amount_paid <> i.total)
           OR (i.status IN ('open', 'draft', 'void') AND i.amount_paid <> 0)
           OR i.amount_paid < 0""",
    "customer with a negative credit balance": """
        SELECT COUNT(*) FROM customer WHERE credit_balance < 0""",
}


def numbering_problems(conn, table: str, counter_column: str) -> list[str]:
    import sqlalchemy as sa

    where = "WHERE number IS NOT NULL" if table == "invoice" else ""
    problems = []
    rows = conn.execute(
        sa.text(
            f"SELECT merchant_id, COUNT(*), COUNT(DISTINCT number), MIN(number), MAX(number) "
            f"FROM {table} {where} GROUP BY merchant_id"
        )
    ).all()
    counters = dict(
        conn.execute(sa.text(f"SELECT merchant_id, {counter_column} FROM invoicecounter")).all()
    )
    for merchant_id, count, distinct, low, high in rows:
        if not (count == distinct == high and low == 1 and counters.get(merchant_id) == high):
            problems.append(
                f"merchant {merchant_id}: {count} numbers, {distinct} distinct, "
                f"{low}..{high}, counter {counters.get(merchant_id)}"
            )
    return problems


def run_checks(
    db_url: str, before: dict, tally: Tally, customer_ids: list[int]
) -> list[tuple[str, bool, str]]:
    import sqlalchemy as sa
    from sqlmodel import Session, select

    from portal_app.models import AuditEvent, Merchant
    from portal_app.services import audit

    engine = read_engine(db_url)
    results: list[tuple[str, bool, str]] = []
    with engine.connect() as conn:
        for label, sql in CHECKS_SQL.items():
            bad = conn.execute(sa.text(sql)).scalar()
            results.append((f"no {label}", bad == 0, f"{bad} found"))
        for table, column in (
            ("invoice", "last_invoice_number"),
            ("receipt", "last_receipt_number"),
        ):
            problems = numbering_problems(conn, table, column)
            total = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar()
            results.append(
                (
                    f"{table} numbers gapless per merchant and equal to the counter",
                    not problems,
                    "; ".join(problems) or f"{total} {table}s",
                )
            )

        def count(sql: str, **params) -> int:
            return conn.execute(sa.text(sql), params).scalar()

        pay_base = before["payment"]
        manual = """SELECT COUNT(*) FROM payment p JOIN invoice i ON i.id = p.invoice_id
                    WHERE p.id > :after AND i.billing_reason = 'manual' AND p.status = :status"""
        compare = [
            (
                "payments received",
                tally.told["paid"],
                count(manual, after=pay_base, status="succeeded"),
            ),
            (
                "declined payment attempts",
                tally.told["declined"],
                count(manual, after=pay_base, status="failed"),
            ),
        ]
        audit_base = before["auditevent"]
        actions = {
            "plan changes now": "('subscription.upgrade', 'subscription.downgrade', "
            "'subscription.interval')",
            "plan changes scheduled": "('subscription.change_scheduled')",
            "scheduled changes undone": "('subscription.change_unscheduled')",
            "pauses": "('subscription.pause')",
            "resumes": "('subscription.resume')",
            "cards added": "('payment_method.add')",
            "default cards set": "('payment_method.set_default')",
        }
        told_key = {
            "plan changes now": "changed_now",
            "plan changes scheduled": "scheduled",
            "scheduled changes undone": "unscheduled",
            "pauses": "paused",
            "resumes": "resumed",
            "cards added": "card_added",
            "default cards set": "default_set",
        }
        for label, names in actions.items():
            in_db = count(
                f"SELECT COUNT(*) FROM auditevent WHERE id > :after AND action IN {names}",
                after=audit_base,
            )
            compare.append((label, tally.told[told_key[label]], in_db))
        compare.append(
            (
                "new card rows",
                tally.told["card_added"],
                count(
                    "SELECT COUNT(*) FROM paymentmethod WHERE id > :a", a=before["paymentmethod"]
                ),
            )
        )
        for label, told, in_db in compare:
            results.append(
                (
                    f"{label}: clients told = rows written",
                    told == in_db,
                    f"clients {told}, database {in_db}",
                )
            )
        twice = sorted(i for i, n in tally.paid_per_invoice.items() if n > 1)
        results.append(
            (
                "no invoice reported paid twice to the clients",
                not twice,
                f"{len(tally.paid_per_invoice)} invoices paid, "
                f"{tally.told['double_pay_attempts']} two-tab attempts"
                + (f", paid twice: {twice[:10]}" if twice else ""),
            )
        )
    with Session(engine) as session:
        # credit: balance now - before == credit granted - credit spent, in this run
        granted: Counter = Counter()
        for event in session.exec(select(AuditEvent).where(AuditEvent.id > audit_base)):
            credited = (
                (event.after or {}).get("credited") if isinstance(event.after, dict) else None
            )
            if credited and event.customer_id is not None:
                granted[event.customer_id] += int(credited)
        spent = Counter(
            dict(
                session.execute(
                    sa.text(
                        "SELECT i.customer_id, -SUM(l.amount) FROM invoiceline l "
                        "JOIN invoice i ON i.id = l.invoice_id "
                        "WHERE l.kind = 'credit' AND i.id > :after GROUP BY i.customer_id"
                    ),
                    {"after": before["invoice"]},
                ).all()
            )
        )
        now_balances = snapshot(engine, customer_ids)["credit"]
        off = [
            cid
            for cid in customer_ids
            if now_balances[cid] - before["credit"][cid] != granted[cid] - spent[cid]
        ]
        results.append(
            (
                "credit balances moved by exactly credit granted - credit spent",
                not off,
                f"{sum(granted.values())} granted, {sum(spent.values())} spent"
                + (f"; off for customers {off[:10]}" if off else ""),
            )
        )
        for merchant_id in session.exec(select(Merchant.id)):
            report = audit.verify_chain(session, merchant_id)
            results.append(
                (
                    f"audit chain of merchant {merchant_id} verifies",
                    report.ok,
                    f"{report.checked} events" + ("" if report.ok else f": {report.problem}"),
                )
            )
    engine.dispose()
    return results


def tamper(db_url: str) -> None:
    """--tamper: break the data the way the checks look for (a doubled payment, a gap in the
    invoice numbers, a credit balance off by one cent, an edited audit event), to show that
    they fail when they should."""
    import sqlalchemy as sa

    from portal_app.db import make_engine

    engine = make_engine(db_url)
    postgres = engine.dialect.name == "postgresql"
    statements = [
        "INSERT INTO payment (merchant_id, customer_id, invoice_id, payment_method_id, amount, "
        "currency, status, gateway_charge_id, idempotency_key, created_at) "
        "SELECT merchant_id, customer_id, invoice_id, payment_method_id, amount, currency, "
        "status, gateway_charge_id, idempotency_key || '-tampered', created_at FROM payment "
        "WHERE id = (SELECT MAX(id) FROM payment WHERE status = 'succeeded')",
        "UPDATE invoicecounter SET last_invoice_number = last_invoice_number + 1",
        "UPDATE customer SET credit_balance = credit_balance + 1 "
        "WHERE id = (SELECT MAX(id) FROM customer)",
        "ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only"
        if postgres
        else "DROP TRIGGER auditevent_no_update",
        "UPDATE auditevent SET target_id = target_id || '-tampered' "
        "WHERE id = (SELECT MAX(id) FROM auditevent)",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


# --- main --------------------------------------------------------------------------------------


def print_tally(tally: Tally, seconds: float) -> None:
    actions = sorted({a for a, _ in tally.outcomes})
    print(
        f"\n{'action':<20} {'total':>6} {'ok':>6} {'refused':>8} {'errors':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8}"
    )
    for action in actions:
        ok, refused, errors = (tally.outcomes[(action, k)] for k in ("ok", "refused", "error"))
        times = sorted(tally.latencies[action])
        print(
            f"{action:<20} {ok + refused + errors:>6} {ok:>6} {refused:>8} {errors:>7} "
            f"{percentile(times, 50) * 1000:>8.1f} {percentile(times, 95) * 1000:>8.1f}"
        )
    total = sum(tally.outcomes.values())
    errors = sum(n for (_, k), n in tally.outcomes.items() if k == "error")
    print(
        f"{'all':<20} {total:>6}   ({tally.actions} actions after sign-in in {seconds:.0f} s, "
        f"{tally.actions / seconds:.1f}/s; {errors} errors)"
    )
    print("told by the server: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.told.items())))
    for sample, n in tally.error_samples.most_common(10):
        print(f"  error x{n}: {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--duration", type=float, default=60, help="seconds of actions")
    parser.add_argument("--max-actions", type=int, default=50000, help="cap on all actions")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between actions")
    parser.add_argument("--timeout", type=float, default=30, help="seconds before an error")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--open-invoices", type=int, default=3, help="per customer")
    parser.add_argument(
        "--db", default="postgres", help="postgres (scratch, default) | sqlite | URL"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed for the action mix")
    parser.add_argument(
        "--tamper",
        action="store_true",
        help="corrupt the data after the run (see tamper()): the checks must then FAIL",
    )
    args = parser.parse_args()
    if args.seed is not None:
        random.seed(args.seed)
    check_state_names()
    print("load_run: simulated customers over socket.io, then a consistency check")
    print(
        f"config: {args.customers} customers, {args.duration:g} s, at most {args.max_actions} "
        f"actions, think {args.think:g} s, {args.workers} worker(s), db {args.db}, "
        f"{args.open_invoices} open invoices each, timeout {args.timeout:g} s"
    )
    print(f"machine: {machine_note()}")
    failed = False
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(scratch_database(args.db))
        redis_url = stack.enter_context(scratch_redis()) if args.workers > 1 else None
        server = PortalServer(db_url, host="127.0.0.1")
        t0 = time.perf_counter()
        server.prepare()
        customers = add_bench_customers(
            db_url, args.customers, open_invoices=args.open_invoices, declining_every=10
        )
        # pausing on; downgrades now or at period end as the customer chooses (a downgrade now
        # gives account credit, which the next upgrade spends: the credit check has work to do)
        save_settings(
            db_url,
            {"subscriptions.pause": True, "plan_change.downgrade_timing": "customer_choice"},
        )
        ids = [c.id for c in customers]
        engine = read_engine(db_url)
        before = snapshot(engine, ids)
        engine.dispose()
        stack.callback(server.close)
        server.start(args.workers, redis_url)
        keys = server.api_keys(len(customers))
        print(
            f"set-up: {time.perf_counter() - t0:.1f} s; database {describe_url(db_url)}; "
            f"redis {redis_url or 'not used'}; server {server.base_url} (127.0.0.1 only); "
            f"log {server.log_path}",
            flush=True,
        )
        t0 = time.perf_counter()
        tally = asyncio.run(drive(server, customers, keys, args))
        seconds = time.perf_counter() - t0
        server.stop()
        print_tally(tally, seconds)
        if args.tamper:
            tamper(db_url)
            print(
                "\n--tamper: doubled a payment, skipped an invoice number, moved a credit "
                "balance, edited an audit event; the matching checks must FAIL"
            )
        print("\nconsistency checks:")
        for label, ok, detail in run_checks(db_url, before, tally, ids):
            failed |= not ok
            print(f"  {'PASS' if ok else 'FAIL'}  {label} ({detail})")
        errors = sum(n for (_, k), n in tally.outcomes.items() if k == "error")
        if errors:
            failed = True
            print(f"  FAIL  {errors} actions ended in an error (see above)")
    print("\nresult: " + ("FAILED" if failed else "all checks passed"))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
