"""Issue #11: a finalized invoice or receipt keeps the bill-to it was issued with (name, email,
billing and shipping address, custom fields). Re-downloading it after a profile change shows the
old one, a new invoice shows the new one, and the snapshot cannot be changed afterwards: not by
the ORM, not by raw SQL (SQLite and, with PORTAL_TEST_DB_URL, PostgreSQL)."""

from __future__ import annotations

import io
from datetime import timedelta

import pypdf
import pytest
import sqlalchemy as sa
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, select

from portal_app.db import session_scope
from portal_app.models import AuditEvent, Invoice, Receipt
from portal_app.services import (
    audit,
    bill_to,
    billing_clock,
    documents,
    features,
    invoices,
    profile,
)
from portal_app.services.errors import InvoiceError
from portal_app.services.invoices import LineSpec
from tests import factories

SYSTEM = audit.SYSTEM
DEFINITIONS = [
    {"key": "vat_id", "label": "VAT ID", "type": "text"},
    {"key": "po", "label": "PO required", "type": "checkbox"},
]
OLD = {
    "name": "Zoë Ångström",
    "billing_address": {
        "line1": "Sveavägen 12",
        "city": "Stockholm",
        "postal_code": "111 57",
        "country": "SE",
    },
    "shipping_address": {"line1": "Lagerväg 3", "city": "Uppsala", "country": "SE"},
    "custom_fields": {"vat_id": "SE556677889901", "po": True},
}
NEW = {
    "name": "Zoë Berg",
    "billing_address": {"line1": "Karl Johans gate 1", "city": "Oslo", "country": "NO"},
    "shipping_address": {"line1": "Havnegata 9", "city": "Bergen", "country": "NO"},
    "custom_fields": {"vat_id": "NO999888777", "po": False},
}


@pytest.fixture(autouse=True)
def pdf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_CACHE_DIR", str(tmp_path / "pdf-cache"))
    documents.clear_memory_cache()
    yield
    documents.clear_memory_cache()


@pytest.fixture
def zoe(session, clock, catalog, customer):
    """The customer as first issued to: full profile, with the merchant's custom fields."""
    _define_fields(session, clock, catalog.merchant.id)
    # a value without a definition (one the merchant removed) never appears
    customer.custom_fields = {"notes": "slow payer"}
    session.add(customer)
    _update(session, clock, customer, OLD)
    return customer


def _define_fields(session, clock, merchant_id: int) -> None:
    changes = {"profile.custom_field_definitions": DEFINITIONS}
    features.save(session, clock, merchant_id, changes, SYSTEM)


def _update(session, clock, customer, changes, email: str | None = None):
    profile.update_profile(
        session, clock, customer_id=customer.id, changes=changes, actor=audit.Actor.customer(1)
    )
    if email is not None:  # a confirmed email change (auth.confirm_email_change) ends up here
        customer.email = email
        session.add(customer)
    session.flush()


def _text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def _invoice_text(session, clock, customer, invoice) -> str:
    data, _ = documents.invoice_pdf(session, clock, customer_id=customer.id, invoice_id=invoice.id)
    return _text(data)


OLD_SHOWN = (
    "Zoë Ångström",
    "zoe@example.com",
    "Sveavägen 12",
    "Stockholm 111 57",
    "Lagerväg 3",
    "VAT ID: SE556677889901",
    "PO required: Yes",
)
NEW_SHOWN = (
    "Zoë Berg",
    "zoe.berg@example.com",
    "Karl Johans gate 1",
    "Havnegata 9",
    "VAT ID: NO999888777",
    "PO required: No",
)


def _shows(text: str, expected, absent) -> None:
    for value in expected:
        assert value in text, value
    for value in absent:
        assert value not in text, value
    assert "slow payer" not in text


# --- what an issued document shows --------------------------------------------------------------


