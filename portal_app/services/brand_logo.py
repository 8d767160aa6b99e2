"""The merchant's uploaded logo (Settings → Branding): PNG, JPEG or SVG in, a safe image out.

A raster logo is decoded and drawn again by Pillow (the well-kept decoder; it also refuses
decompression bombs), scaled to fit `MAX_SIZE` and re-encoded, so nothing of the upload but its
pixels is kept (no metadata, no trailing bytes). An SVG is parsed by defusedxml (no DTDs, no
entities) and rebuilt from an allow-list of drawing elements and attributes: no script, no event
handler, no foreignObject, no link but to its own `#fragments`. The result is stored in the
settings document as a `data:` URI (`branding.logo`), so it moves with history, restores and
settings files, and is served by `/brand/{merchant}/logo` with a digest in the URL."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from xml.etree import ElementTree

from defusedxml import ElementTree as SafeElementTree
from PIL import Image, UnidentifiedImageError

UPLOAD_MAX_BYTES = 1024 * 1024  # what the dashboard accepts
STORED_MAX_BYTES = 200 * 1024  # what a logo may weigh in the settings document
MAX_SIZE = (600, 200)  # a header logo, drawn at most 32 px high; room for 2x screens and PDFs
MAX_PIXELS = 25_000_000  # refuse larger images before decoding them whole
RASTER = {"PNG": "image/png", "JPEG": "image/jpeg"}
SVG = "image/svg+xml"
FORMATS = "a PNG, JPEG or SVG image"

_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"
_ELEMENTS = {
    "svg", "g", "defs", "title", "desc", "symbol", "use", "path", "rect", "circle", "ellipse",
    "line", "polyline", "polygon", "text", "tspan", "linearGradient", "radialGradient", "stop",
    "clipPath", "mask", "pattern",
}  # fmt: skip
_ATTRIBUTES = {
    "id", "class", "viewBox", "width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy",
    "r", "rx", "ry", "d", "points", "fill", "fill-opacity", "fill-rule", "stroke",
    "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-dasharray",
    "opacity", "transform", "offset", "stop-color", "stop-opacity", "gradientUnits",
    "gradientTransform", "spreadMethod", "fx", "fy", "clip-path", "clip-rule", "mask",
    "preserveAspectRatio", "font-family", "font-size", "font-weight", "text-anchor",
    "dominant-baseline", "letter-spacing", "patternUnits", "style", "version",
}  # fmt: skip
_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE)
_DATA_URI = re.compile(r"data:(image/png|image/jpeg|image/svg\+xml);base64,([A-Za-z0-9+/=]+)")


class LogoError(ValueError):
    """Why an upload is not a logo we keep (said to the merchant as it is)."""


def from_upload(data: bytes) -> str:
    """The upload as the `data:` URI `branding.logo` stores, or LogoError saying why not."""
    if not data:
        raise LogoError("The file is empty.")
    if len(data) > UPLOAD_MAX_BYTES:
        raise LogoError(f"The logo is over {UPLOAD_MAX_BYTES // 1024} KB; choose a smaller file.")
    if _looks_like_svg(data):
        mime, cleaned = SVG, _clean_svg(data)
    else:
        mime, cleaned = _redraw_raster(data)
    if len(cleaned) > STORED_MAX_BYTES:
        raise LogoError("The logo is too detailed to keep; simplify it or use a PNG.")
    return f"data:{mime};base64,{base64.b64encode(cleaned).decode()}"


def clean(value: object) -> str:
    """`branding.logo` as saved (from an upload, a restore or a settings file): "" or a logo
    this module made. A value from elsewhere is checked the same way as an upload."""
    if value == "":
        return ""
    if not isinstance(value, str):
        raise ValueError(f"must be {FORMATS}.")
    decoded = decode(value)
    if decoded is None:
        raise ValueError(f"must be {FORMATS}.")
    mime, data = decoded
    try:
        if mime == SVG:  # rebuilt again: the same bytes when this module made them
            return f"data:{SVG};base64,{base64.b64encode(_clean_svg(data)).decode()}"
        if len(data) > STORED_MAX_BYTES or _raster_kind(data) != mime:
            raise LogoError(f"The logo must be {FORMATS} of at most {MAX_SIZE[0]} x {MAX_SIZE[1]}.")
    except LogoError as exc:
        raise ValueError(str(exc)) from None
    return value  # kept as it is: drawing a JPEG again would lose a little each time


def decode(value: str) -> tuple[str, bytes] | None:
    """(mime type, bytes) of a stored logo; None for "" or anything that is not one."""
    match = _DATA_URI.fullmatch(value or "")
    if match is None:
        return None
    try:
        return match.group(1), base64.b64decode(match.group(2), validate=True)
    except ValueError:
        return None


def digest(value: str) -> str:
    """A short fingerprint for the logo's URL: a new logo is a new URL (no stale caches)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def url(merchant_id: int, value: str) -> str:
    """Where the portal's header loads the uploaded logo from ("" when there is none)."""
    return f"/brand/{merchant_id}/logo?v={digest(value)}" if value else ""


