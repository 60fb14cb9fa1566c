"""Portal credentials: environment variables or Prefect Secret blocks, never the database.

For portal `ebay`, account `ebay-main` and field `refresh_token` the lookup is

1. the environment variable `LIEFERN_EBAY_EBAY_MAIN_REFRESH_TOKEN`
2. the Prefect Secret block `liefern-ebay-ebay-main-refresh-token`

A carrier with one account per seller (DHL Parcel DE for the daily closing) is asked with
account "": `LIEFERN_DHL_API_KEY`, then the block `liefern-dhl-api-key`.

Values come back as SecretStr so that they never appear in logs, reprs or run parameters.
"""

from __future__ import annotations

import os
import re

from pydantic import SecretStr

from connectors.errors import AuthError


class MissingCredentials(AuthError):
    pass


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _parts(portal: str, account: str, field: str) -> list[str]:
    return [_slug(p) for p in ("liefern", portal, account, field) if _slug(p)]


def env_name(portal: str, account: str, field: str) -> str:
    return "_".join(_parts(portal, account, field)).upper()


def block_name(portal: str, account: str, field: str) -> str:
    return "-".join(p.lower().replace("_", "-") for p in _parts(portal, account, field))


def optional_secret(portal: str, account: str, field: str) -> SecretStr | None:
    """The value, or None when neither the variable nor the block is set (an empty variable
    counts as unset)."""
    value = os.environ.get(env_name(portal, account, field))
    if not value:
        value = _from_prefect(block_name(portal, account, field))
    return SecretStr(value) if value else None


def secret(portal: str, account: str, field: str) -> SecretStr:
    value = optional_secret(portal, account, field)
    if value is None:
        whose = f"{portal} account {account!r}" if account else portal
        raise MissingCredentials(
            f"no {field} for {whose}: set the environment variable "
            f"{env_name(portal, account, field)} or create the Prefect Secret block "
            f"{block_name(portal, account, field)}"
        )
    return value


def _from_prefect(name: str) -> str | None:
    if not os.environ.get("PREFECT_API_URL"):
        return None  # no server to ask; an ephemeral one would have no blocks anyway
    try:
        from prefect.blocks.system import Secret

        block: Secret[str] = Secret.load(name, _sync=True)  # type: ignore[call-arg,assignment]
    except (ValueError, ImportError):
        return None
    value = block.get()
    return value if isinstance(value, str) else None
