"""Invoice and receipt PDFs (fpdf2, DejaVu Sans from assets/fonts), rendered once and cached.

One module per job: `facts` (what a document shows, from the stored rows and the bill-to
snapshot), `cache` (bytes by content hash, memory then disk), `fonts` (faces parsed once, the
TrueType subsetter), `drawing` (the fpdf2 layout). This module is the API callers use.
"""

from __future__ import annotations

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Invoice, Receipt
from portal_app.services import invoices
from portal_app.services.documents.cache import (
    DEFAULT_CACHE_DIR,
    MEMORY_CACHE_ENTRIES,
    _cached_pdf,
    cache_dir,
    cache_key,
    clear_memory_cache,
)
from portal_app.services.documents.drawing import RENDER_VERSION, _render, render
from portal_app.services.documents.facts import (
    ASSETS_DIR,
    DEFAULT_COLOR,
    STATUS_LABELS,
    Document,
    invoice_document,
    parse_color,
    receipt_display_number,
    receipt_document,
)
from portal_app.services.documents.fonts import FAMILY, FONT_DIR, FONT_FILES, _fonts
from portal_app.services.errors import NotFound
from portal_app.services.features import FeatureSet, require_feature
from portal_app.services.features import load as load_features

__all__ = [
    "ASSETS_DIR",
    "DEFAULT_CACHE_DIR",
    "DEFAULT_COLOR",
    "FAMILY",
    "FONT_DIR",
    "FONT_FILES",
    "MEMORY_CACHE_ENTRIES",
    "RENDER_VERSION",
    "STATUS_LABELS",
    "Document",
    "_fonts",
    "_render",
    "cache_dir",
    "cache_key",
    "clear_memory_cache",
    "invoice_cache_key",
    "invoice_document",
    "invoice_pdf",
    "invoice_pdf_for_merchant",
    "parse_color",
    "receipt_display_number",
    "receipt_document",
    "receipt_pdf",
    "render",
    "warm_up",
]


def invoice_pdf(
    session: Session, clock: Clock, *, customer_id: int, invoice_id: int
) -> tuple[bytes, str]:
    """A customer's invoice as (PDF bytes, "INV-000012.pdf"). Someone else's invoice and drafts
    are NotFound (invoices.get_for_customer); the merchant must allow PDF downloads. `clock` is
    unused: a document shows only stored dates, so a cached PDF never goes stale."""
    invoice = invoices.get_for_customer(session, customer_id, invoice_id)
    features = require_feature(session, invoice.merchant_id, "invoices.download_pdf")
    return _invoice_bytes(session, invoice, features)


def invoice_pdf_for_merchant(
    session: Session, *, merchant_id: int, invoice_id: int
) -> tuple[bytes, str]:
    """The same PDF for the merchant's staff (no customer scope, no portal toggle)."""
    invoice = session.exec(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.merchant_id == merchant_id)
    ).first()
    if invoice is None:
        raise NotFound("Invoice not found.")
    return _invoice_bytes(session, invoice, load_features(session, merchant_id))


def receipt_pdf(
    session: Session, clock: Clock, *, customer_id: int, receipt_id: int
) -> tuple[bytes, str]:
    """A receipt as (PDF bytes, "RCT-000007.pdf"), only if its invoice is the customer's."""
    receipt = session.get(Receipt, receipt_id)
    if receipt is None:
        raise NotFound("Receipt not found.")
    try:
        invoice = invoices.get_for_customer(session, customer_id, receipt.invoice_id)
    except NotFound:
        raise NotFound("Receipt not found.") from None
    if receipt.merchant_id != invoice.merchant_id:
        raise NotFound("Receipt not found.")
    features = require_feature(session, invoice.merchant_id, "invoices.receipts")
    doc = receipt_document(session, receipt, invoice, features)
    return _cached_pdf(doc), f"{doc.number}.pdf"


def invoice_cache_key(session: Session, *, invoice_id: int) -> str:
    """The cache key the invoice's PDF is stored under now (for tests and operations)."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound("Invoice not found.")
    return cache_key(
        invoice_document(session, invoice, load_features(session, invoice.merchant_id))
    )


def warm_up() -> None:
    """Parse the fonts now (~0.1-0.2 s once per process) instead of in the first download."""
    _fonts()


def _invoice_bytes(session: Session, invoice: Invoice, features: FeatureSet) -> tuple[bytes, str]:
    doc = invoice_document(session, invoice, features)
    return _cached_pdf(doc), f"{doc.number}.pdf"
