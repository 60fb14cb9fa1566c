"""Settings from `LIEFERN_*` environment variables (see DESIGN: Configuration).

Secrets are `SecretStr` so that they never show up in reprs, logs or run parameters.
Per-account options (mail policy, which portals are confirmed) live in an accounts file,
not here: they are not secrets and an operator edits them as a table.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.setup_error import SetupError
from core.watchlist import Thresholds

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the old default, public: always refused
# A secret anyone may try against the web app must not be guessable by trying: 16 characters
# from `secrets.token_urlsafe` carry ~96 bits. The same floor for all three keeps it easy to say.
MIN_SECRET_LENGTH = 16
MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 - a command
# demo mode: the buyer-link key made for one LIEFERN_HOME (readable by its owner only)
DEMO_SECRET_FILE = "secret-key"  # noqa: S105 - a file name
# where a demo may be reached from: this machine only (its secrets are printed at start)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


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
    # the sender check (`liefern check`, connectors/sender_auth): the DKIM selector the relay
    # signs with, and a resolver (host:port) other than the system's, with a short wait so
    # that `liefern serve` starts without DNS
    dkim_selector: str | None = None
    dns_resolver: str | None = None
    dns_timeout_seconds: float = 2.0
    shop_name: str = "Beispiel-Shop"
    shop_contact: str = "service@beispiel-shop.de"
    # unset (empty) is refused outside demo mode; demo mode makes one per LIEFERN_HOME
    secret_key: SecretStr = SecretStr("")
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
    # older ship dates are refused as typos; the default is core.ship_dates.DEFAULT_MAX_AGE_DAYS
    ship_date_max_age_days: int = 30
    confirm_batch_size: int = 2_000
    confirm_max_attempts: int = 5
    feed_stuck_minutes: int = 120
    # one Amazon order feed per seller account at most this often: Amazon's Feeds API Best
    # Practices, "Upload one feed of the same type no more than once every 20 minutes"
    # (developer-docs.amazon.com/sp-api/docs/feeds-api-best-practices)
    amazon_feed_interval_minutes: int = 20
    # the run guard's heartbeat (tasks/guard.py); a holder silent for 4 of them is dead
    lock_heartbeat_seconds: float = 15.0
    max_upload_bytes: int = 50 * 1024 * 1024
    # the retention run (flows/retention.py): an order the buyer never confirmed counts as
    # delivered this many days after its last parcel's ship date (an assumption, not a fact:
    # German parcels mostly arrive in 1-3 days, the rest covers islands, abroad and detours)
    retention_transit_days: int = 14
    retention_batch_size: int = 500  # orders anonymised per transaction
    # the problems list (core/watchlist.py): a parcel without a carrier scan this many hours
    # after the shipping mail, or scanned but without a further event for this many days
    watch_first_scan_hours: int = 48
    watch_stalled_days: int = 3

    @field_validator("ship_date_max_age_days")
    @classmethod
    def _age_not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("LIEFERN_SHIP_DATE_MAX_AGE_DAYS must be 0 (today only) or more days")
        return value

    @field_validator("watch_first_scan_hours", "watch_stalled_days")
    @classmethod
    def _watch_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("the watchlist thresholds are 1 or more (hours, days)")
        return value

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _demo_secret_key(self) -> Settings:
        # A demo must not sign buyer links with a key known to all (anyone could forge them):
        # it gets a random one, kept under its home so that workers and restarts share it.
        if self.demo and not self.secret_key.get_secret_value():
            self.secret_key = SecretStr(demo_secret_key(self.home))
        return self

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

    def require_real_secret(self) -> None:
        """Refuse to start with a careless secret: the first one found, named, with the fix.

        LIEFERN_SECRET_KEY must be set (demo mode makes one); LIEFERN_OPERATOR_PASSWORD and
        LIEFERN_API_TOKEN may be unset (their pages are then switched off, or generated in demo
        mode), but when set they must not be empty, short or the public placeholder."""
        if not self.secret_key.get_secret_value():
            raise SetupError(
                "LIEFERN_SECRET_KEY is not set (it signs the buyer links)",
                f"set it to a random value of at least {MIN_SECRET_LENGTH} characters, e.g. "
                f"`{MAKE_SECRET}`, or set LIEFERN_DEMO=true for a demo on this machine",
            )
        for variable, value in (
            ("LIEFERN_SECRET_KEY", self.secret_key),
            ("LIEFERN_OPERATOR_PASSWORD", self.operator_password),
            ("LIEFERN_API_TOKEN", self.api_token),
        ):
            problem = careless_secret(value)
            if problem:
                raise SetupError(
                    f"{variable} {problem}",
                    f"set it to a random value of at least {MIN_SECRET_LENGTH} characters, "
                    f"e.g. `{MAKE_SECRET}`"
                    + ("" if variable == "LIEFERN_SECRET_KEY" else ", or unset it"),
                )

    def require_local_demo(self) -> None:
        """Refuse a demo whose buyer links point beyond this machine: its logins are printed
        at start and its data are samples, so it is no service for others."""
        host = (urlsplit(self.public_url).hostname or "").lower()
        if self.demo and host not in LOCAL_HOSTS:
            raise SetupError(
                f"LIEFERN_PUBLIC_URL {self.public_url} is not this machine, and demo mode is on",
                "a demo runs on localhost/127.0.0.1/[::1] only: unset LIEFERN_PUBLIC_URL, or set "
                "LIEFERN_DEMO=false with real secrets to serve others",
            )

    def watch_thresholds(self) -> Thresholds:
        return Thresholds(self.watch_first_scan_hours, self.watch_stalled_days)

    def smtp(self) -> SmtpTarget:
        return parse_smtp_url(self.smtp_url.get_secret_value())


def careless_secret(value: SecretStr | None) -> str | None:
    """What is wrong with a configured secret (None: fine, or not configured at all)."""
    if value is None:
        return None
    text = value.get_secret_value()
    if not text.strip():
        return "is empty"
    if text == PLACEHOLDER_SECRET:
        return f"is the public placeholder {PLACEHOLDER_SECRET!r}"
    if len(text) < MIN_SECRET_LENGTH:
        return f"is too short ({len(text)} characters, at least {MIN_SECRET_LENGTH})"
    return None


def demo_secret_key(home: Path) -> str:
    """The demo's buyer-link key for `home`: read, or made once (mode 0600)."""
    path = home / DEMO_SECRET_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        draft = home / f".{DEMO_SECRET_FILE}.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
        try:
            os.link(draft, path)  # atomic, and the first of two starting processes wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text(encoding="utf-8").strip()


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
