"""Invoice and receipt PDFs (fpdf2, DejaVu Sans from assets/fonts), rendered once and cached.

A finalized invoice and a receipt never change, so a PDF is a pure function of what it shows.
`Document` collects exactly that (every string on the page, the brand colour, the logo's bytes
digest); its SHA-256, with the renderer version and the font files' digest, is the cache key.
A paid status, a new customer address or a new brand colour therefore yields a new key, and
the old file is simply never asked for again. Bytes are served from a small in-process LRU, then
from disk under PORTAL_CACHE_DIR (default <repo>/.cache/pdf, written atomically), and only then
rendered.

Rendering speed: parsing DejaVu with fontTools costs ~80 ms per face and fpdf2 re-parses it for
every document, then subsets the whole 6,000-glyph font again at output. Here each face is parsed
once per process into a template whose metrics every document shares; each document gets a
fresh copy of fpdf2's per-document state, and at output fpdf2 subsets a small cached pre-subset
of the font (the Unicode 128-code-point pages the document uses) instead of the full file. If a
future fpdf2 changes the internals this relies on, rendering falls back to plain `add_font`
(slower, same output) and logs a warning once.

Text the font cannot draw (CJK, emoji, …) is replaced by "?" before layout, so any name renders.
Scripts needing shaping or right-to-left reordering (Arabic, Hebrew) are drawn glyph by glyph.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path

from fontTools import subset as ftsubset
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import SubsetMap
from sqlmodel import Session, select

from portal_app.clock import Clock, ensure_utc
from portal_app.config import PROJECT_ROOT
from portal_app.models import Customer, Invoice, InvoiceStatus, Merchant, Receipt
from portal_app.money import format_money
from portal_app.services import invoices
from portal_app.services.errors import InvoiceError, NotFound
from portal_app.services.features import FEATURES, FeatureSet, require_feature
from portal_app.services.features import load as load_features

log = logging.getLogger(__name__)

# Bump when the layout changes, so cached PDFs of the old layout are not served any more.
RENDER_VERSION = 1

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
    """Parse the fonts now (~0.3 s once per process) instead of in the first download."""
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
    meta: dict[str, str] = field(default_factory=dict)


def cache_key(doc: Document) -> str:
    payload = {"v": RENDER_VERSION, "fonts": _font_digest(), "doc": asdict(doc)}
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def invoice_document(session: Session, invoice: Invoice, features: FeatureSet) -> Document:
    if invoice.status == InvoiceStatus.DRAFT:
        raise InvoiceError("A draft invoice has no PDF; finalize it first.")
    merchant = session.get(Merchant, invoice.merchant_id)
    customer = session.get(Customer, invoice.customer_id)
    lines = invoices.lines_of(session, invoice.id)
    currency = invoice.currency

    def money(amount: int) -> str:
        return format_money(amount, currency)

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
        bill_to=_bill_to(customer),
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
    customer = session.get(Customer, invoice.customer_id)
    amount = format_money(receipt.amount, receipt.currency)
    number = invoices.display_number(invoice)
    return Document(
        title="Receipt",
        number=receipt_display_number(receipt),
        status="Paid",
        issued_at=_iso(receipt.created_at),
        merchant_name=_merchant_name(merchant, features),
        merchant_address=_text_lines(merchant.address),
        bill_to=_bill_to(customer),
        facts=(
            ("Date paid", _date(receipt.created_at)),
            ("Invoice", number),
            ("Payment method", _card_label(receipt.card_brand, receipt.card_last4)),
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


def _merchant_name(merchant: Merchant, features: FeatureSet) -> str:
    return str(features["branding.name"] or "").strip() or merchant.name


def _bill_to(customer: Customer) -> tuple[str, ...]:
    return tuple(line for line in (customer.name.strip(), customer.email) if line) + _address_lines(
        customer.billing_address
    )


def _address_lines(address: dict | None) -> tuple[str, ...]:
    """Known keys in postal order (line1, line2, city/state/postal code, country)."""
    if not isinstance(address, dict):
        return ()

    def part(key: str) -> str:
        value = address.get(key)
        return str(value).strip() if isinstance(value, str | int) else ""

    city = ", ".join(p for p in (part("city"), part("state")) if p)
    locality = " ".join(p for p in (city, part("postal_code")) if p)
    lines = (part("company"), part("line1"), part("line2"), locality, part("country"))
    return tuple(line for line in lines if line)


def _card_label(brand: str, last4: str) -> str:
    """Brand and last four digits only, whatever the row holds."""
    digits = re.sub(r"\D", "", last4 or "")[-4:]
    name = (brand or "card").strip().title() or "Card"
    return f"{name} •••• {digits}" if digits else name


def _text_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def _date(value: datetime | None) -> str:
    if value is None:
        return ""
    value = ensure_utc(value)
    return f"{value:%b} {value.day}, {value.year}"


def _period(start: datetime | None, end: datetime | None) -> str:
    return f"{_date(start)} – {_date(end)}" if end else _date(start)


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
    if "://" in text or text.startswith(("//", "data:")) or ":" in text or "\\" in text:
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
        try:
            os.unlink(temp)
        except OSError:
            pass


# --- fonts ---------------------------------------------------------------------------------------

# Pages of 128 code points always in a document's font subset: Basic Latin, Latin-1, General
# Punctuation (dashes, bullets, quotes) and currency symbols (€ ₹ ₽ …).
_BASE_PAGES = frozenset({0x00, 0x01, 0x2000 >> 7, 0x2080 >> 7})
_SUBSETS_PER_FACE = 32
# Invisible code points (zero-width, joiners, variation selectors, emoji skin tones): dropped.
_INVISIBLE = frozenset(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, *range(0xFE00, 0xFE10), *range(0x1F3FB, 0x1F400)]
)
_TABLES_NOT_EMBEDDED = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "kern", "name"]


class _Face:
    """One font file parsed once: fpdf2's font object as a template for every document, plus
    pre-subsets of the file per set of Unicode pages, so fpdf2's output-time subsetting (which
    it does on every document) works on a few hundred glyphs instead of 6,000."""

    def __init__(self, style: str, path: Path):
        self.style = style
        self.path = path
        self.fontkey = f"{FAMILY}{style}"
        self.data = path.read_bytes()
        probe = FPDF()
        probe.add_font(FAMILY, style, str(path))
        self.template = probe.fonts[self.fontkey]
        self.coverage = frozenset(self.template.cmap)
        self._subsets: OrderedDict[frozenset[int], bytes] = OrderedDict()
        self._lock = threading.Lock()
        # The template's parsed tables are only needed once more: to cut the base subset.
        parsed = self.template.ttfont
        self.template.ttfont = None
        self._subsets[_BASE_PAGES] = self._cut(parsed, _BASE_PAGES)
        parsed.close()

    def attach(self, pdf: FPDF) -> None:
        """Register this face in `pdf` sharing the parsed metrics; per-document state is new."""
        font = copy.copy(self.template)
        font.i = len(pdf.fonts) + 1
        font.subset = SubsetMap(font)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.desc = copy.copy(self.template.desc)
        font.ttfont = None
        pdf.fonts[self.fontkey] = font

    def prepare_output(self, pdf: FPDF, text_codes: set[int]) -> None:
        """Give the document's font the pre-subset covering every glyph it uses."""
        font = pdf.fonts[self.fontkey]
        laid_out = {
            code for glyph, _ in font.subset.items() if glyph is not None for code in glyph.unicode
        }
        data = self.subset_for(laid_out | text_codes)
        font.ttfont = TTFont(BytesIO(data), lazy=True, recalcBBoxes=False, recalcTimestamp=False)

    def subset_for(self, codes: Iterable[int]) -> bytes:
        pages = _BASE_PAGES | {code >> 7 for code in codes}
        with self._lock:
            data = self._subsets.get(pages)
            if data is not None:
                self._subsets.move_to_end(pages)
                return data
            source = TTFont(BytesIO(self.data), lazy=True, recalcTimestamp=False)
            data = self._cut(source, pages)
            self._subsets[pages] = data
            while len(self._subsets) > _SUBSETS_PER_FACE:
                self._subsets.popitem(last=False)
            return data

    def _cut(self, ttfont: TTFont, pages: frozenset[int]) -> bytes:
        """Subset (destructively) to the covered code points of `pages`, keeping glyph names:
        fpdf2 finds glyphs in the embedded font by the names it read from the full file."""
        options = ftsubset.Options(
            glyph_names=True, notdef_outline=True, recommended_glyphs=True, hinting=False
        )
        options.layout_features = []
        options.drop_tables += _TABLES_NOT_EMBEDDED
        subsetter = ftsubset.Subsetter(options)
        subsetter.populate(unicodes=[code for code in self.coverage if code >> 7 in pages])
        subsetter.subset(ttfont)
        ttfont.recalcBBoxes = False
        out = BytesIO()
        ttfont.save(out)
        return out.getvalue()


