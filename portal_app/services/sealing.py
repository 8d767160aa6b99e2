"""Sealed text: mail that carries a sign-in link is stored encrypted (AES-GCM, key derived from
the server secret), so a database dump holds no usable token even while the mail waits."""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal_app.config import load_settings

PREFIX = "sealed:v1:"


@lru_cache(maxsize=1)
def _key() -> bytes:
    return hashlib.sha256(b"portal-outbox-seal:" + load_settings().secret_key.encode()).digest()


def seal(text: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key()).encrypt(nonce, text.encode(), b"outbox")
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(text: str) -> str:
    if not text.startswith(PREFIX):
        return text
    blob = base64.urlsafe_b64decode(text[len(PREFIX) :])
    return AESGCM(_key()).decrypt(blob[:12], blob[12:], b"outbox").decode()


def is_sealed(text: str) -> bool:
    return text.startswith(PREFIX)
