"""CSV import of customers and their subscriptions: a dry run that lists every row's problems,
an import that is all or nothing, and a second import of the same file that changes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, Customer, Subscription, TrialUse
from portal_app.services import audit, customer_import
from portal_app.services.customer_import import CustomerImportError

STAFF = audit.Actor.merchant(1)
GOOD = """email,name,external_id,plan,interval,status,current_period_end,trial_end,metadata.crm
ann@example.com,Ann,u1,pro,month,active,2030-02-01,,A-1
bob@example.com,Bob,u2,basic,year,trialing,,2030-01-15,
cid@example.com,Cid,u3,,,,,,
"""


def _run(session, clock, catalog, data: str, *, dry_run: bool):
    return customer_import.import_csv(
        session,
        clock,
        merchant_id=catalog.merchant.id,
        data=data.encode(),
        actor=STAFF,
        dry_run=dry_run,
    )


def _customers(session, catalog):
    return list(session.exec(select(Customer).where(Customer.merchant_id == catalog.merchant.id)))


def test_dry_run_says_what_would_happen_and_writes_nothing(session, clock, catalog):
    result = _run(session, clock, catalog, GOOD, dry_run=True)
    assert (result.rows, result.created, result.subscriptions, result.problems) == (3, 3, 2, [])
    assert not result.written and _customers(session, catalog) == []
    assert "Would import 3 rows: 3 new customers" in result.summary()


def test_import_creates_customers_and_subscriptions_then_a_second_run_changes_nothing(
    session, clock, catalog
):
    first = _run(session, clock, catalog, GOOD, dry_run=False)
    assert (first.created, first.subscriptions, first.written) == (3, 2, True)
    customers = {c.email: c for c in _customers(session, catalog)}
    ann, bob = customers["ann@example.com"], customers["bob@example.com"]
    assert (ann.external_id, ann.metadata_) == ("u1", {"crm": "A-1"})
    subs = {s.customer_id: s for s in session.exec(select(Subscription))}
    assert subs[ann.id].status == "active" and subs[ann.id].plan_id == catalog.plans["Pro"].id
    assert subs[ann.id].current_period_end.year == 2030
    assert subs[bob.id].status == "trialing" and subs[bob.id].trial_end.day == 15
    assert subs[bob.id].current_period_end == subs[bob.id].trial_end
    assert len(session.exec(select(TrialUse)).all()) == 1
    again = _run(session, clock, catalog, GOOD, dry_run=False)
    assert (again.created, again.updated, again.unchanged, again.subscriptions) == (0, 0, 3, 0)
    assert len(_customers(session, catalog)) == 3
    assert len(session.exec(select(Subscription)).all()) == 2
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "customer.import")).all()
    assert [e.after["created"] for e in events] == [3, 0]


def test_every_bad_row_is_listed_and_nothing_is_written(session, clock, catalog):
    bad = """email,name,external_id,plan,interval,status,current_period_end
ann@example.com,Ann,u1,pro,month,active,2030-02-01
not-an-email,X,u2,,,,
ann@example.com,Ann again,u3,,,,
dan@example.com,Dan,u1,,,,
eve@example.com,Eve,u5,gold,month,active,2030-02-01
fay@example.com,Fay,u6,pro,month,frozen,2030-02-01
gus@example.com,Gus,u7,pro,month,active,2001-01-01
hal@example.com,Hal,u8,pro,month,active,someday
ivy@example.com,Ivy,u9,,,active,
"""
    result = _run(session, clock, catalog, bad, dry_run=True)
    lines: dict[int, str] = {}
    for problem in result.problems:
        lines[problem.line] = lines.get(problem.line, "") + problem.message + "; "
    assert sorted(lines) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "email" in lines[3] and "line 2" in lines[4] and "external_id as line 2" in lines[5]
    assert 'plan "gold"' in lines[6] and "status" in lines[7] and "future" in lines[8]
    assert "date" in lines[9] and "need a plan" in lines[10]
    with pytest.raises(CustomerImportError, match="8 rows have problems"):
        _run(session, clock, catalog, bad, dry_run=False)
    assert _customers(session, catalog) == []


def test_rows_match_existing_customers_by_external_id_then_email(session, clock, catalog, customer):
    data = f"email,name,external_id\n{customer.email},Zoë New,zoe-1\n"
    result = _run(session, clock, catalog, data, dry_run=False)
    assert (result.created, result.updated) == (0, 1)
    assert (customer.name, customer.external_id) == ("Zoë New", "zoe-1")
    renamed = "email,name,external_id\nzoe@example.com,Zoë,zoe-1\n"
    assert _run(session, clock, catalog, renamed, dry_run=False).updated == 1


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"name\nAnn\n", "email column"),
        (b"email,colour\na@example.com,red\n", "Unknown columns: colour"),
        ("email\n".encode("utf-16"), "UTF-8"),
    ],
)
def test_a_file_that_is_not_a_customer_csv_is_refused(session, clock, catalog, data, words):
    with pytest.raises(CustomerImportError, match=words):
        customer_import.import_csv(
            session, clock, merchant_id=catalog.merchant.id, data=data, actor=STAFF, dry_run=True
        )