class _Fonts:
    def __init__(self):
        self.faces = [_Face(style, FONT_DIR / name) for style, name in FONT_FILES.items()]
        # A character is drawn only if every face has it (names may be set in bold).
        self.coverage = frozenset.intersection(*(face.coverage for face in self.faces))

    def clean(self, text: str, multiline: bool = False) -> str:
        """NFC-normalise and replace what the font cannot draw with '?'; never raises."""
        text = unicodedata.normalize("NFC", str(text))
        out = []
        for char in text:
            code = ord(char)
            if (char == "\n" and multiline) or code in self.coverage:
                out.append(char)
            elif char in "\t\r\n":
                out.append(" ")
            elif code in _INVISIBLE or unicodedata.category(char) in ("Cc", "Cf", "Mn", "Me"):
                continue
            else:
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


# --- rendering -----------------------------------------------------------------------------------

PAGE_MARGIN = 18.0
GREY = (100, 107, 118)
DARK = (17, 24, 39)
RULE = (220, 223, 228)
AMOUNT_WIDTH = 42.0
TOTAL_LABEL_WIDTH = 48.0


class _DocumentPDF(FPDF):
    footer_text = ""

    def footer(self):
        self.set_y(-12)
        self.set_font(FAMILY, "", 7.5)
        self.set_text_color(*GREY)
        self.cell(0, 5, f"{self.footer_text} · Page {self.page_no()}/{{nb}}", align="C")


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