def test_invoice_keeps_its_bill_to_after_a_profile_change(session, clock, zoe):
    invoice = factories.finalized_invoice(session, clock, zoe)
    assert invoice.bill_to == {
        "name": "Zoë Ångström",
        "email": "zoe@example.com",
        "billing_address": OLD["billing_address"],
        "shipping_address": OLD["shipping_address"],
        "custom_fields": [
            {"key": "vat_id", "label": "VAT ID", "value": "SE556677889901"},
            {"key": "po", "label": "PO required", "value": True},
        ],
    }
    first = _invoice_text(session, clock, zoe, invoice)
    _shows(first, OLD_SHOWN, NEW_SHOWN)
    assert "SHIP TO" in first
    key = documents.invoice_cache_key(session, invoice_id=invoice.id)

    _update(session, clock, zoe, NEW, email="zoe.berg@example.com")
    session.commit()
    documents.clear_memory_cache()  # not served from memory: rendered from the stored snapshot
    session.expire_all()
    again = session.get(Invoice, invoice.id)
    _shows(_invoice_text(session, clock, zoe, again), OLD_SHOWN, NEW_SHOWN)
    # the cache key follows the snapshot, not the live profile
    assert documents.invoice_cache_key(session, invoice_id=invoice.id) == key
    # and the staff's copy is the same document
    staff_copy, _ = documents.invoice_pdf_for_merchant(
        session, merchant_id=zoe.merchant_id, invoice_id=invoice.id
    )
    _shows(_text(staff_copy), OLD_SHOWN, NEW_SHOWN)

    newer = factories.finalized_invoice(session, clock, zoe, amount=900)
    _shows(_invoice_text(session, clock, zoe, newer), NEW_SHOWN, OLD_SHOWN)
    assert documents.invoice_cache_key(session, invoice_id=newer.id) != key


def test_receipt_keeps_its_bill_to_after_a_profile_change(session, clock, gateway, zoe):
    factories.add_gateway_card(session, clock, gateway, zoe)
    invoice = factories.finalized_invoice(session, clock, zoe)
    factories.pay_invoice(session, clock, gateway, zoe, invoice)
    receipt = factories.receipt_of(session, invoice)
    assert receipt.bill_to == invoice.bill_to
    _update(session, clock, zoe, NEW, email="zoe.berg@example.com")
    data, _ = documents.receipt_pdf(session, clock, customer_id=zoe.id, receipt_id=receipt.id)
    _shows(_text(data), OLD_SHOWN, NEW_SHOWN)


def test_a_receipt_shows_the_bill_to_at_payment(session, clock, gateway, zoe):
    """Paid after a profile change: the invoice keeps the old bill-to, the receipt (issued at
    payment) shows the customer as they were when they paid."""
    factories.add_gateway_card(session, clock, gateway, zoe)
    invoice = factories.finalized_invoice(session, clock, zoe)
    _update(session, clock, zoe, NEW)
    factories.pay_invoice(session, clock, gateway, zoe, invoice)
    receipt = factories.receipt_of(session, invoice)
    data, _ = documents.receipt_pdf(session, clock, customer_id=zoe.id, receipt_id=receipt.id)
    assert "Karl Johans gate 1" in _text(data)
    assert "Sveavägen 12" in _invoice_text(session, clock, zoe, invoice)


def test_the_invoice_page_data_reads_the_snapshot(session, clock, zoe):
    invoice = factories.finalized_invoice(session, clock, zoe)
    _update(session, clock, zoe, NEW)
    shown = bill_to.lines(bill_to.of_invoice(session, invoice))
    assert shown[:2] == ("Zoë Ångström", "zoe@example.com")
    assert "Sveavägen 12" in shown and "VAT ID: SE556677889901" in shown
    assert bill_to.ship_to_lines(invoice.bill_to) == ("Lagerväg 3", "Uppsala", "SE")


def test_fields_the_merchant_keeps_off_documents_are_not_snapshot(session, clock, zoe):
    definitions = [*DEFINITIONS, {"key": "notes", "label": "Notes", "on_invoice": False}]
    snap = bill_to.snapshot(zoe, definitions)
    assert [f["key"] for f in snap["custom_fields"]] == ["vat_id", "po"]
    assert bill_to.field_lines(snap) == ("VAT ID: SE556677889901", "PO required: Yes")


def test_a_ship_to_equal_to_the_bill_to_is_not_repeated(session, clock, zoe):
    _update(session, clock, zoe, {"shipping_address": OLD["billing_address"]})
    invoice = factories.finalized_invoice(session, clock, zoe)
    assert bill_to.ship_to_lines(invoice.bill_to) == ()
    assert "SHIP TO" not in _invoice_text(session, clock, zoe, invoice)


