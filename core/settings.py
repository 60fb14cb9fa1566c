"""Settings from `LIEFERN_*` environment variables (see DESIGN: Configuration).

Secrets are `SecretStr` so that they never show up in reprs, logs or run parameters.
Per-account options (mail policy, which portals are confirmed) live in an accounts file,
not here: they are not secrets and an operator edits them as a table.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the value we refuse outside demo mode


class SmtpTarget(BaseModel):
    """A parsed `LIEFERN_SMTP_URL`."""

    host: str
    port: int
    username: str | None = None
    password: SecretStr | None = None
    implicit_tls: bool = False
    starttls: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIEFERN_", extra="ignore")

    home: Path = Path(".liefern")
    database_url: str | None = None
    smtp_url: SecretStr = SecretStr("smtp://127.0.0.1:8025")
    smtp_connections: int = 4
    smtp_timeout_seconds: float = 30.0
    smtp_backoff_seconds: float = 1.0
    # a mail the mail server did not take (outage, refused login, 4xx) waits this long before a
    # later run tries it again; the wait doubles per run that tried it, up to 2 hours
    smtp_retry_wait_seconds: float = 300.0
    mail_from: str = "Beispiel-Shop Versand <versand@beispiel-shop.de>"
    shop_name: str = "Beispiel-Shop"
    shop_contact: str = "service@beispiel-shop.de"
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    public_url: str = "http://127.0.0.1:8000"
    demo: bool = False
    api_token: SecretStr | None = None
    operator_user: str = "operator"
    operator_password: SecretStr | None = None
    accounts_file: Path | None = None
    # the Prefect server's own database for `liefern serve` (default: SQLite in LIEFERN_HOME)
    prefect_database_url: SecretStr | None = None
    templates_dir: Path | None = None
    import_batch_rows: int = 50_000
    confirm_batch_size: int = 2_000
    confirm_max_attempts: int = 5
    # each portal's confirmations in a worker process of their own (Linux; tasks/own_process)
    confirm_in_processes: bool = True
    feed_stuck_minutes: int = 120
    max_upload_bytes: int = 50 * 1024 * 1024

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'liefern.db').resolve()}"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def accounts_path(self) -> Path:
        return self.accounts_file or self.home / "accounts.toml"

    @property
    def secret_is_placeholder(self) -> bool:
        value = self.secret_key.get_secret_value()
        return value == PLACEHOLDER_SECRET or len(value) < 16

    def require_real_secret(self) -> None:
        """Refuse to run outside demo mode with the placeholder secret key."""
        if self.secret_is_placeholder and not self.demo:
            raise RuntimeError(
                "LIEFERN_SECRET_KEY is unset or a placeholder. Set it to a random value of at "
                "least 16 characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe"
                "(32))'`), or set LIEFERN_DEMO=true for a demo."
            )

    def smtp(self) -> SmtpTarget:
        return parse_smtp_url(self.smtp_url.get_secret_value())


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:port`, `smtps://` for implicit TLS, `?starttls=true`."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("LIEFERN_SMTP_URL must start with smtp:// or smtps://")
    implicit = parts.scheme == "smtps"
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    return SmtpTarget(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
        implicit_tls=implicit,
        starttls=query.get("starttls", "").lower() in ("1", "true", "yes"),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the demo change the environment)."""
    get_settings.cache_clear()
