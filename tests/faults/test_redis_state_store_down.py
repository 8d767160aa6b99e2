"""Redis dies under Reflex itself: with several workers it holds every tab's state, so no event
can run while it is away. The production server (2 workers) keeps its socket open and answers an
event with "briefly unavailable, nothing was changed" instead of Reflex's "Contact the website
administrator"; the database is untouched (an open invoice stays open and unpaid); and once Redis
is back (empty: no persistence, every tab's state is gone) the same tab pays the invoice once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlmodel import Session, create_engine, func, select

from portal_app.db import UNAVAILABLE
from portal_app.models import Invoice, Payment

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _client import PORTAL, PortalSocket
from _server import PortalServer, add_bench_customers, sign_in_all


def _rows(db_url: str, customer_id: int) -> tuple[int, list[str]]:
    engine = create_engine(db_url)
    with Session(engine) as session:
        payments = session.exec(
            select(func.count()).select_from(Payment).where(Payment.customer_id == customer_id)
        ).one()
        statuses = list(
            session.exec(
                select(Invoice.status)
                .where(Invoice.customer_id == customer_id, Invoice.billing_reason == "manual")
                .order_by(Invoice.id)
            )
        )
    engine.dispose()
    return payments, statuses


def _open_invoice(db_url: str, customer_id: int) -> int:
    engine = create_engine(db_url)
    with Session(engine) as session:
        invoice_id = session.exec(
            select(Invoice.id).where(Invoice.customer_id == customer_id, Invoice.status == "open")
        ).one()
    engine.dispose()
    return invoice_id


async def _scenario(server: PortalServer, redis, key: str, customer_id: int, invoice_id: int):
    cookie = (await sign_in_all(server.base_url, [key], [customer_id]))[customer_id]
    tab = PortalSocket(server.base_url, cookie)
    try:
        await tab.connect("/portal")
        loaded = await tab.call_until(f"{PORTAL}.load", PORTAL, path="/portal")
        assert loaded.delta(PORTAL).get("loaded") is True, loaded.messages
        assert len(loaded.delta(PORTAL)["open_invoices"]) == 1
        before = _rows(server.db_url, customer_id)

        redis.kill()

        refused = await tab.call_until(
            f"{PORTAL}.pay_invoice", PORTAL, {"invoice_id": invoice_id}, path="/portal"
        )
        assert not refused.timed_out, "no answer while Redis was down"
        assert ("error", UNAVAILABLE) in refused.toasts, refused.messages
        assert tab.sio.connected
        assert _rows(server.db_url, customer_id) == before  # nothing paid, nothing written

        redis.start()  # back, and empty

        paid = await tab.call(
            f"{PORTAL}.pay_invoice", {"invoice_id": invoice_id}, path="/portal", timeout=60
        )
        assert not paid.timed_out and any(level == "success" for level, _ in paid.toasts), (
            paid.messages
        )
        payments, statuses = _rows(server.db_url, customer_id)
        assert (payments, statuses) == (before[0] + 1, ["paid"])
    finally:
        await tab.close()


def test_redis_state_store_down_answers_clearly_and_changes_nothing(tmp_path, private_redis):
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    server = PortalServer(db_url, workdir=tmp_path / "server")
    try:
        server.prepare()
        customer = add_bench_customers(db_url, 1, open_invoices=1)[0]
        invoice_id = _open_invoice(db_url, customer.id)
        key = server.api_keys(1)[0]
        server.start(workers=2, redis_url=private_redis.url)
        asyncio.run(_scenario(server, private_redis, key, customer.id, invoice_id))
    except BaseException:
        print(server.log_tail())
        raise
    finally:
        server.close()
