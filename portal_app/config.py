"""Settings from the environment: one codebase runs on SQLite or PostgreSQL by config alone."""

from __future__ import annotations

import os
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


def load_settings() -> Settings:
    return Settings(
        db_url=os.environ.get("PORTAL_DB_URL") or os.environ.get("REFLEX_DB_URL") or DEFAULT_DB_URL,
        redis_url=os.environ.get("PORTAL_REDIS_URL") or os.environ.get("REFLEX_REDIS_URL") or None,
        public_url=os.environ.get("PORTAL_PUBLIC_URL", "http://localhost:3000"),
        smtp_host=os.environ.get("PORTAL_SMTP_HOST") or None,
        smtp_port=int(os.environ.get("PORTAL_SMTP_PORT", "25")),
        secret_key=os.environ.get("PORTAL_SECRET_KEY", "dev-only-secret-change-me"),
    )
