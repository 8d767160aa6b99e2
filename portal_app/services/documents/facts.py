"""What an invoice or receipt PDF shows: a `Document` of plain strings, read from the stored
rows. The customer block comes from the bill-to stored when the document was issued
(services/bill_to.py), not from the live profile, so a later profile change leaves the document,
its cache key and its PDF as they were. A logo is drawn only from a local file under assets/."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from portal_app.clock import ensure_utc
from portal_app.config import PROJECT_ROOT
from portal_app.models import CreditNote, Invoice, InvoiceStatus, Merchant, Receipt
from portal_app.money import format_money
from portal_app.services import bill_to as bill_to_snapshot
from portal_app.services import invoices
from portal_app.services.errors import InvoiceError
from portal_app.services.features import FEATURES, FeatureSet
from portal_app.services.payment_methods import card_label

ASSETS_DIR = PROJECT_ROOT / "assets"
DEFAULT_COLOR = str(FEATURES["branding.color"].default)
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")
LOGO_MAX_BYTES = 2 * 1024 * 1024

STATUS_LABELS = {
    InvoiceStatus.OPEN: "Open",
    InvoiceStatus.PAID: "Paid",
    InvoiceStatus.VOID: "Void",
    InvoiceStatus.UNCOLLECTIBLE: "Uncollectible",
}


@dataclass(frozen=True)
class Document:
    """Everything a PDF shows, as plain strings; the PDF is a pure function of it."""

    title: str  # "Invoice" | "Receipt"
    number: str
    status: str
    issued_at: str  # ISO timestamp, the PDF's creation date
    merchant_name: str
    merchant_address: tuple[str, ...]
    bill_to: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]
    lines: tuple[tuple[str, str, str], ...]  # description, detail (e.g. period), amount
    totals: tuple[tuple[str, str, bool], ...]  # label, amount, emphasised
    notes: tuple[str, ...] = ()
    color: str = DEFAULT_COLOR
    logo: str = ""  # path relative to assets/, only ever a local file
    logo_digest: str = ""
    line_heading: str = "Description"
    ship_to: tuple[str, ...] = ()


def receipt_display_number(receipt: Receipt) -> str:
    return f"RCT-{receipt.number:06d}"


def invoice_document(session: Session, invoice: Invoice, features: FeatureSet) -> Document:
    if invoice.status == InvoiceStatus.DRAFT:
        raise InvoiceError("A draft invoice has no PDF; finalize it first.")
    merchant = session.get(Merchant, invoice.merchant_id)
    issued_to = bill_to_snapshot.of_invoice(session, invoice)
    lines = invoices.lines_of(session, invoice.id)
    currency = invoice.currency

    def money(amount: int) -> str:
        return _money(amount, currency)

    facts = [("Issued", _date(invoice.finalized_at)), ("Due", _date(invoice.due_at))]
    if invoice.paid_at:
        facts.append(("Paid", _date(invoice.paid_at)))
    if invoice.voided_at:
        facts.append(("Voided", _date(invoice.voided_at)))
    if invoice.period_start:
        facts.append(("Period", _period(invoice.period_start, invoice.period_end)))
    if invoice.replaces_invoice_id:
        replaced = session.get(Invoice, invoice.replaces_invoice_id)
        if replaced is not None:
            facts.append(("Replaces", invoices.display_number(replaced)))
    facts.append(("Currency", currency))

    voided = invoice.status == InvoiceStatus.VOID
    amount_due = 0 if voided else invoice.amount_due
    totals = (
        ("Subtotal", money(sum(line.amount for line in lines)), False),
        # No tax support yet: every invoice is tax-free and says so rather than inventing a rate.
        ("Tax", money(0), False),
        ("Total", money(invoice.total), True),
        ("Amount paid", money(invoice.amount_paid), False),
        ("Amount due", money(amount_due), True),
    )
    notes = []
    if voided:
        notes.append(f"This invoice was voided on {_date(invoice.voided_at)} and is not payable.")
    elif invoice.status == InvoiceStatus.PAID:
        notes.append(f"Paid in full on {_date(invoice.paid_at)}. Thank you!")
    elif invoice.status == InvoiceStatus.UNCOLLECTIBLE:
        notes.append("This invoice was marked uncollectible.")
    return Document(
        title="Invoice",
        number=invoices.display_number(invoice),
        status=STATUS_LABELS.get(invoice.status, invoice.status.title()),
        issued_at=_iso(invoice.finalized_at or invoice.created_at),
        merchant_name=_merchant_name(merchant, features),
        merchant_address=_text_lines(merchant.address),
        bill_to=bill_to_snapshot.lines(issued_to),
        ship_to=bill_to_snapshot.ship_to_lines(issued_to),
        facts=tuple(facts),
        lines=tuple(
            (
                line.description,
                _period(line.period_start, line.period_end) if line.period_start else "",
                money(line.amount),
            )
            for line in lines
        ),
        totals=totals,
        notes=tuple(notes),
        **_branding(features),
    )


def receipt_document(
    session: Session, receipt: Receipt, invoice: Invoice, features: FeatureSet
) -> Document:
    merchant = session.get(Merchant, receipt.merchant_id)
    issued_to = (
        receipt.bill_to
        if receipt.bill_to is not None
        else bill_to_snapshot.of_invoice(session, invoice)
    )
    amount = _money(receipt.amount, receipt.currency)
    number = invoices.display_number(invoice)
    return Document(
        title="Receipt",
        number=receipt_display_number(receipt),
        status="Paid",
        issued_at=_iso(receipt.created_at),
        merchant_name=_merchant_name(merchant, features),
        merchant_address=_text_lines(merchant.address),
        bill_to=bill_to_snapshot.lines(issued_to),
        ship_to=bill_to_snapshot.ship_to_lines(issued_to),
        facts=(
            ("Date paid", _date(receipt.created_at)),
            ("Invoice", number),
            ("Payment method", card_label(receipt.card_brand, receipt.card_last4)),
            ("Currency", receipt.currency),
        ),
        lines=((f"Payment for invoice {number}", "", amount),),
        totals=_receipt_totals(session, receipt),
        notes=("Thank you for your payment.",),
        **_branding(features),
    )


def _receipt_totals(session: Session, receipt: Receipt) -> tuple[tuple[str, str, bool], ...]:
    """Amount paid, then each credit note of the payment and what is left paid."""
    from portal_app.services.refunds import credit_note_number

    paid = (("Amount paid", _money(receipt.amount, receipt.currency), True),)
    notes = session.exec(
        select(CreditNote)
        .where(CreditNote.payment_id == receipt.payment_id)
        .order_by(CreditNote.created_at, CreditNote.id)
    ).all()
    if not notes:
        return paid
    refunds = tuple(
        (
            f"Refunded, {credit_note_number(n)} ({_date(n.created_at)})",
            _money(-n.amount, n.currency),
            False,
        )
        for n in notes
    )
    net = receipt.amount - sum(n.amount for n in notes)
    return (
        (paid[0][0], paid[0][1], False),
        *refunds,
        ("Net paid", _money(net, receipt.currency), True),
    )


@functools.lru_cache(maxsize=4096)
def _money(amount: int, currency: str) -> str:
    return format_money(amount, currency)


def _merchant_name(merchant: Merchant, features: FeatureSet) -> str:
    return str(features["branding.name"] or "").strip() or merchant.name


def _text_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def _date(value: datetime | None) -> str:
    if value is None:
        return ""
    value = ensure_utc(value)
    return f"{value:%b} {value.day}, {value.year}"


def _period(start: datetime | None, end: datetime | None) -> str:
    return f"{_date(start)} \u2013 {_date(end)}" if end else _date(start)


def _iso(value: datetime) -> str:
    return ensure_utc(value).isoformat()


_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def parse_color(value: object) -> tuple[int, int, int]:
    """'#4f46e5' / '#abc' → RGB; anything else → the default brand colour."""
    match = _HEX.fullmatch(value.strip()) if isinstance(value, str) else None
    digits = match.group(1) if match else DEFAULT_COLOR[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _branding(features: FeatureSet) -> dict[str, str]:
    red, green, blue = parse_color(features["branding.color"])
    logo = _local_logo(features["branding.logo_url"])
    return {
        "color": f"#{red:02x}{green:02x}{blue:02x}",
        "logo": logo.relative_to(ASSETS_DIR).as_posix() if logo else "",
        "logo_digest": _file_digest(logo) if logo else "",
    }


def _local_logo(value: object) -> Path | None:
    """A logo is drawn only from a PNG/JPEG file under assets/ ("/logo.png", "assets/x.png");
    URLs of any kind are ignored, never fetched."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if ":" in text or "\\" in text or text.startswith("//"):  # any scheme, UNC, host
        return None
    relative = text.lstrip("/")
    if relative.startswith("assets/"):
        relative = relative[len("assets/") :]
    root = ASSETS_DIR.resolve()
    try:
        path = (root / relative).resolve()
        path.relative_to(root)
    except (OSError, ValueError):
        return None
    if path.suffix.lower() not in LOGO_SUFFIXES:
        return None
    try:
        if not path.is_file() or path.stat().st_size > LOGO_MAX_BYTES:
            return None
    except OSError:
        return None
    return path


_digests: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    stat = path.stat()
    marker = (str(path), stat.st_mtime_ns, stat.st_size)
    digest = _digests.get(marker)
    if digest is None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        _digests[marker] = digest
    return digest
