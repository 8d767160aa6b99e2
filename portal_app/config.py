"""Settings from the environment: one codebase runs on SQLite or PostgreSQL by config alone."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = f"sqlite:///{PROJECT_ROOT / 'portal.db'}"
# The largest request body /_upload accepts: the catalog's largest digital-product file
# (services.digital_admin.FILE_MAX_BYTES, 200 MiB) plus 1 MiB for the multipart framing.
DEFAULT_MAX_UPLOAD_BYTES = 201 * 1024 * 1024


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
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    stripe: StripeSettings | None = None


@dataclass(frozen=True)
class StripeSettings:
    """PORTAL_GATEWAY=stripe: all four are required (api_base defaults to Stripe's own)."""

    secret_key: str
    publishable_key: str
    webhook_secret: str
    api_base: str = "https://api.stripe.com"

    def __repr__(self) -> str:  # never print the keys
        return f"StripeSettings(api_base={self.api_base!r})"


STRIPE_VARIABLES = (
    "PORTAL_STRIPE_SECRET_KEY",
    "PORTAL_STRIPE_PUBLISHABLE_KEY",
    "PORTAL_STRIPE_WEBHOOK_SECRET",
)


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
        max_upload_bytes=_positive_int("PORTAL_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
        stripe=_stripe_settings(),
    )


def _stripe_settings() -> StripeSettings | None:
    """None for the sandbox (the default). A half configuration refuses to start, naming what is
    missing: a Stripe key set while the sandbox charges, or the gateway set without its keys."""
    gateway = os.environ.get("PORTAL_GATEWAY", "").strip().lower() or "sandbox"
    values = {name: os.environ.get(name, "").strip() for name in STRIPE_VARIABLES}
    if gateway == "sandbox":
        stray = [name for name, value in values.items() if value]
        if stray:
            raise ValueError(
                f"{', '.join(stray)} is set but PORTAL_GATEWAY is not 'stripe': set "
                "PORTAL_GATEWAY=stripe to charge through Stripe, or unset the Stripe keys."
            )
        return None
    if gateway != "stripe":
        raise ValueError(f"PORTAL_GATEWAY must be 'sandbox' or 'stripe', not {gateway!r}")
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(f"PORTAL_GATEWAY=stripe needs {', '.join(missing)}, which is not set")
    secret, publishable, webhook = values.values()
    if not secret.startswith(("sk_", "rk_")):
        raise ValueError("PORTAL_STRIPE_SECRET_KEY must be a secret key (sk_… or rk_…)")
    if not publishable.startswith("pk_"):
        raise ValueError("PORTAL_STRIPE_PUBLISHABLE_KEY must be a publishable key (pk_…)")
    if not webhook.startswith("whsec_"):
        raise ValueError("PORTAL_STRIPE_WEBHOOK_SECRET must be a signing secret (whsec_…)")
    base = os.environ.get("PORTAL_STRIPE_API_BASE", "").strip().rstrip("/")
    if base and not base.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValueError("PORTAL_STRIPE_API_BASE must be an https:// address (or loopback http)")
    return StripeSettings(secret, publishable, webhook, base or "https://api.stripe.com")


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) == 0:
        raise ValueError(f"{name} must be a whole number of bytes above 0, not {raw!r}")
    return int(raw)


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
