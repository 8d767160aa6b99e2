"""Invoice and receipt PDFs (fpdf2, DejaVu Sans from assets/fonts), rendered once and cached.

A finalized invoice and a receipt never change, so a PDF is a pure function of what it shows.
`Document` collects exactly that (every string on the page, the brand colour, the logo's
digest); its SHA-256, with the renderer version and the font files' digest, is the cache key.
A paid status or a new brand colour therefore yields a new key, and the old file is simply never
asked for again. The customer block comes from the bill-to stored when the document was issued
(services/bill_to.py), not from the live profile: a later profile change leaves the key, and the
PDF, as they were. Bytes are served from a small in-process LRU, then from disk under
PORTAL_CACHE_DIR (default <repo>/.cache/pdf, written atomically), and only then rendered.

Rendering speed: plain fpdf2 parses the TTF with fontTools for every document (~80 ms per face)
and at output re-subsets the whole 6,000-glyph font with fontTools and builds a 128 KiB
CIDToGIDMap in a Python list (~10 ms per face). Here each face is parsed once per process into a
template whose metrics every document shares (each document gets fresh per-document state), and
a custom OutputProducer embeds each face by cutting the used glyphs straight from the raw
TrueType tables, keeping glyph ids (`_TrueType.subset`, well under 1 ms). If a future fpdf2
changes the internals this relies on, rendering falls back to plain `add_font` + fpdf2's own
output (slower, same text) and logs a warning once.

Text the font cannot draw (CJK, emoji, …) is replaced by "?" before layout, so any name renders.
Scripts needing shaping or right-to-left reordering (Arabic, Hebrew) are drawn glyph by glyph.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import os
import re
import struct
import tempfile
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlmodel import Session, select

from portal_app.clock import Clock, ensure_utc
from portal_app.config import PROJECT_ROOT
from portal_app.models import Invoice, InvoiceStatus, Merchant, Receipt
from portal_app.money import format_money
from portal_app.services import bill_to as bill_to_snapshot
from portal_app.services import invoices
from portal_app.services.errors import InvoiceError, NotFound
from portal_app.services.features import FEATURES, FeatureSet, require_feature
from portal_app.services.features import load as load_features
from portal_app.services.payment_methods import card_label

log = logging.getLogger(__name__)

# Bump when the layout changes, so cached PDFs of the old layout are not served any more.
RENDER_VERSION = 2  # 2: bill-to from the issue-time snapshot, with custom fields and ship-to

ASSETS_DIR = PROJECT_ROOT / "assets"
FONT_DIR = ASSETS_DIR / "fonts"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FAMILY = "dejavu"
DEFAULT_COLOR = str(FEATURES["branding.color"].default)
DEFAULT_CACHE_DIR = PROJECT_ROOT / ".cache" / "pdf"
MEMORY_CACHE_ENTRIES = 256
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")
LOGO_MAX_BYTES = 2 * 1024 * 1024

STATUS_LABELS = {
    InvoiceStatus.OPEN: "Open",
    InvoiceStatus.PAID: "Paid",
    InvoiceStatus.VOID: "Void",
    InvoiceStatus.UNCOLLECTIBLE: "Uncollectible",
}


# --- public API ----------------------------------------------------------------------------------


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


def receipt_display_number(receipt: Receipt) -> str:
    return f"RCT-{receipt.number:06d}"


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


def clear_memory_cache() -> None:
    _memory.clear()


def cache_dir() -> Path:
    return Path(os.environ.get("PORTAL_CACHE_DIR") or DEFAULT_CACHE_DIR)


# --- what a document shows -----------------------------------------------------------------------


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


def cache_key(doc: Document) -> str:
    payload = {"v": RENDER_VERSION, "fonts": _font_digest(), "doc": asdict(doc)}
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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
        totals=(("Amount paid", amount, True),),
        notes=("Thank you for your payment.",),
        **_branding(features),
    )


def _invoice_bytes(session: Session, invoice: Invoice, features: FeatureSet) -> tuple[bytes, str]:
    doc = invoice_document(session, invoice, features)
    return _cached_pdf(doc), f"{doc.number}.pdf"


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


_font_digest_value: str | None = None


def _font_digest() -> str:
    global _font_digest_value
    if _font_digest_value is None:
        hasher = hashlib.sha256()
        for name in sorted(FONT_FILES.values()):
            hasher.update((FONT_DIR / name).read_bytes())
        _font_digest_value = hasher.hexdigest()
    return _font_digest_value


# --- cache ---------------------------------------------------------------------------------------


class _MemoryCache:
    def __init__(self, entries: int):
        self.entries = entries
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._items[key] = data
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_memory = _MemoryCache(MEMORY_CACHE_ENTRIES)


def _cached_pdf(doc: Document) -> bytes:
    key = cache_key(doc)
    data = _memory.get(key)
    if data is not None:
        return data
    path = cache_dir() / key[:2] / f"{key}.pdf"
    data = _read_cached(path)
    if data is None:
        data = render(doc)
        _write_atomic(path, data)
    _memory.put(key, data)
    return data


def _read_cached(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    # A truncated file (crash, full disk) is re-rendered rather than served.
    if data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"):
        return data
    return None


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory and rename it over the target, so a
    reader sees the whole file or none. PDFs hold customer details: directory 0700, file 0600."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pdf")
    except OSError as exc:
        log.warning("PDF cache not writable (%s); serving without disk cache", exc)
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except OSError as exc:
        log.warning("PDF cache write failed (%s)", exc)
        with contextlib.suppress(OSError):
            os.unlink(temp)


# --- fonts ---------------------------------------------------------------------------------------

# Invisible code points (zero-width, joiners, variation selectors, emoji skin tones): dropped.
_INVISIBLE = frozenset(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, *range(0xFE00, 0xFE10), *range(0x1F3FB, 0x1F400)]
)


class _TrueType:
    """Just enough of a TrueType file to embed the glyphs a document uses. Glyph ids are kept
    (unused glyphs are emptied, not removed), so no renumbering, and the result is a valid
    font: the PDF maps its codes to these ids with a CIDToGIDMap. Hinting instructions are
    dropped (like fontTools' subsetter with hinting=False), which halves the glyph data."""

    COPIED = ("OS/2", "hhea", "maxp")

    def __init__(self, data: bytes):
        version, count = struct.unpack_from(">IH", data, 0)
        if version != 0x00010000:
            raise ValueError("not a TrueType-outline font")
        self.tables: dict[str, bytes] = {}
        for index in range(count):
            tag, _, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * index)
            self.tables[tag.decode("latin-1")] = data[offset : offset + length]
        self.num_glyphs = struct.unpack_from(">H", self.tables["maxp"], 4)[0]
        self.num_hmetrics = struct.unpack_from(">H", self.tables["hhea"], 34)[0]
        count = self.num_glyphs + 1
        if struct.unpack_from(">h", self.tables["head"], 50)[0] == 1:
            self.offsets = struct.unpack_from(f">{count}I", self.tables["loca"])
        else:
            self.offsets = tuple(
                2 * o for o in struct.unpack_from(f">{count}H", self.tables["loca"])
            )
        self.glyf = self.tables["glyf"]
        self._unhinted: dict[int, bytes] = {}

    def glyph(self, gid: int) -> bytes:
        """A glyph's data without its hinting instructions (memoised; glyphs never change)."""
        data = self._unhinted.get(gid)
        if data is not None:
            return data
        data = self.glyf[self.offsets[gid] : self.offsets[gid + 1]]
        if len(data) >= 10:
            contours = struct.unpack_from(">h", data, 0)[0]
            if contours >= 0:  # simple glyph: drop instructionLength bytes of instructions
                at = 10 + 2 * contours
                length = struct.unpack_from(">H", data, at)[0]
                data = data[:at] + b"\0\0" + data[at + 2 + length :]
            else:  # composite glyph: cut the instructions after the last component
                data = bytearray(data)
                pos = 10
                while True:
                    flags = struct.unpack_from(">H", data, pos)[0]
                    struct.pack_into(">H", data, pos, flags & ~0x0100)  # WE_HAVE_INSTRUCTIONS
                    pos += 4 + (4 if flags & 0x0001 else 2)
                    pos += (
                        2 if flags & 0x0008 else 4 if flags & 0x0040 else 8 if flags & 0x0080 else 0
                    )
                    if not flags & 0x0020:
                        break
                data = bytes(data[:pos])
        self._unhinted[gid] = data
        return data

    def components(self, gid: int) -> list[int]:
        """Glyphs a composite glyph (e.g. 'ë' = 'e' + '¨') is built from."""
        start, end = self.offsets[gid], self.offsets[gid + 1]
        if end - start < 10 or struct.unpack_from(">h", self.glyf, start)[0] >= 0:
            return []
        found, pos = [], start + 10
        while True:
            flags, component = struct.unpack_from(">HH", self.glyf, pos)
            found.append(component)
            pos += 4 + (4 if flags & 0x0001 else 2)
            pos += 2 if flags & 0x0008 else 4 if flags & 0x0040 else 8 if flags & 0x0080 else 0
            if not flags & 0x0020:
                return found

    def subset(self, unicode_to_gid: dict[int, int]) -> bytes:
        todo, kept = [0, *unicode_to_gid.values()], set()
        while todo:
            gid = todo.pop()
            if gid not in kept and 0 <= gid < self.num_glyphs:
                kept.add(gid)
                todo.extend(self.components(gid))
        gids = sorted(kept)
        glyf, loca, filled = bytearray(), [0] * (self.num_glyphs + 1), 0
        hmtx_in, hmtx = self.tables["hmtx"], bytearray(len(self.tables["hmtx"]))
        long_metrics = self.num_hmetrics
        for gid in [*gids, long_metrics - 1]:  # the last long metric also serves later glyphs
            at = 4 * gid if gid < long_metrics else 4 * long_metrics + 2 * (gid - long_metrics)
            size = 4 if gid < long_metrics else 2
            hmtx[at : at + size] = hmtx_in[at : at + size]
        for gid in gids:
            loca[filled : gid + 1] = [len(glyf)] * (gid + 1 - filled)
            glyf += self.glyph(gid)
            glyf += bytes(-len(glyf) % 4)
            filled = gid + 1
        loca[filled:] = [len(glyf)] * (self.num_glyphs + 1 - filled)
        head = bytearray(self.tables["head"])
        struct.pack_into(">I", head, 8, 0)  # checkSumAdjustment, set below
        struct.pack_into(">h", head, 50, 1)  # long loca offsets
        post = bytearray(self.tables["post"][:32])
        struct.pack_into(">I", post, 0, 0x00030000)  # version 3: no glyph names
        tables = {tag: self.tables[tag] for tag in self.COPIED if tag in self.tables}
        tables.update(
            head=bytes(head),
            hmtx=bytes(hmtx),
            loca=struct.pack(f">{len(loca)}I", *loca),
            glyf=bytes(glyf),
            post=bytes(post),
            cmap=_cmap_table(unicode_to_gid),
        )
        return _sfnt(tables)


