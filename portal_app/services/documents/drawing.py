"""A `Document` laid out on an A4 page with fpdf2 (the expensive step the cache avoids).

The fast path embeds fonts with our own OutputProducer (fonts.py). If a future fpdf2 changes the
internals this relies on, rendering falls back to plain `add_font` + fpdf2's own output (slower,
same text) and logs a warning once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal_app.services.documents import facts
from portal_app.services.documents.facts import Document, parse_color
from portal_app.services.documents.fonts import FAMILY, _Fonts, _fonts, _output_producer

log = logging.getLogger(__name__)

# Bump when the layout changes, so cached PDFs of the old layout are not served any more.
RENDER_VERSION = 2  # 2: bill-to from the issue-time snapshot, with custom fields and ship-to

_fallbacks = 0

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
            pdf.image(
                str(facts.ASSETS_DIR / doc.logo), x=left, y=top, w=36, h=14, keep_aspect_ratio=True
            )
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