def test_an_invoice_from_before_snapshots_falls_back_to_the_profile(engine, session, clock, zoe):
    invoice = factories.finalized_invoice(session, clock, zoe)
    session.commit()
    # a row issued before the column existed: NULL, set under the guards' noses on purpose
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS invoice_final_money" + _on(engine))
        conn.execute(sa.update(Invoice).where(Invoice.id == invoice.id).values(bill_to=sa.null()))
    from portal_app.db import install_guards

    install_guards(engine)
    session.expire_all()
    legacy = session.get(Invoice, invoice.id)
    assert legacy.bill_to is None
    _update(session, clock, zoe, NEW)
    assert "Karl Johans gate 1" in _invoice_text(session, clock, zoe, legacy)


def _on(engine) -> str:
    return " ON invoice" if engine.dialect.name == "postgresql" else ""


# --- frozen after finalization --------------------------------------------------------------------


def test_the_orm_refuses_a_new_snapshot_on_a_finalized_invoice(session, clock, zoe):
    invoice = factories.finalized_invoice(session, clock, zoe)
    session.flush()
    invoice.bill_to = {**invoice.bill_to, "name": "Someone Else"}
    session.add(invoice)
    with pytest.raises(InvoiceError, match="finalized invoice cannot be changed"):
        session.flush()


def test_the_orm_refuses_a_new_snapshot_on_a_receipt(session, clock, gateway, zoe):
    factories.add_gateway_card(session, clock, gateway, zoe)
    invoice = factories.finalized_invoice(session, clock, zoe)
    factories.pay_invoice(session, clock, gateway, zoe, invoice, actor=SYSTEM)
    receipt = session.exec(select(Receipt)).one()
    receipt.bill_to = {**receipt.bill_to, "email": "other@example.com"}
    session.add(receipt)
    with pytest.raises(InvoiceError, match="receipt cannot be changed"):
        session.flush()


def test_the_database_refuses_a_new_snapshot_whatever_runs_the_sql(
    engine, session, clock, gateway, zoe
):
    factories.add_gateway_card(session, clock, gateway, zoe)
    invoice = factories.finalized_invoice(session, clock, zoe)
    factories.pay_invoice(session, clock, gateway, zoe, invoice, actor=SYSTEM)
    draft = factories.draft_invoice(session, clock, zoe, [LineSpec("manual", "Later", 100)])
    session.commit()
    receipt = session.exec(select(Receipt)).one()
    session.commit()
    forged = {"name": "Someone Else", "email": "x@example.com"}
    for table, row_id in ((Invoice.__table__, invoice.id), (Receipt.__table__, receipt.id)):
        refused = pytest.raises(sa.exc.DBAPIError, match="cannot be changed")
        with refused, session_scope(engine) as s:  # Core SQL: no ORM guard on the way
            s.connection().execute(
                table.update().where(table.c.id == row_id).values(bill_to=forged)
            )
    # an in-place edit the ORM cannot see is stopped by the database too
    refused = pytest.raises(sa.exc.DBAPIError, match="cannot be changed")
    with refused, session_scope(engine) as s:
        row = s.get(Invoice, invoice.id)
        row.bill_to["name"] = "Someone Else"
        flag_modified(row, "bill_to")
        s.flush()
    # status changes of an issued invoice still work, and a draft's bill-to is free until issued
    with session_scope(engine) as s:
        s.execute(sa.update(Invoice).where(Invoice.id == draft.id).values(bill_to=forged))
    with Session(engine) as check:
        assert check.get(Invoice, invoice.id).bill_to["name"] == "Zoë Ångström"
        assert check.get(Receipt, receipt.id).bill_to["name"] == "Zoë Ångström"
    with session_scope(engine) as s:
        issued = invoices.finalize(s, clock, s.get(Invoice, draft.id), SYSTEM)
        assert issued.bill_to["name"] == "Zoë Ångström"  # finalize takes the real snapshot


# --- the billing clock's bulk path ----------------------------------------------------------------


