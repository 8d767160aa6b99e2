"""PDF bytes by content hash: a finalized invoice and a receipt never change, so a PDF is a pure
function of its `Document`. The document's SHA-256, with the renderer version and the font
files' digest, is the cache key; a paid status or a new brand colour therefore yields a new key,
and the old file is simply never asked for again. Bytes are served from a small in-process LRU,
then from disk under PORTAL_CACHE_DIR (default <repo>/.cache/pdf, written atomically), and only
then rendered."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

from portal_app.config import PROJECT_ROOT
from portal_app.services.documents.drawing import RENDER_VERSION, render
from portal_app.services.documents.facts import Document
from portal_app.services.documents.fonts import _font_digest

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = PROJECT_ROOT / ".cache" / "pdf"
MEMORY_CACHE_ENTRIES = 256


def cache_key(doc: Document) -> str:
    payload = {"v": RENDER_VERSION, "fonts": _font_digest(), "doc": asdict(doc)}
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def clear_memory_cache() -> None:
    _memory.clear()


def cache_dir() -> Path:
    return Path(os.environ.get("PORTAL_CACHE_DIR") or DEFAULT_CACHE_DIR)


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
