"""Portal and carrier credentials: one lookup (environment, then Prefect Secret block), named
after portal, account and field; the error names what to set and never a value."""

from __future__ import annotations

import pytest

from connectors.credentials import (
    MissingCredentials,
    block_name,
    env_name,
    optional_secret,
    secret,
)


def test_names_carry_portal_account_and_field() -> None:
    assert env_name("ebay", "ebay-main", "refresh_token") == "LIEFERN_EBAY_EBAY_MAIN_REFRESH_TOKEN"
    assert (
        block_name("ebay", "ebay-main", "refresh_token") == "liefern-ebay-ebay-main-refresh-token"
    )


def test_a_carrier_account_without_a_name_leaves_it_out() -> None:
    assert env_name("dhl", "", "api_key") == "LIEFERN_DHL_API_KEY"
    assert block_name("dhl", "", "api_key") == "liefern-dhl-api-key"


def test_the_value_comes_from_the_environment_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIEFERN_HOOD_SHOP_2_API_PASSWORD", "pw-1")
    value = secret("hood", "shop-2", "api_password")
    assert value.get_secret_value() == "pw-1"
    assert "pw-1" not in repr(value)


def test_missing_names_the_variable_and_the_block_and_no_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("LIEFERN_RAKUTEN_MAIN_OTHER", "k-123")
    monkeypatch.delenv("LIEFERN_RAKUTEN_MAIN_KEY", raising=False)
    with pytest.raises(MissingCredentials) as caught:
        secret("rakuten", "main", "key")
    text = str(caught.value)
    assert "LIEFERN_RAKUTEN_MAIN_KEY" in text and "liefern-rakuten-main-key" in text
    assert "k-123" not in text


def test_an_optional_field_is_none_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("LIEFERN_DHL_CLIENT_SECRET", raising=False)
    assert optional_secret("dhl", "", "client_secret") is None
    monkeypatch.setenv("LIEFERN_DHL_CLIENT_SECRET", "")
    assert optional_secret("dhl", "", "client_secret") is None
    monkeypatch.setenv("LIEFERN_DHL_CLIENT_SECRET", "s")
    secret_value = optional_secret("dhl", "", "client_secret")
    assert secret_value is not None and secret_value.get_secret_value() == "s"