def test_bulk_renewals_snapshot_the_bill_to(engine, session, clock, gateway, catalog, zoe):
    factories.add_gateway_card(session, clock, gateway, zoe)
    sub = factories.subscribe(session, clock, gateway, zoe, catalog.monthly["Pro"])
    session.commit()
    clock.advance(timedelta(days=31, hours=1))
    report = billing_clock.advance(engine, clock, gateway)
    assert report.renewed == 1
    with Session(engine) as s:
        renewal = s.exec(
            select(Invoice).where(
                Invoice.subscription_id == sub.id, Invoice.billing_reason == "subscription_cycle"
            )
        ).one()
        # the bulk path made it (the one-by-one path audits an invoice.finalize of its own)
        finalized = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "invoice.finalize", AuditEvent.target_id == str(renewal.id)
            )
        ).all()
        assert finalized == []
        receipt = s.exec(select(Receipt).where(Receipt.invoice_id == renewal.id)).one()
        first = s.exec(
            select(Invoice).where(
                Invoice.subscription_id == sub.id, Invoice.billing_reason != "subscription_cycle"
            )
        ).one()
        assert renewal.bill_to == receipt.bill_to == first.bill_to
        assert renewal.bill_to["custom_fields"][0]["value"] == "SE556677889901"
    _update(session, clock, zoe, NEW, email="zoe.berg@example.com")
    session.commit()
    _shows(_invoice_text(session, clock, zoe, renewal), OLD_SHOWN, NEW_SHOWN)
    data, _ = documents.receipt_pdf(session, clock, customer_id=zoe.id, receipt_id=receipt.id)
    _shows(_text(data), OLD_SHOWN, NEW_SHOWN)


def test_bulk_renewals_stay_one_statement_per_batch(engine, session, clock, gateway, catalog):
    """The snapshot rides in the batch's invoice and receipt INSERTs: the statements a batch
    runs do not grow with the number of renewals in it."""
    _define_fields(session, clock, catalog.merchant.id)
    for n in range(6):
        customer = factories.make_customer(session, clock, catalog.merchant, f"c{n}@example.com")
        customer.billing_address = {"line1": f"Road {n}", "city": "Oslo", "country": "NO"}
        customer.custom_fields = {"vat_id": f"NO{n:09d}"}
        factories.add_gateway_card(session, clock, gateway, customer)
        price = catalog.monthly["Basic" if n < 2 else "Pro"]
        factories.subscribe(session, clock, gateway, customer, price, actor=SYSTEM)
    session.commit()
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        clock.advance(timedelta(days=31, hours=1))
        report = billing_clock.advance(engine, clock, gateway)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert report.renewed == 6
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO INVOICE ")]
    receipts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO RECEIPT ")]
    assert (len(inserts), len(receipts)) == (1, 1), statements
    with Session(engine) as s:
        rows = s.exec(select(Invoice).where(Invoice.billing_reason == "subscription_cycle")).all()
        assert sorted(r.bill_to["billing_address"]["line1"] for r in rows) == [
            f"Road {n}" for n in range(6)
        ]


def test_the_invoice_page_shows_the_bill_to_it_was_issued_with(app_db):
    """The state's detail reads the snapshot: a later name change does not show on Bob's
    finalized invoice."""
    from sqlmodel import Session

    from portal_app.models import Customer
    from portal_app.state.invoices import InvoicesState
    from tests.statekit import call, root_with, run, visit

    invoice_id = app_db["bob_invoice"].id
    with Session(app_db["engine"]) as session:
        bob = session.get(Customer, app_db["bob"].id)
        issued_name = bob.name
        bob.name = "Renamed Later"
        session.add(bob)
        session.commit()

    async def scenario():
        root = root_with(app_db["sessions"]["bob@example.com"])
        visit(root, "/invoices/[id]", id=str(invoice_id))
        await call(root, InvoicesState, "load")
        return (await root.get_state(InvoicesState)).detail

    detail = run(scenario())
    assert detail.bill_to[:2] == [issued_name, "bob@example.com"]
    assert "Renamed Later" not in detail.bill_to


def test_the_settings_keep_the_merchants_off_documents_flag(session, clock, zoe):
    """`on_invoice` survives validation of the settings document (it used to be dropped, so every
    field with a value was printed)."""
    from portal_app.services import features

    cleaned = features.validate(
        {
            "profile.custom_field_definitions": [
                {"key": "vat_id", "label": "VAT ID"},
                {"key": "notes", "label": "Notes", "on_invoice": False},
            ]
        }
    )["profile.custom_field_definitions"]
    assert [d["on_invoice"] for d in cleaned] == [True, False]
    zoe.custom_fields = {"vat_id": "SE1", "notes": "private"}
    assert [f["key"] for f in bill_to.snapshot(zoe, cleaned)["custom_fields"]] == ["vat_id"]
