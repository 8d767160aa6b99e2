"""Issue #11 races on real separate connections (SQLite and, with PORTAL_TEST_DB_URL, PostgreSQL):
one license key per (asset, customer) held by the database, so twenty first reveals at once give
one key; and a download limit that holds under twenty parallel `GET /files/<token>`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from portal_app import db
from portal_app.clock import SystemClock
from portal_app.db import make_engine, session_scope
from portal_app.http.routes import build_http_app
from portal_app.models import (
    AssetGrant,
    AuditEvent,
    DigitalAsset,
    DownloadCount,
    DownloadEvent,
    LicenseKey,
)
from portal_app.services import audit, digital, magic_links, ratelimit
from portal_app.services.errors import PortalError
from tests import factories

ORIGIN = "http://localhost:3000"
RACERS = 20


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _count(engine: sa.Engine, model, *where) -> int:
    with Session(engine) as check:
        return check.exec(select(func.count()).select_from(model).where(*where)).one()


def _together(engine: sa.Engine, works: list) -> list:
    """Run each work(session) in its own thread, with its own engine and `session_scope` (its own
    connection and transaction), all released at once by a barrier. One outcome per work: its
    return value or the exception it raised."""
    barrier = threading.Barrier(len(works))
    outcomes: list = [None] * len(works)

    def run(index, work):
        own = make_engine(_url(engine))
        try:
            barrier.wait(60)
            with session_scope(own) as session:
                outcomes[index] = work(session)
        except Exception as exc:  # collected and asserted on by the caller
            outcomes[index] = exc
        finally:
            own.dispose()

    factories.run_threads(run, works)
    return outcomes


def _asset(session, clock, catalog, kind: str, **values) -> DigitalAsset:
    asset = DigitalAsset(
        merchant_id=catalog.merchant.id,
        kind=kind,
        name=f"The {kind}",
        created_at=clock.now(),
        **values,
    )
    session.add(asset)
    session.flush()
    session.add(AssetGrant(asset_id=asset.id, plan_id=catalog.plans["Pro"].id))
    session.flush()
    return asset


def _entitled(session, clock, catalog, email: str):
    customer = factories.make_customer(session, clock, catalog.merchant, email)
    factories.make_subscription_row(session, clock, customer, catalog.monthly["Pro"])
    return customer


def _pool(session, asset, size: int) -> None:
    session.add_all(LicenseKey(asset_id=asset.id, key=f"KEY-{n:04d}") for n in range(size))
    session.flush()


# --- license keys -------------------------------------------------------------------------------


def test_the_database_refuses_a_second_key_for_the_same_customer(
    engine, session, clock, catalog, customer
):
    asset = _asset(session, clock, catalog, "license")
    _pool(session, asset, 2)
    first, second = session.exec(select(LicenseKey).order_by(LicenseKey.id)).all()
    session.commit()
    assign = sa.update(LicenseKey).values(customer_id=customer.id, assigned_at=clock.now())
    with pytest.raises(sa.exc.IntegrityError), session_scope(engine) as s:
        s.execute(assign.where(LicenseKey.id == first.id))
        s.execute(assign.where(LicenseKey.id == second.id))
    # one key each for two customers is fine, and so are many free keys (NULLs never collide)
    other = _entitled(session, clock, catalog, "other@example.com")
    session.commit()
    with session_scope(engine) as s:
        s.execute(assign.where(LicenseKey.id == first.id))
        s.execute(
            sa.update(LicenseKey).where(LicenseKey.id == second.id).values(customer_id=other.id)
        )


def test_twenty_concurrent_first_reveals_give_one_key(engine, session, clock, catalog, customer):
    factories.make_subscription_row(session, clock, customer, catalog.monthly["Pro"])
    asset = _asset(session, clock, catalog, "license")
    _pool(session, asset, 25)
    session.commit()

    def reveal(s):
        return digital.reveal_license_key(
            s,
            clock,
            customer_id=customer.id,
            asset_id=asset.id,
            actor=audit.Actor.customer(customer.id),
        )

    outcomes = _together(engine, [reveal] * RACERS)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert len(set(outcomes)) == 1, outcomes  # every loser got the winner's key
    with Session(engine) as check:
        assigned = check.exec(select(LicenseKey).where(LicenseKey.customer_id == customer.id)).all()
        assert [k.key for k in assigned] == [outcomes[0]]
        events = check.exec(
            select(func.count()).where(AuditEvent.action == "license_key.assign")
        ).one()
        assert events == 1
        assert audit.verify_chain(check, catalog.merchant.id).ok
    # and the next view is the same key
    with session_scope(engine) as s:
        assert reveal(s) == outcomes[0]


def test_concurrent_reveals_of_several_customers_from_a_small_pool(engine, session, clock, catalog):
    """Five customers, four tabs each, a pool of exactly five keys: on PostgreSQL most reveals
    find every free key locked by another one (SKIP LOCKED) and must wait, not give up."""
    customers = [_entitled(session, clock, catalog, f"c{n}@example.com") for n in range(5)]
    asset = _asset(session, clock, catalog, "license")
    _pool(session, asset, 5)
    session.commit()

    def reveal_for(customer_id):
        return lambda s: digital.reveal_license_key(
            s,
            clock,
            customer_id=customer_id,
            asset_id=asset.id,
            actor=audit.Actor.customer(customer_id),
        )

    works = [reveal_for(c.id) for c in customers for _ in range(4)]
    outcomes = _together(engine, works)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    per_customer = {c.id: {outcomes[4 * n + k] for k in range(4)} for n, c in enumerate(customers)}
    assert all(len(keys) == 1 for keys in per_customer.values()), per_customer
    assert len({next(iter(keys)) for keys in per_customer.values()}) == 5  # all different
    with Session(engine) as check:
        rows = check.exec(select(LicenseKey.customer_id, LicenseKey.key)).all()
        assert {cid: {key} for cid, key in rows} == per_customer


def test_a_losing_assignment_returns_the_winners_key(
    engine, session, clock, catalog, customer, monkeypatch
):
    """The loser's path, step by step: between its look-up (no key yet) and its UPDATE the
    customer gets another key (here on the same connection: SQLite lets only one writer in, so
    the other transaction cannot be run in between); the UPDATE breaks the unique constraint, its
    savepoint is rolled back, the winner's key comes back, and no assignment is audited."""
    factories.make_subscription_row(session, clock, customer, catalog.monthly["Pro"])
    asset = _asset(session, clock, catalog, "license")
    _pool(session, asset, 3)
    winner_id, loser_pick = session.exec(
        select(LicenseKey.id).where(LicenseKey.asset_id == asset.id).order_by(LicenseKey.id)
    ).all()[:2]
    session.commit()
    real = digital._free_key_id
    calls = []

    def racing_free_key(s, asset_id):
        calls.append(asset_id)
        if len(calls) == 1:  # the winner's assignment lands right now
            s.execute(
                sa.update(LicenseKey)
                .where(LicenseKey.id == winner_id)
                .values(customer_id=customer.id, assigned_at=clock.now())
            )
            return loser_pick
        return real(s, asset_id)

    monkeypatch.setattr(digital, "_free_key_id", racing_free_key)
    with session_scope(engine) as s:
        key = digital.reveal_license_key(
            s, clock, customer_id=customer.id, asset_id=asset.id, actor=audit.SYSTEM
        )
    assert len(calls) == 1  # the second pass found the winner's key before looking for a free one
    with Session(engine) as check:
        assert key == check.get(LicenseKey, winner_id).key
        assert check.get(LicenseKey, loser_pick).customer_id is None  # still in the pool
        assigned = check.exec(
            select(func.count()).where(AuditEvent.action == "license_key.assign")
        ).one()
        assert assigned == 0


