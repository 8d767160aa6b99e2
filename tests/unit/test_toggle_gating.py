"""The digital toggles and `invoices.receipts` gate what the state holds, not only what the page
shows: each handler is called the way a forged websocket event would call it (a real customer
session, any arguments), and the state vars are read back afterwards."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from portal_app.models import (
    AssetGrant,
    DigitalAsset,
    DownloadEvent,
    Invoice,
    LicenseKey,
    Price,
    Receipt,
)
from portal_app.services import audit, digital, documents, features
from portal_app.services.sandbox_gateway import SandboxGateway
from portal_app.state.downloads import DownloadsState
from portal_app.state.guard import CLOCK
from portal_app.state.invoices import InvoicesState
from tests import factories
from tests.statekit import call, root_with, run, visit

LINK_URL = "https://files.example.com/private-community-invite-7f3a"
LICENSE_KEY = "ACME-SECRET-0001-424242"
HISTORY_IP = "203.0.113.99"


@pytest.fixture
def shop(app_db):
    """Alice on Pro (paid now: an invoice with a receipt), entitled to a file, a license key
    and a link, with one download in her history."""
    engine, alice = app_db["engine"], app_db["alice"]
    with Session(engine, expire_on_commit=False) as session:
        price = session.exec(
            select(Price).where(Price.interval == "month", Price.amount == 2000)
        ).one()
        sub = factories.subscribe(session, CLOCK, SandboxGateway(), alice, price)
        assets = {}
        for kind, extra in (
            ("file", {"file_path": "cli.tar.gz", "file_size": 4096}),
            ("license", {}),
            ("link", {"url": LINK_URL}),
        ):
            asset = DigitalAsset(
                merchant_id=alice.merchant_id,
                kind=kind,
                name=f"Acme {kind}",
                created_at=CLOCK.now(),
                **extra,
            )
            session.add(asset)
            session.flush()
            session.add(AssetGrant(asset_id=asset.id, plan_id=sub.plan_id))
            assets[kind] = asset.id
        session.add(LicenseKey(asset_id=assets["license"], key=LICENSE_KEY))
        session.add(
            DownloadEvent(
                merchant_id=alice.merchant_id,
                customer_id=alice.id,
                asset_id=assets["file"],
                ip=HISTORY_IP,
                created_at=CLOCK.now(),
            )
        )
        invoice = session.exec(select(Invoice).where(Invoice.customer_id == alice.id)).one()
        receipt = session.exec(select(Receipt).where(Receipt.invoice_id == invoice.id)).one()
        session.commit()
    return {
        **app_db,
        "assets": assets,
        "invoice_id": invoice.id,
        "receipt_number": documents.receipt_display_number(receipt),
    }


def _turn(shop, key: str, on: bool) -> None:
    with Session(shop["engine"]) as session:
        features.save(session, CLOCK, shop["merchant"].id, {key: on}, audit.SYSTEM)
        session.commit()


def _dump(state) -> str:
    """Everything the state holds that Reflex would send to the browser."""
    return json.dumps(state.dict(), default=str)


def _downloads(shop, *then):
    """Alice's `load`, then each (handler, *args), on one state tree; returns the state and the
    handlers' answers."""

    async def scenario():
        root = root_with(shop["sessions"]["alice@example.com"])
        answers = [await call(root, DownloadsState, "load")]
        for name, *args in then:
            answers.append(await call(root, DownloadsState, name, *args))
        return await root.get_state(DownloadsState), answers

    return run(scenario())


ON_OFF = pytest.mark.parametrize("on", [True, False], ids=["on", "off"])


@ON_OFF
def test_links_reach_the_state_only_when_offered(shop, on):
    _turn(shop, "digital.links", on)
    state, _ = _downloads(shop)
    link = next(a for a in state.assets if a.kind == "link")
    assert state.offered["digital.links"] is on
    if on:
        assert link.url == LINK_URL and link.offered == "yes"
    else:
        assert LINK_URL not in _dump(state)
        assert (link.url, link.offered) == ("", "")
        assert link.note == "Links are not offered in this portal right now."