def describe(value: str) -> str:
    """The logo as Settings and History name it."""
    decoded = decode(value)
    if decoded is None:
        return "none"
    kind = {"image/png": "PNG", "image/jpeg": "JPEG", SVG: "SVG"}[decoded[0]]
    return f"uploaded {kind}, {max(1, round(len(decoded[1]) / 1024))} KB"


# --- raster ------------------------------------------------------------------------------------


def _redraw_raster(data: bytes) -> tuple[str, bytes]:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            if kind not in RASTER:
                raise LogoError(f"The logo must be {FORMATS}.")
            if probe.width * probe.height > MAX_PIXELS:
                raise LogoError("The image is too large; keep it under 5000 x 5000 pixels.")
            probe.verify()  # a truncated or corrupt file fails here
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image = image.convert("RGBA" if kind == "PNG" else "RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise LogoError(f"The file could not be read as {FORMATS}.") from None
    image.thumbnail(MAX_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if kind == "PNG":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "JPEG", quality=90, optimize=True)
    return RASTER[kind], out.getvalue()


def _raster_kind(data: bytes) -> str:
    """The mime type of a PNG or JPEG no larger than MAX_SIZE, else ""."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            fits = image.width <= MAX_SIZE[0] and image.height <= MAX_SIZE[1]
            return RASTER.get(image.format or "", "") if fits else ""
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        return ""


# --- SVG ---------------------------------------------------------------------------------------


def _looks_like_svg(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head


def _clean_svg(data: bytes) -> bytes:
    try:
        root = SafeElementTree.fromstring(data, forbid_dtd=True)
    except Exception:  # defusedxml's refusals (DTD, entities) and plain parse errors
        raise LogoError("The SVG could not be read (or uses DTDs or entities).") from None
    if _local(root.tag) != "svg" or _namespace(root.tag) not in ("", _SVG_NS):
        raise LogoError("The file is not an SVG image.")
    cleaned = _clean_element(root)
    cleaned.set("xmlns", _SVG_NS)
    return ElementTree.tostring(cleaned, encoding="utf-8", xml_declaration=False)


def _clean_element(element: ElementTree.Element) -> ElementTree.Element:
    out = ElementTree.Element(_local(element.tag))
    for name, value in element.attrib.items():
        local, space = _local(name), _namespace(name)
        if local == "href" and space in ("", _XLINK_NS):
            if value.strip().startswith("#"):  # its own gradients and symbols only
                out.set("href", value.strip())
            continue
        if space or local not in _ATTRIBUTES:
            continue  # on* handlers, foreign namespaces and anything unlisted
        if not _safe_value(value):
            continue
        out.set(local, value)
    if element.text and _local(element.tag) in ("text", "tspan", "title", "desc"):
        out.text = element.text
    for child in element:
        if _namespace(child.tag) in ("", _SVG_NS) and _local(child.tag) in _ELEMENTS:
            cleaned = _clean_element(child)
            cleaned.tail = child.tail if _local(element.tag) in ("text", "tspan") else None
            out.append(cleaned)
    return out


def _safe_value(value: str) -> bool:
    """No url() but to the image's own fragments, no script or imports in a style."""
    lowered = value.lower()
    if any(word in lowered for word in ("javascript:", "expression(", "@import", "<")):
        return False
    return all(target.strip().startswith("#") for _, target in _URL.findall(value))


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _namespace(name: str) -> str:
    return name[1:].split("}", 1)[0] if name.startswith("{") else ""