def test_the_pools_last_key_taken_by_another_tab_is_the_customers_own(
    engine, session, clock, catalog, customer, monkeypatch
):
    """Between the look-up (no key yet) and the search for a free key, another tab of the same
    customer commits the pool's last key to them: that key comes back, not "No license keys
    are left" (seen under load with four tabs per customer and a pool of exactly one each)."""
    factories.make_subscription_row(session, clock, customer, catalog.monthly["Pro"])
    asset = _asset(session, clock, catalog, "license")
    _pool(session, asset, 1)
    (last,) = session.exec(select(LicenseKey.id).where(LicenseKey.asset_id == asset.id)).all()
    session.commit()
    real = digital._free_key_id

    def other_tab_wins(s, asset_id):
        s.execute(
            sa.update(LicenseKey)
            .where(LicenseKey.id == last)
            .values(customer_id=customer.id, assigned_at=clock.now())
        )
        return real(s, asset_id)

    monkeypatch.setattr(digital, "_free_key_id", other_tab_wins)
    with session_scope(engine) as s:
        key = digital.reveal_license_key(
            s, clock, customer_id=customer.id, asset_id=asset.id, actor=audit.SYSTEM
        )
    with Session(engine) as check:
        assert key == check.get(LicenseKey, last).key


def test_an_empty_pool_says_so(engine, session, clock, catalog, customer):
    factories.make_subscription_row(session, clock, customer, catalog.monthly["Pro"])
    asset = _asset(session, clock, catalog, "license")
    session.commit()
    with pytest.raises(PortalError, match="No license keys are left"):
        digital.reveal_license_key(
            session, clock, customer_id=customer.id, asset_id=asset.id, actor=audit.SYSTEM
        )


# --- download limits ----------------------------------------------------------------------------