def _checksum(data: bytes) -> int:
    data = data + bytes(-len(data) % 4)
    return sum(struct.unpack(f">{len(data) // 4}I", data)) & 0xFFFFFFFF


def _sfnt(tables: dict[str, bytes]) -> bytes:
    tags = sorted(tables)
    selector = len(tags).bit_length() - 1
    search = 16 * (1 << selector)
    header = struct.pack(">IHHHH", 0x00010000, len(tags), search, selector, 16 * len(tags) - search)
    offset, records, body, total, head_at = 12 + 16 * len(tags), [], bytearray(), 0, 0
    for tag in tags:
        data = tables[tag]
        checksum = _checksum(data)
        total += checksum
        if tag == "head":
            head_at = offset + len(body)
        records.append(
            struct.pack(">4sIII", tag.encode("latin-1"), checksum, offset + len(body), len(data))
        )
        body += data + bytes(-len(data) % 4)
    directory = header + b"".join(records)
    font = bytearray(directory + body)
    adjustment = (0xB1B0AFBA - (_checksum(directory) + total)) & 0xFFFFFFFF
    struct.pack_into(">I", font, head_at + 8, adjustment)
    return bytes(font)


def _cmap_table(unicode_to_gid: dict[int, int]) -> bytes:
    """A format 4 (Windows Unicode BMP) cmap for the kept characters: PDF readers map codes to
    glyphs with the CIDToGIDMap, but some expect a cmap in every TrueType program."""
    segments: list[list[int]] = []  # [first code, last code, first gid]
    for code, gid in sorted(unicode_to_gid.items()):
        if code >= 0xFFFF:
            continue
        last = segments[-1] if segments else None
        if last and code == last[1] + 1 and gid == last[2] + code - last[0]:
            last[1] = code
        else:
            segments.append([code, code, gid])
    segments = segments[:4000]  # stays under the 64 KiB subtable limit
    segments.append([0xFFFF, 0xFFFF, 0])
    count = len(segments)
    selector = count.bit_length() - 1
    search = 2 * (1 << selector)
    body = b"".join(
        (
            struct.pack(f">{count}H", *(s[1] for s in segments)),
            b"\0\0",
            struct.pack(f">{count}H", *(s[0] for s in segments)),
            struct.pack(f">{count}H", *((s[2] - s[0]) & 0xFFFF for s in segments)),
            bytes(2 * count),
        )
    )
    subtable = (
        struct.pack(">7H", 4, 14 + len(body), 0, 2 * count, search, selector, 2 * count - search)
        + body
    )
    return struct.pack(">HHHHI", 0, 1, 3, 1, 12) + subtable


