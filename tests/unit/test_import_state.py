"""Staff → Customers → Import through its state: an admin's upload is checked at once (nothing
written), problems are listed by line and block the import, a clean file imports on one click
and its staged copy is deleted; a stale ticket or a viewer gets nothing in."""

from __future__ import annotations

import io
from pathlib import Path

import reflex as rx
from sqlmodel import Session, select

from portal_app.models import Customer
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_import import MerchantImportState as Imp
from tests import factories
from tests.statekit import call, root_with, run

GOOD = (
    b"email,name,external_id,plan,interval,current_period_end\n"
    b"new@example.com,New,n1,pro,month,2030-01-01\n"
)
BAD = b"email,name\nnope,Nope\nok@example.com,Ok\n"


def _upload(content: bytes):
    return [rx.UploadFile(file=io.BytesIO(content), path=Path("customers.csv"))]


def _emails(app_db) -> set[str]:
    with Session(app_db["engine"]) as session:
        return set(session.exec(select(Customer.email)))


def test_an_admin_checks_then_imports_a_file(app_db, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_FILES_DIR", str(tmp_path / "files"))

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, Imp, "open")
        await call(root, Imp, "load")
        state = await root.get_state(Imp)
        await Imp.upload.fn(state, _upload(BAD), state.upload_ticket)
        bad = (state.summary, state.problem_count, list(state.problems), state.ready)
        before = _emails(app_db)
        await Imp.upload.fn(state, _upload(GOOD), state.upload_ticket)
        checked = (state.summary, state.ready, _emails(app_db), state.error)
        done = await call(root, Imp, "run_import")
        again = await call(root, Imp, "run_import")  # a second click: nothing left to import
        return bad, before, checked, str(done), state.summary, state.error, again

    bad, before, checked, done, summary, error, again = run(scenario())
    assert bad[1] == 1 and bad[2] == [{"line": "2", "message": "email is not a valid address"}]
    assert bad[3] is False and "ok@example.com" not in before
    assert checked[0].startswith("Would import 1 rows"), checked
    assert checked[1] is True
    assert "new@example.com" not in checked[2]
    assert "Imported 1 rows: 1 new customers" in done and summary.startswith("Imported")
    assert "new@example.com" in _emails(app_db)
    assert "Upload and check a file first" in error and again is None
    assert [p for p in (tmp_path / "files").rglob("*.csv")] == []  # the staged copy is gone


def test_a_stale_ticket_or_a_viewer_imports_nothing(app_db, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_FILES_DIR", str(tmp_path / "files"))
    viewer = factories.staff_with_role(app_db["engine"], CLOCK, app_db["merchant"], "viewer")

    async def scenario():
        root = root_with(staff_sid=app_db["sessions"]["staff"])
        await call(root, Imp, "load")
        state = await root.get_state(Imp)
        await Imp.upload.fn(state, _upload(GOOD), "guessed")
        stale = (state.error, state.summary)
        watcher = root_with(staff_sid=viewer)
        await call(watcher, Imp, "open")
        seen = (await watcher.get_state(Imp)).access
        refused = await call(watcher, Imp, "run_import")
        return stale, seen, str(refused)

    stale, seen, refused = run(scenario())
    assert stale == ("This upload form has expired. Reload the page and try again.", "")
    assert seen == "denied" and "it needs Admin" in refused
    assert "new@example.com" not in _emails(app_db)
    assert not (tmp_path / "files").exists() or not list((tmp_path / "files").rglob("*.csv"))
