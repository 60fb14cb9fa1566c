"""Rakuten credentials: the merchant key from the environment, never shown."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.rakuten.auth import RakutenCredentials


def test_from_env_reads_the_key_of_the_account() -> None:
    credentials = RakutenCredentials.from_env("old-shop", {"LIEFERN_RAKUTEN_OLD_SHOP_KEY": "k-1"})
    assert credentials.account == "old-shop"
    assert credentials.key.get_secret_value() == "k-1"


def test_from_env_names_the_missing_variable() -> None:
    with pytest.raises(LookupError, match="LIEFERN_RAKUTEN_MAIN_KEY"):
        RakutenCredentials.from_env("main", {})


def test_repr_hides_the_key() -> None:
    credentials = RakutenCredentials("main", SecretStr("k-123456"))
    assert "k-123456" not in repr(credentials) + str(credentials)