class _Face:
    """One font file parsed once per process: fpdf2's font object (metrics, cmap) serves as the
    template for every document's copy, and the raw tables for each document's subset."""

    def __init__(self, style: str, path: Path):
        self.style = style
        self.path = path
        self.fontkey = f"{FAMILY}{style}"
        probe = FPDF()
        probe.add_font(FAMILY, style, str(path))
        self.template = probe.fonts[self.fontkey]
        self.coverage = frozenset(self.template.cmap)
        parsed = self.template.ttfont
        self.gid_by_name = {name: gid for gid, name in enumerate(parsed.getGlyphOrder())}
        # Documents never touch the parsed fontTools tables again: release them.
        self.template.ttfont = None
        parsed.close()
        self.truetype = _TrueType(path.read_bytes())

    def attach(self, pdf: FPDF) -> None:
        """Register this face in `pdf`: shared metrics, fresh per-document state."""
        from fpdf.fonts import SubsetMap

        font = copy.copy(self.template)
        font.i = len(pdf.fonts) + 1
        font.subset = SubsetMap(font)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.desc = copy.copy(self.template.desc)
        pdf.fonts[self.fontkey] = font


class _Fonts:
    def __init__(self):
        self.faces = [_Face(style, FONT_DIR / name) for style, name in FONT_FILES.items()]
        self.by_key = {face.fontkey: face for face in self.faces}
        # A character is drawn only if every face has it (names may be set in bold).
        self.coverage = frozenset.intersection(*(face.coverage for face in self.faces))

    def clean(self, text: str, multiline: bool = False) -> str:
        """NFC-normalise and replace what the font cannot draw with '?'; never raises."""
        text = unicodedata.normalize("NFC", str(text))
        out = []
        for char in text:
            code = ord(char)
            if char == "\n" and multiline:
                out.append(char)
            elif char in "\t\r\n":
                out.append(" ")
            elif code in _INVISIBLE or code < 0x20 or 0x7F <= code < 0xA0:
                continue
            elif code in self.coverage:
                out.append(char)
            elif unicodedata.category(char) not in ("Cf", "Mn", "Me"):
                out.append("?")
        return "".join(out)


