"""Staff → Customers → Import (owners and admins): a CSV file is uploaded to the private store,
checked at once (a dry run: what would happen and every row's problems), then imported on a
click, all or nothing (services/customer_import.py).
The upload carries the single-use ticket of state/upload_ticket.py."""

from __future__ import annotations

import asyncio
from typing import TypedDict

import reflex as rx

from portal_app.services import customer_import, digital_admin, staff_roles
from portal_app.services.customer_import import CustomerImportError
from portal_app.state.guard import PrivateState, current, guarded, read, write
from portal_app.state.upload_ticket import UploadTicketMixin

UPLOAD_ID = "customer-import-file"


class ProblemRow(TypedDict):
    line: str
    message: str


class MerchantImportState(UploadTicketMixin, PrivateState):
    access: str = ""  # "" until checked | admin | denied
    _staged_path: str = ""
    file_name: str = ""
    summary: str = ""  # the dry run's "Would import …" or the import's "Imported …"
    problems: list[ProblemRow] = []
    problem_count: int = 0
    ready: bool = False  # checked, no problem: the Import button is offered
    imported: bool = False
    error: str = ""

    def _reset(self) -> None:
        self.file_name = self.summary = self.error = ""
        self.problems, self.problem_count = [], 0
        self.ready = self.imported = False

    @rx.event
    @guarded("staff", staff_role="viewer")
    def open(self):
        if staff_roles.allows(current().staff_role, "admin"):
            self.access = "admin"
            return MerchantImportState.load
        self.access = "denied"
        return None

    @rx.event
    @guarded("staff", staff_role="admin")
    def load(self):
        self.access = "admin"
        self._discard()
        self._reset()
        self._new_ticket()

    def _discard(self) -> None:
        if self._staged_path:
            read(customer_import.discard_file, relative_path=self._staged_path)
        self._staged_path = ""

    @rx.event
    @guarded("staff", staff_role="admin", error="error")
    async def upload(self, files: list[rx.UploadFile], ticket: str = ""):
        """Store the file privately and check it (nothing is imported yet)."""
        who = current()
        self._use_ticket(ticket, CustomerImportError)
        if not isinstance(files, list) or len(files) != 1 or not hasattr(files[0], "file"):
            raise CustomerImportError("Choose one CSV file.")
        await asyncio.to_thread(self._discard)
        self._reset()
        upload = files[0]
        stored = await asyncio.to_thread(
            digital_admin.store_file,
            who.merchant_id,
            upload.file,
            upload.filename,
            max_bytes=customer_import.MAX_BYTES,
        )
        self._staged_path, self.file_name = stored.relative_path, stored.filename
        result = await asyncio.to_thread(
            read, customer_import.check_file, relative_path=stored.relative_path
        )
        self.summary = result.summary()
        self.problem_count = len(result.problems)
        self.problems = [
            {"line": str(p.line), "message": p.message}
            for p in result.problems[: customer_import.MAX_PROBLEMS_SHOWN]
        ]
        self.ready = not result.problems and result.rows > 0
        return rx.clear_selected_files(UPLOAD_ID)

    @rx.event
    @guarded("staff", staff_role="admin", error="error")
    def run_import(self):
        if not (self.ready and self._staged_path):
            raise CustomerImportError("Upload and check a file first.")
        path, self._staged_path, self.ready = self._staged_path, "", False
        result = write(customer_import.import_file, relative_path=path)
        self.summary, self.imported = result.summary(), True
        return rx.toast.success(result.summary())

    @rx.event
    @guarded("staff", staff_role="admin")
    def discard(self):
        self._discard()
        self._reset()
