"""The DejaVu Sans faces (assets/fonts), parsed once per process, and a TrueType subsetter.

Plain fpdf2 parses the TTF with fontTools for every document (~80 ms per face) and at output
re-subsets the whole 6,000-glyph font with fontTools and builds a 128 KiB CIDToGIDMap in a Python
list (~10 ms per face). Here each face is parsed once per process into a template whose metrics
every document shares (each document gets fresh per-document state), and a custom
OutputProducer embeds each face by cutting the used glyphs straight from the raw TrueType
tables, keeping glyph ids (`_TrueType.subset`, well under 1 ms).

Text the font cannot draw (CJK, emoji, …) is replaced by "?" before layout, so any name renders.
Scripts needing shaping or right-to-left reordering (Arabic, Hebrew) are drawn glyph by glyph.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import struct
import threading
import unicodedata
from pathlib import Path

from fpdf import FPDF

from portal_app.config import PROJECT_ROOT

FONT_DIR = PROJECT_ROOT / "assets" / "fonts"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FAMILY = "dejavu"


_font_digest_value: str | None = None


def _font_digest() -> str:
    global _font_digest_value
    if _font_digest_value is None:
        hasher = hashlib.sha256()
        for name in sorted(FONT_FILES.values()):
            hasher.update((FONT_DIR / name).read_bytes())
        _font_digest_value = hasher.hexdigest()
    return _font_digest_value


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
