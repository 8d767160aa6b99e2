"""Settings from the environment: one codebase runs on SQLite or PostgreSQL by config alone."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = f"sqlite:///{PROJECT_ROOT / 'portal.db'}"


@dataclass(frozen=True)
class Settings:
    db_url: str
    redis_url: str | None
    public_url: str
    smtp_host: str | None
    smtp_port: int
    secret_key: str
    trusted_proxies: int
    merchant_slug: str | None


def load_settings() -> Settings:
    return Settings(
        db_url=os.environ.get("PORTAL_DB_URL") or os.environ.get("REFLEX_DB_URL") or DEFAULT_DB_URL,
        redis_url=os.environ.get("PORTAL_REDIS_URL") or os.environ.get("REFLEX_REDIS_URL") or None,
        public_url=os.environ.get("PORTAL_PUBLIC_URL", "http://localhost:3000"),
        smtp_host=os.environ.get("PORTAL_SMTP_HOST") or None,
        smtp_port=int(os.environ.get("PORTAL_SMTP_PORT", "25")),
        secret_key=os.environ.get("PORTAL_SECRET_KEY") or _local_secret(),
        trusted_proxies=int(os.environ.get("PORTAL_TRUSTED_PROXIES", "0")),
        merchant_slug=os.environ.get("PORTAL_MERCHANT") or None,
    )


def _local_secret() -> str:
    """Without PORTAL_SECRET_KEY, a random key kept in a private file next to the database, so a
    development install is never run on a key anyone can read in the source."""
    path = Path(os.environ.get("PORTAL_SECRET_FILE", PROJECT_ROOT / ".portal-secret"))
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