_fonts_instance: _Fonts | None = None
_fonts_lock = threading.Lock()
_fallbacks = 0


def _fonts() -> _Fonts:
    global _fonts_instance
    if _fonts_instance is None:
        with _fonts_lock:
            if _fonts_instance is None:
                _fonts_instance = _Fonts()
    return _fonts_instance


@functools.cache
def _output_producer() -> type:
    """fpdf2's OutputProducer with our own font embedding: fpdf2 re-subsets the whole font with
    fontTools and builds a 128 KiB CIDToGIDMap in a Python list for every document (~10 ms per
    face, most of a render); here a face's subset is cut from its raw tables in under 1 ms."""
    from fpdf.output import CIDSystemInfo, OutputProducer, PDFFont, PDFFontStream
    from fpdf.syntax import Name, PDFArray, PDFContentStream

    class PortalOutputProducer(OutputProducer):
        def _add_fonts(self, *_args, **_kwargs):
            faces = self.fpdf.portal_fonts.by_key
            objects = {}
            for font in sorted(self.fpdf.fonts.values(), key=lambda font: font.i):
                objects[font.i] = self._embed(faces[font.fontkey], font)
            # fpdf2's class-level method caches would keep every document alive (fpdf2 clears
            # them in the method replaced here).
            from fpdf.fonts import SubsetMap

            SubsetMap.pick.cache_clear()
            SubsetMap.get_glyph.cache_clear()
            return objects

        def _embed(self, face: _Face, font) -> PDFFont:
            used = [(glyph, code) for glyph, code in font.subset.items() if glyph is not None]
            code_to_gid = {code: face.gid_by_name[glyph.glyph_name] for glyph, code in used}
            unicode_to_gid = {
                char: code_to_gid[code] for glyph, code in used for char in glyph.unicode if char
            }
            program = face.truetype.subset(unicode_to_gid)
            name = f"{_subset_tag(program)}+{font.name}"

            composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
            self._add_pdf_obj(composite, "fonts")
            widths = {code: glyph.glyph_width for glyph, code in used}
            cid_font = PDFFont(
                subtype="CIDFontType2",
                base_font=name,
                d_w=font.desc.missing_width,
                w=_widths_array(widths),
            )
            self._add_pdf_obj(cid_font, "fonts")
            composite.descendant_fonts = PDFArray([cid_font])

            to_unicode = PDFContentStream(_to_unicode_cmap(used).encode("latin-1"), compress=True)
            self._add_pdf_obj(to_unicode, "fonts")
            composite.to_unicode = to_unicode

            system_info = CIDSystemInfo()
            self._add_pdf_obj(system_info, "fonts")
            cid_font.c_i_d_system_info = system_info

            descriptor = font.desc
            descriptor.font_name = Name(name)
            self._add_pdf_obj(descriptor, "fonts")
            cid_font.font_descriptor = descriptor

            # Codes are handed out from 0 upwards, so the map stops at the highest one used.
            cid_to_gid = bytearray(2 * (max(code_to_gid, default=0) + 1))
            for code, gid in code_to_gid.items():
                cid_to_gid[2 * code : 2 * code + 2] = gid.to_bytes(2, "big")
            cid_map = PDFContentStream(contents=bytes(cid_to_gid), compress=True)
            self._add_pdf_obj(cid_map, "fonts")
            cid_font.c_i_d_to_g_i_d_map = cid_map

            font_file = PDFFontStream(contents=program)
            self._add_pdf_obj(font_file, "fonts")
            descriptor.font_file2 = font_file
            return composite

    return PortalOutputProducer


