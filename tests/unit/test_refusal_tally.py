"""Refused requests are counted per (merchant, action, rule, key, minute), not chained one audit
event each: a flood of them costs a few rows, and the counts still add up."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from portal_app import db
from portal_app.clock import FixedClock, SystemClock
from portal_app.http.routes import build_http_app
from portal_app.models import AuditEvent, RefusalTally
from portal_app.services import auth, ratelimit, refusals
from tests import factories

CLOCK = SystemClock()
ORIGIN = "http://localhost:3000"


@pytest.fixture
def site(site_shop):
    return site_shop


async def _post_guesses(count: int, token: str = "") -> set[int]:
    """POST wrong tokens to /auth/verify from one address, in-process (ASGI, one event loop)."""
    transport = httpx.ASGITransport(app=build_http_app(), client=("203.0.113.7", 50000))
    statuses = set()
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        for n in range(count):
            response = await client.post(
                "/auth/verify", data={"token": token or f"guess-{n}"}, headers={"Origin": ORIGIN}
            )
            statuses.add(response.status_code)
    return statuses


def _count(engine, model) -> int:
    with Session(engine) as session:
        return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def _tallies(engine) -> list[RefusalTally]:
    with Session(engine) as session:
        return list(session.exec(select(RefusalTally)))


def test_ten_thousand_refused_redemptions_write_a_few_rows(site):
    engine = site["engine"]
    events_before = _count(engine, AuditEvent)
    statuses = asyncio.run(_post_guesses(10_000))
    assert statuses == {400, 429}  # 30 bad links, then the per-IP limit (R2.3)
    new_events = _count(engine, AuditEvent) - events_before
    tallies = _tallies(engine)
    assert new_events + len(tallies) <= 36  # a few per minute the run spans, not 10,000
    assert new_events + sum(t.count for t in tallies) == 10_000
    counted = {}
    for tally in tallies:
        counted[(tally.action, tally.rule)] = (
            counted.get((tally.action, tally.rule), 0) + tally.count
        )
    assert counted == {
        ("auth.link_rejected", "bad_token"): 30,
        ("auth.throttled", "redeem:redeem_ip"): 9_970,
    }
    # the key is a keyed hash and a masked network; no guessed token is stored anywhere
    assert {t.key_hint for t in tallies} == {"203.0.113.0/24"}
    assert {t.key_hash for t in tallies} == {auth.keyed_hash("ip:203.0.113.7")}
    # a real link still signs in once the limit lets the address through (a success is chained)
    ratelimit.get_limiter().reset()
    with Session(engine) as session:
        token = factories.login_link(session, CLOCK, site["merchant"].id, "zoe@example.com")
        session.commit()
    assert asyncio.run(_post_guesses(1, token=token)) == {303}
    with Session(engine) as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert actions.count("auth.sign_in") == 1 and "auth.link_rejected" not in actions


def test_one_row_per_key_and_minute(site):
    engine, merchant_id = site["engine"], site["merchant"].id
    first = FixedClock(CLOCK.now().replace(second=5, microsecond=0))
    later = FixedClock(first.now().replace(second=55))
    next_minute = FixedClock(first.now() + timedelta(minutes=1))
    with db.session_scope() as session:
        for clock, ip in ((first, "203.0.113.7"), (later, "203.0.113.7"), (later, "198.51.100.9")):
            refusals.record(
                session,
                clock,
                merchant_id=merchant_id,
                action=refusals.THROTTLED,
                rule="redeem:redeem_ip",
                ip=ip,
            )
        refusals.record(
            session,
            next_minute,
            merchant_id=merchant_id,
            action=refusals.THROTTLED,
            rule="redeem:redeem_ip",
            ip="203.0.113.7",
        )
    rows = sorted(_tallies(engine), key=lambda t: (t.minute, t.key_hint))
    assert [(t.key_hint, t.count) for t in rows] == [
        ("198.51.100.0/24", 1),
        ("203.0.113.0/24", 2),
        ("203.0.113.0/24", 1),
    ]
    assert rows[1].first_seen == first.now() and rows[1].last_seen == later.now()
    with db.read_scope() as session:
        shown = refusals.recent(session, later, merchant_id)
        assert refusals.total(session, merchant_id, refusals.THROTTLED) == 4
    assert [t.count for t in shown][:1] == [1] and sum(t.count for t in shown) == 4


def test_a_denied_forged_event_is_tallied_not_chained(app_db):
    from portal_app.state import PortalState
    from tests.statekit import call, root_with, run

    engine = app_db["engine"]
    events_before = _count(engine, AuditEvent)

    async def scenario():
        root = root_with(app_db["sessions"]["alice@example.com"])
        return [
            await call(root, PortalState, "pay_invoice", app_db["bob_invoice"].id)
            for _ in range(25)
        ]

    answers = run(scenario())
    assert all("Invoice not found" in str(answer) for answer in answers)
    with Session(engine) as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.action == "authz.denied")).all()
    assert denied == []
    tallies = _tallies(engine)  # one row, or two if the calls straddled a minute
    assert len(tallies) <= 2 and sum(t.count for t in tallies) == 25
    alice = app_db["alice"].id
    assert {(t.action, t.rule, t.key_hint, t.key_hash) for t in tallies} == {
        (
            "authz.denied",
            "not_found:pay_invoice",
            f"customer:{alice} 198.51.100.0/24",
            auth.keyed_hash(f"principal:customer:{alice}|ip:198.51.100.7"),
        )
    }
    # the first denial's safe arguments are kept as the row's sample: which id was probed
    assert {str(t.sample) for t in tallies} == {str({"arguments": {"0": app_db["bob_invoice"].id}})}
    # the session checks of those calls may touch the session row, but write no audit event
    assert _count(engine, AuditEvent) == events_before


def test_the_audit_page_shows_the_counted_refusals(app_db):
    from portal_app.state import PortalState
    from portal_app.state.merchant_audit import MerchantAuditState
    from tests.statekit import call, root_with, run

    async def scenario():
        customer = root_with(app_db["sessions"]["alice@example.com"])
        for _ in range(3):
            await call(customer, PortalState, "pay_invoice", app_db["bob_invoice"].id)
        staff = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(staff, MerchantAuditState, "load")
        return (await staff.get_state(MerchantAuditState)).refused

    refused = run(scenario())
    shown = [r for r in refused if r["rule"] == "not_found:pay_invoice"]
    assert sum(int(r["count"]) for r in shown) == 3
    assert all(r["action"] == "authz.denied" and r["key"].startswith("customer:") for r in shown)