@pytest.fixture
def site(engine, tmp_path, monkeypatch):
    """The Starlette routes in-process on the test database (PostgreSQL too, when set)."""
    monkeypatch.setenv("PORTAL_DB_URL", _url(engine))
    monkeypatch.setenv("PORTAL_PUBLIC_URL", ORIGIN)
    monkeypatch.setenv("PORTAL_FILES_DIR", str(tmp_path / "files"))
    db.get_engine.cache_clear()
    ratelimit.reset_singletons()
    yield build_http_app()
    db.get_engine.cache_clear()
    ratelimit.reset_singletons()


def _signed_in(session, clock, customer) -> str:
    token = magic_links.request_login_link(
        session,
        clock,
        merchant_id=customer.merchant_id,
        email=customer.email,
        return_to="/downloads",
        actor=audit.SYSTEM,
    )
    return magic_links.redeem_login_token(
        session, clock, token=token, merchant_id=customer.merchant_id, actor=audit.SYSTEM
    ).session_id


def _file_asset(session, clock, catalog, limit):
    relative = f"{catalog.merchant.id}/tool.bin"
    path = Path(digital.files_root()) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"payload")
    return _asset(
        session, clock, catalog, "file", file_path=relative, file_size=7, download_limit=limit
    )


def test_twenty_parallel_downloads_serve_exactly_the_limit(site, engine, session, catalog):
    clock = SystemClock()  # the route checks link expiry and sessions against the real time
    customer = _entitled(session, clock, catalog, "zoe@example.com")
    asset = _file_asset(session, clock, catalog, limit=5)
    sid = _signed_in(session, clock, customer)
    session.commit()
    link, _ = digital.download_link(session, clock, customer_id=customer.id, asset_id=asset.id)
    session.commit()
    barrier = threading.Barrier(RACERS)
    answers: list = [None] * RACERS

    def fetch(index):
        with TestClient(site, base_url=ORIGIN, cookies={"portal_sid": sid}) as client:
            barrier.wait(60)
            answers[index] = client.get(link, follow_redirects=False)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"

    served = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(served) == 5, sorted(a.status_code for a in answers)
    assert all(a.content == b"payload" for a in served)
    assert len(refused) == RACERS - 5
    for answer in refused:
        assert answer.status_code == 410
        assert "You have used all 5 downloads of this file" in answer.text
    assert _count(engine, DownloadEvent, DownloadEvent.asset_id == asset.id) == 5
    assert _count(engine, AuditEvent, AuditEvent.action == "download") == 5
    with Session(engine) as check:
        assert check.get(DownloadCount, (asset.id, customer.id)).downloads == 5
    # a new link is refused up front too
    with pytest.raises(PortalError, match="used all 5 downloads"):
        digital.download_link(session, clock, customer_id=customer.id, asset_id=asset.id)


def test_twenty_parallel_downloads_without_a_limit_are_all_served_and_counted(
    engine, session, clock, catalog, tmp_path, monkeypatch
):
    monkeypatch.setenv("PORTAL_FILES_DIR", str(tmp_path / "files"))
    customer = _entitled(session, clock, catalog, "zoe@example.com")
    asset = _file_asset(session, clock, catalog, limit=None)
    session.commit()
    link, _ = digital.download_link(session, clock, customer_id=customer.id, asset_id=asset.id)
    session.commit()

    def download(s):
        actor = audit.Actor.customer(customer.id)
        return digital.open_download(s, clock, token=link.rsplit("/", 1)[1], actor=actor).size

    outcomes = _together(engine, [download] * RACERS)
    assert outcomes == [7] * RACERS
    with Session(engine) as check:
        # counted even without a limit, so a limit set later starts from the truth
        assert check.get(DownloadCount, (asset.id, customer.id)).downloads == RACERS


def test_the_counter_starts_from_the_history(
    engine, session, clock, catalog, tmp_path, monkeypatch
):
    """Downloads recorded before the counter existed count against the limit."""
    monkeypatch.setenv("PORTAL_FILES_DIR", str(tmp_path / "files"))
    customer = _entitled(session, clock, catalog, "zoe@example.com")
    asset = _file_asset(session, clock, catalog, limit=4)
    session.add_all(
        DownloadEvent(
            merchant_id=catalog.merchant.id,
            customer_id=customer.id,
            asset_id=asset.id,
            created_at=clock.now(),
        )
        for _ in range(3)
    )
    session.commit()
    link, _ = digital.download_link(session, clock, customer_id=customer.id, asset_id=asset.id)
    token = link.rsplit("/", 1)[1]
    session.commit()
    actor = audit.Actor.customer(customer.id)
    with session_scope(engine) as s:
        digital.open_download(s, clock, token=token, actor=actor)
    with pytest.raises(PortalError, match="used all 4 downloads"), session_scope(engine) as s:
        digital.open_download(s, clock, token=token, actor=actor)
    assert _count(engine, DownloadEvent) == 4
    with Session(engine) as check:
        assert check.get(DownloadCount, (asset.id, customer.id)).downloads == 4