@ON_OFF
def test_download_tokens_only_when_downloads_are_offered(shop, on):
    _turn(shop, "digital.downloads", on)
    state, (_, answer) = _downloads(shop, ("download", shop["assets"]["file"]))
    signed = f"/files/{shop['assets']['file']}.{shop['alice'].id}."
    assert "/files/" not in _dump(state)  # `load` never holds a link, on or off
    file = next(a for a in state.assets if a.kind == "file")
    if on:
        assert signed in str(answer) and file.offered == "yes"
    else:
        assert "/files/" not in str(answer)
        assert "not available" in str(answer)
        assert file.offered == "" and "Downloads are not offered" in file.note


@ON_OFF
def test_license_keys_only_when_offered(shop, on):
    _turn(shop, "digital.license_keys", on)
    state, _ = _downloads(shop, ("reveal_key", shop["assets"]["license"]))
    with Session(shop["engine"]) as session:
        assigned = session.exec(
            select(LicenseKey.customer_id).where(LicenseKey.key == LICENSE_KEY)
        ).one()
    if on:
        assert state.revealed == {str(shop["assets"]["license"]): LICENSE_KEY}
        assert assigned == shop["alice"].id
    else:
        assert LICENSE_KEY not in _dump(state) and state.revealed == {}
        assert assigned is None  # a forged reveal takes no key from the pool either


@ON_OFF
def test_history_and_its_ips_only_when_offered(shop, on):
    _turn(shop, "digital.history", on)
    state, _ = _downloads(shop)
    if on:
        assert [(h.name, h.ip) for h in state.history] == [("Acme file", HISTORY_IP)]
    else:
        assert state.history == [] and HISTORY_IP not in _dump(state)
        assert state.offered["digital.history"] is False


def test_refresh_history_is_refused_when_the_history_is_off(shop):
    _turn(shop, "digital.history", False)
    state, (_, answer) = _downloads(shop, ("refresh_history",))
    assert "not available" in str(answer)
    assert state.history == [] and HISTORY_IP not in _dump(state)


def test_with_every_digital_toggle_off_load_holds_nothing(shop):
    for key in digital.PORTAL_FEATURES:
        _turn(shop, key, False)
    state, _ = _downloads(shop)
    assert state.loaded and state.assets == [] and state.history == []
    assert not any(state.offered.values())
    assert "Acme" not in _dump(state)


@ON_OFF
def test_receipts_reach_the_invoice_detail_only_when_offered(shop, on):
    _turn(shop, "invoices.receipts", on)

    async def scenario():
        root = root_with(shop["sessions"]["alice@example.com"])
        visit(root, "/invoices/[id]", id=str(shop["invoice_id"]))
        await call(root, InvoicesState, "load")
        return await root.get_state(InvoicesState)

    state = run(scenario())
    assert state.detail.id == str(shop["invoice_id"])  # the invoice itself is shown
    if on:
        assert [r.label.split(" · ")[0] for r in state.detail.receipts] == [shop["receipt_number"]]
    else:
        assert state.detail.receipts == []
        assert shop["receipt_number"] not in _dump(state)


@pytest.mark.parametrize("only", digital.PORTAL_FEATURES)
def test_the_downloads_section_shows_while_any_digital_feature_is_on(only):
    """The page opens while any of the four is on, so its navigation entry does too."""
    from portal_app.state.nav import visible_sections

    values = {key: key == only for key in digital.PORTAL_FEATURES}
    shown = visible_sections(features.from_document(values))
    assert "/downloads" in [s.path for s in shown]
    none = {key: False for key in digital.PORTAL_FEATURES}
    hidden = visible_sections(features.from_document(none))
    assert "/downloads" not in [s.path for s in hidden]
