"""The catalog's digital products: the list, a file upload (stored privately, then named and
created), a license-key pool and a link (grants and edits go through the dialog).

An upload carries the single-use ticket of state/upload_ticket.py. Uploaded files go to the
private store, never Reflex's public upload folder.

A mixin of `MerchantCatalogState` (state/merchant_catalog.py), which brings `_clear_errors` and
`_done`."""

from __future__ import annotations

import asyncio

import reflex as rx

from portal_app.services import catalog_view, digital_admin
from portal_app.services.catalog_view import AssetView
from portal_app.services.errors import CatalogError
from portal_app.state.guard import current, guarded, read, write
from portal_app.state.merchant_catalog_editor import field, posted, whole
from portal_app.state.upload_ticket import UploadTicketMixin

UPLOAD_ID = "catalog-asset-file"


class CatalogDigitalMixin(UploadTicketMixin, mixin=True):
    assets: list[AssetView] = []
    file_error: str = ""
    license_error: str = ""
    link_error: str = ""
    upload_error: str = ""
    # The stored file awaiting its details.
    staged_name: str = ""
    staged_size: str = ""
    _staged_path: str = ""

    @rx.event
    @guarded("staff", staff_role="admin", error="upload_error")
    async def upload_file(self, files: list[rx.UploadFile], ticket: str = ""):
        """Store one uploaded file privately; the staff then names it and creates the product."""
        who = current()
        self._clear_errors()
        self._use_ticket(ticket, CatalogError)
        if not isinstance(files, list) or len(files) != 1 or not hasattr(files[0], "file"):
            raise CatalogError("Choose one file to upload.")
        upload = files[0]
        stored = await asyncio.to_thread(
            digital_admin.store_file, who.merchant_id, upload.file, upload.filename
        )
        await asyncio.to_thread(self._discard_staged)
        self._staged_path = stored.relative_path
        self.staged_name, self.staged_size = stored.filename, catalog_view.file_size(stored.size)
        return [
            rx.clear_selected_files(UPLOAD_ID),
            rx.toast.success(f"{stored.filename} uploaded. Name it and create the product."),
        ]

    def _discard_staged(self) -> None:
        if self._staged_path:
            read(catalog_view.discard_upload, relative_path=self._staged_path)
        self._staged_path, self.staged_name, self.staged_size = "", "", ""

    @rx.event
    @guarded("staff", staff_role="admin")
    def discard_upload(self):
        self._discard_staged()

    @rx.event
    @guarded("staff", staff_role="admin", error="file_error")
    def create_file_asset(self, form_data: dict):
        form = posted(form_data)
        self._clear_errors()
        if not self._staged_path:
            raise CatalogError("Upload the file first.")
        asset = write(
            digital_admin.create_file_asset,
            name=field(form, "name") or self.staged_name,
            description=field(form, "description"),
            stored_path=self._staged_path,
            download_limit=whole(form, "download_limit", "Download limit"),
        )
        self._staged_path, self.staged_name, self.staged_size = "", "", ""
        return self._done(f'"{asset.name}" created. Choose the plans that grant it.')

    @rx.event
    @guarded("staff", staff_role="admin", error="license_error")
    def create_license_asset(self, form_data: dict):
        form = posted(form_data)
        self._clear_errors()
        asset, result = write(
            digital_admin.create_license_asset,
            name=field(form, "name"),
            description=field(form, "description"),
            keys_text=form.get("keys", ""),
        )
        return self._done(f'"{asset.name}" created. {result.summary()}')

    @rx.event
    @guarded("staff", staff_role="admin", error="link_error")
    def create_link_asset(self, form_data: dict):
        form = posted(form_data)
        self._clear_errors()
        asset = write(
            digital_admin.create_link_asset,
            name=field(form, "name"),
            description=field(form, "description"),
            url=field(form, "url"),
        )
        return self._done(f'"{asset.name}" created. Choose the plans that grant it.')