def _subset_tag(program: bytes) -> str:
    """Six capital letters naming this subset (PDF 32000 9.6.4), derived from its content."""
    number = int.from_bytes(hashlib.sha256(program).digest()[:8], "big")
    letters = []
    for _ in range(6):
        number, digit = divmod(number, 26)
        letters.append(chr(65 + digit))
    return "".join(letters)


def _widths_array(widths: dict[int, int]) -> str:
    runs: list[tuple[int, list[int]]] = []
    for code, width in sorted(widths.items()):
        if runs and code == runs[-1][0] + len(runs[-1][1]):
            runs[-1][1].append(width)
        else:
            runs.append((code, [width]))
    return "[" + " ".join(f"{start} [{' '.join(map(str, ws))}]" for start, ws in runs) + "]"


def _to_unicode_cmap(used) -> str:
    def utf16(chars: tuple[int, ...]) -> str:
        return "".join(chr(c).encode("utf-16-be").hex().upper() for c in chars)

    entries = [
        f"<{code:04X}> <{utf16(glyph.unicode)}>"
        for glyph, code in used
        if isinstance(glyph.unicode, tuple) and any(glyph.unicode)
    ]
    blocks = [
        f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar\n"
        for chunk in (entries[i : i + 100] for i in range(0, len(entries), 100))
    ]
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "".join(blocks)
        + "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    )


# --- rendering -----------------------------------------------------------------------------------

PAGE_MARGIN = 18.0
GREY = (100, 107, 118)
DARK = (17, 24, 39)
RULE = (220, 223, 228)
WHITE = (255, 255, 255)
AMOUNT_WIDTH = 42.0
TOTAL_LABEL_WIDTH = 48.0
BOTTOM = 297.0 - 22.0  # lowest baseline area before the footer (A4, mm)


class _DocumentPDF(FPDF):
    portal_fonts: _Fonts | None = None


def render(doc: Document) -> bytes:
    """Lay out `doc` and return the PDF bytes (the expensive step the cache avoids)."""
    global _fallbacks
    fonts = _fonts()
    try:
        return _render(doc, fonts, fast=True)
    except Exception:
        # Only fpdf2 internals changing under the fast path should land here; the plain path
        # re-raises anything that is really wrong with the document.
        _fallbacks += 1
        if _fallbacks == 1:
            log.warning("fast PDF font path failed; using fpdf2 add_font", exc_info=True)
        return _render(doc, fonts, fast=False)