def _render(doc: Document, fonts: _Fonts, *, fast: bool) -> bytes:
    used: set[int] = set()

    def clean(text: str, multiline: bool = False) -> str:
        text = fonts.clean(text, multiline)
        used.update(map(ord, text))
        return text

    pdf = _DocumentPDF(unit="mm", format="A4")
    pdf.footer_text = clean(f"{doc.merchant_name} · {doc.title} {doc.number}")
    for face in fonts.faces:
        if fast:
            face.attach(pdf)
        else:
            pdf.add_font(FAMILY, face.style, str(face.path))
    pdf.set_margins(PAGE_MARGIN, 16, PAGE_MARGIN)
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_creation_date(datetime.fromisoformat(doc.issued_at))
    pdf.set_title(clean(f"{doc.title} {doc.number}"))
    pdf.set_author(clean(doc.merchant_name))
    pdf.set_creator("Portal")
    pdf.add_page()

    color = parse_color(doc.color)
    on_color = _readable_on(color)
    accent = color if _contrast(color, (255, 255, 255)) >= 3 else DARK
    width = pdf.w - 2 * PAGE_MARGIN
    left = PAGE_MARGIN

    # Brand bar and header: logo + merchant on the left, title + number + status on the right.
    pdf.set_fill_color(*color)
    pdf.rect(0, 0, pdf.w, 5, style="F")
    top = 16.0
    text_x = left
    logo = ASSETS_DIR / doc.logo if doc.logo else None
    if logo is not None:
        try:
            pdf.image(str(logo), x=left, y=top, h=14, keep_aspect_ratio=True, w=36)
            text_x = left + 40
        except Exception:  # an unreadable logo never blocks the document
            log.warning("logo %s could not be drawn", doc.logo, exc_info=True)
    column = width * 0.58 - (text_x - left)
    pdf.set_xy(text_x, top)
    pdf.set_text_color(*DARK)
    pdf.set_font(FAMILY, "B", 14)
    pdf.multi_cell(column, 6.5, clean(doc.merchant_name), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 8.5)
    pdf.set_text_color(*GREY)
    for line in doc.merchant_address:
        pdf.multi_cell(column, 4.2, clean(line), new_x=XPos.LEFT, new_y=YPos.NEXT)
    left_bottom = max(pdf.get_y(), top + (15 if text_x > left else 0))

    right_x, right_w = left + width * 0.58, width * 0.42
    pdf.set_xy(right_x, top)
    pdf.set_text_color(*accent)
    pdf.set_font(FAMILY, "B", 20)
    pdf.cell(right_w, 9, clean(doc.title.upper()), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_x(right_x)
    pdf.set_text_color(*DARK)
    pdf.set_font(FAMILY, "B", 11)
    pdf.cell(right_w, 6, clean(doc.number), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_x(right_x)
    pdf.set_font(FAMILY, "", 9)
    pdf.set_text_color(*GREY)
    pdf.cell(right_w, 5, clean(f"Status: {doc.status}"), align="R", new_y=YPos.NEXT)
    y = max(left_bottom, pdf.get_y()) + 8

    # Bill to (left) and the facts (right).
    pdf.set_xy(left, y)
    pdf.set_font(FAMILY, "B", 8)
    pdf.set_text_color(*GREY)
    pdf.cell(column, 5, "BILL TO", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(*DARK)
    for index, line in enumerate(doc.bill_to):
        pdf.set_font(FAMILY, "B" if index == 0 else "", 10 if index == 0 else 9)
        pdf.multi_cell(width * 0.55, 4.8, clean(line), new_x=XPos.LEFT, new_y=YPos.NEXT)
    bill_bottom = pdf.get_y()
    pdf.set_y(y)
    for label, value in doc.facts:
        pdf.set_x(right_x)
        pdf.set_font(FAMILY, "", 9)
        pdf.set_text_color(*GREY)
        pdf.cell(right_w * 0.38, 5, clean(label))
        pdf.set_text_color(*DARK)
        pdf.cell(right_w * 0.62, 5, clean(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(bill_bottom, pdf.get_y()) + 8)

    # Lines.
    desc_w = width - AMOUNT_WIDTH

    def table_header() -> None:
        pdf.set_fill_color(*color)
        pdf.set_text_color(*on_color)
        pdf.set_font(FAMILY, "B", 9)
        pdf.set_x(left)
        pdf.cell(desc_w, 7, f"  {doc.line_heading}", fill=True)
        pdf.cell(AMOUNT_WIDTH, 7, "Amount  ", align="R", fill=True, new_x=XPos.LMARGIN)
        pdf.ln(7)

    table_header()
    for description, detail, amount in doc.lines:
        description = clean(description, multiline=True)
        detail = clean(detail)
        pdf.set_font(FAMILY, "", 9.5)
        height = _text_height(pdf, desc_w - 4, description, 5) + (4.2 if detail else 0) + 3
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            table_header()
        row_top = pdf.get_y() + 1.5
        pdf.set_xy(left + 2, row_top)
        pdf.set_text_color(*DARK)
        pdf.multi_cell(desc_w - 4, 5, description, new_x=XPos.LEFT, new_y=YPos.NEXT)
        if detail:
            pdf.set_font(FAMILY, "", 7.5)
            pdf.set_text_color(*GREY)
            pdf.cell(desc_w - 4, 4.2, detail, new_x=XPos.LEFT, new_y=YPos.NEXT)
        bottom = pdf.get_y()
        pdf.set_xy(left + desc_w, row_top)
        pdf.set_font(FAMILY, "", 9.5)
        pdf.set_text_color(*DARK)
        pdf.cell(AMOUNT_WIDTH - 2, 5, clean(amount), align="R")
        pdf.set_draw_color(*RULE)
        pdf.line(left, bottom + 1.5, left + width, bottom + 1.5)
        pdf.set_y(bottom + 1.5)

    # Totals, right-aligned.
    needed = 6.5 * len(doc.totals) + 6
    if pdf.get_y() + needed > pdf.page_break_trigger:
        pdf.add_page()
    pdf.ln(3)
    label_x = left + width - AMOUNT_WIDTH - TOTAL_LABEL_WIDTH
    for label, amount, strong in doc.totals:
        pdf.set_x(label_x)
        pdf.set_font(FAMILY, "B" if strong else "", 10.5 if strong else 9.5)
        pdf.set_text_color(*(DARK if strong else GREY))
        pdf.cell(TOTAL_LABEL_WIDTH, 6.5, clean(label))
        pdf.set_text_color(*DARK)
        pdf.cell(AMOUNT_WIDTH - 2, 6.5, clean(amount), align="R", new_x=XPos.LMARGIN)
        pdf.ln(6.5)

    if doc.notes:
        pdf.ln(6)
        pdf.set_font(FAMILY, "", 9)
        pdf.set_text_color(*GREY)
        for note in doc.notes:
            pdf.set_x(left)
            pdf.multi_cell(width, 5, clean(note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.alias_nb_pages()
    if fast:
        # output() still draws the last page's footer, whose text went through clean() above:
        # the glyphs laid out so far plus every cleaned string cover the whole document.
        for face in fonts.faces:
            face.prepare_output(pdf, used)
    return bytes(pdf.output())


def _text_height(pdf: FPDF, width: float, text: str, line_height: float) -> float:
    if "\n" not in text and pdf.get_string_width(text) <= width:
        return line_height
    lines = pdf.multi_cell(width, line_height, text, dry_run=True, output="LINES")
    return line_height * max(1, len(lines))


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