class _Writer:
    """Positioned text on top of FPDF.text(): a single line costs ~0.02 ms where cell() costs
    ~0.1 ms and multi_cell() ~0.6 ms, so multi_cell() is used only for text that must wrap."""

    def __init__(self, pdf: FPDF):
        self.pdf = pdf

    def style(self, bold: bool, size: float, color: tuple[int, int, int]) -> None:
        self.pdf.set_font(FAMILY, "B" if bold else "", size)
        self.pdf.set_text_color(*color)

    def line(self, x: float, y: float, w: float, h: float, text: str, align: str = "L") -> None:
        """One line in the box (x, y, w, h), vertically centred; clipped text is not wrapped."""
        pdf = self.pdf
        if align == "R":
            x += w - pdf.get_string_width(text)
        elif align == "C":
            x += (w - pdf.get_string_width(text)) / 2
        pdf.text(x, y + 0.5 * h + 0.3 * pdf.font_size, text)

    def block(self, x: float, y: float, w: float, h: float, text: str) -> float:
        """Left-aligned text wrapped to width w; returns the y below it."""
        if "\n" not in text and self.pdf.get_string_width(text) <= w:
            self.line(x, y, w, h, text)
            return y + h
        self.pdf.set_xy(x, y)
        self.pdf.multi_cell(w, h, text, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        return self.pdf.get_y()

    def height(self, w: float, h: float, text: str) -> float:
        if "\n" not in text and self.pdf.get_string_width(text) <= w:
            return h
        lines = self.pdf.multi_cell(w, h, text, align="L", dry_run=True, output="LINES")
        return h * max(1, len(lines))


def _render(doc: Document, fonts: _Fonts, *, fast: bool) -> bytes:
    clean = fonts.clean
    pdf = _DocumentPDF(unit="mm", format="A4")
    for face in fonts.faces:
        if fast:
            face.attach(pdf)
        else:
            pdf.add_font(FAMILY, face.style, str(face.path))
    pdf.set_margins(PAGE_MARGIN, 16, PAGE_MARGIN)
    pdf.c_margin = 0
    pdf.set_auto_page_break(False)  # rows break pages explicitly, repeating the table header
    pdf.set_creation_date(datetime.fromisoformat(doc.issued_at))
    pdf.set_title(clean(f"{doc.title} {doc.number}"))
    pdf.set_author(clean(doc.merchant_name))
    pdf.set_creator("Portal")
    pdf.add_page()
    out = _Writer(pdf)

    color = parse_color(doc.color)
    on_color = _readable_on(color)
    accent = color if _contrast(color, WHITE) >= 3 else DARK
    width = pdf.w - 2 * PAGE_MARGIN
    left = PAGE_MARGIN
    right_x, right_w = left + width * 0.58, width * 0.42

    # Brand bar and header: logo + merchant on the left, title + number + status on the right.
    pdf.set_fill_color(*color)
    pdf.rect(0, 0, pdf.w, 5, style="F")
    top = 16.0
    text_x = left
    if doc.logo:
        try:
            pdf.image(str(ASSETS_DIR / doc.logo), x=left, y=top, w=36, h=14, keep_aspect_ratio=True)
            text_x = left + 40
        except Exception:  # an unreadable logo never blocks the document
            log.warning("logo %s could not be drawn", doc.logo, exc_info=True)
    column = right_x - 6 - text_x
    out.style(True, 14, DARK)
    y = out.block(text_x, top, column, 6.5, clean(doc.merchant_name))
    out.style(False, 8.5, GREY)
    for line in doc.merchant_address:
        y = out.block(text_x, y, column, 4.2, clean(line))
    left_bottom = max(y, top + 15 if text_x > left else y)

    out.style(True, 20, accent)
    out.line(right_x, top, right_w, 9, clean(doc.title.upper()), "R")
    out.style(True, 11, DARK)
    out.line(right_x, top + 9, right_w, 6, clean(doc.number), "R")
    out.style(False, 9, GREY)
    out.line(right_x, top + 15, right_w, 5, clean(f"Status: {doc.status}"), "R")
    y = max(left_bottom, top + 20) + 8

    # Bill to (left) and the facts (right).
    bill_w = right_x - 6 - left
    out.style(True, 8, GREY)
    out.line(left, y, bill_w, 5, "BILL TO")
    bill_y = y + 5
    for index, line in enumerate(doc.bill_to):
        out.style(index == 0, 10 if index == 0 else 9, DARK)
        bill_y = out.block(left, bill_y, bill_w, 4.8, clean(line))
    if doc.ship_to:
        bill_y += 3
        out.style(True, 8, GREY)
        out.line(left, bill_y, bill_w, 5, "SHIP TO")
        bill_y += 5
        out.style(False, 9, DARK)
        for line in doc.ship_to:
            bill_y = out.block(left, bill_y, bill_w, 4.8, clean(line))
    facts_y = y
    for label, value in doc.facts:
        out.style(False, 9, GREY)
        out.line(right_x, facts_y, right_w, 5, clean(label))
        out.style(False, 9, DARK)
        out.line(right_x, facts_y, right_w, 5, clean(value), "R")
        facts_y += 5
    y = max(bill_y, facts_y) + 8

    # Lines.
    desc_w = width - AMOUNT_WIDTH - 4

    def table_header(y: float) -> float:
        pdf.set_fill_color(*color)
        pdf.rect(left, y, width, 7, style="F")
        out.style(True, 9, on_color)
        out.line(left + 2, y, desc_w, 7, clean(doc.line_heading))
        out.line(left + width - AMOUNT_WIDTH, y, AMOUNT_WIDTH - 2, 7, "Amount", "R")
        return y + 7

    y = table_header(y)
    pdf.set_draw_color(*RULE)
    for description, detail, amount in doc.lines:
        description = clean(description, multiline=True)
        detail = clean(detail)
        out.style(False, 9.5, DARK)
        height = out.height(desc_w, 5, description) + (4.2 if detail else 0) + 3
        if y + height > BOTTOM:
            pdf.add_page()
            y = table_header(16.0)
        row_top = y + 1.5
        out.style(False, 9.5, DARK)
        bottom = out.block(left + 2, row_top, desc_w, 5, description)
        out.line(left + width - AMOUNT_WIDTH, row_top, AMOUNT_WIDTH - 2, 5, clean(amount), "R")
        if detail:
            out.style(False, 7.5, GREY)
            out.line(left + 2, bottom, desc_w, 4.2, detail)
            bottom += 4.2
        y = bottom + 1.5
        pdf.line(left, y, left + width, y)

    # Totals, right-aligned.
    if y + 6.5 * len(doc.totals) + 4 > BOTTOM:
        pdf.add_page()
        y = 16.0
    y += 3
    label_x = left + width - AMOUNT_WIDTH - TOTAL_LABEL_WIDTH
    for label, amount, strong in doc.totals:
        out.style(strong, 10.5 if strong else 9.5, DARK if strong else GREY)
        out.line(label_x, y, TOTAL_LABEL_WIDTH, 6.5, clean(label))
        out.style(strong, 10.5 if strong else 9.5, DARK)
        out.line(left + width - AMOUNT_WIDTH, y, AMOUNT_WIDTH - 2, 6.5, clean(amount), "R")
        y += 6.5

    if doc.notes:
        y += 6
        out.style(False, 9, GREY)
        for note in doc.notes:
            note = clean(note)
            if y + out.height(width, 5, note) > BOTTOM:
                pdf.add_page()
                y = 16.0
            y = out.block(left, y, width, 5, note)

    # Footers last, once the page count is known (FPDF.text() does not expand {nb}).
    out.style(False, 7.5, GREY)
    name = clean(doc.merchant_name)
    footer = f"{name} · {doc.title} {clean(doc.number)}"
    if pdf.get_string_width(footer) > width - 30:
        footer = f"{name[:40]}… · {doc.title} {clean(doc.number)}"
    pages = pdf.page
    for number in range(1, pages + 1):
        pdf.page = number
        out.line(left, pdf.h - 13, width, 5, f"{footer} · Page {number}/{pages}", "C")
    pdf.page = pages

    if fast:
        pdf.portal_fonts = fonts
        return bytes(pdf.output(output_producer_class=_output_producer()))
    return bytes(pdf.output())


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _readable_on(color: tuple[int, int, int]) -> tuple[int, int, int]:
    white = (255, 255, 255)
    return white if _contrast(color, white) >= _contrast(color, DARK) else DARK
