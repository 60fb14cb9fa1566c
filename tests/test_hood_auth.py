"""Hood credentials: read from the environment, MD5 as Hood wants it, never shown."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.hood.auth import HoodCredentials, md5_hex


def test_md5_is_lower_case_hex_of_the_utf8_password() -> None:
    assert md5_hex("geheim") == "e8636ea013e682faf61f56ce1cb1ab5c"
    assert HoodCredentials("a", "n", SecretStr("geheim")).password_md5() == md5_hex("geheim")


def test_from_env_reads_name_and_password_of_the_account() -> None:
    env = {
        "LIEFERN_HOOD_SHOP_2_ACCOUNT_NAME": "mueller",
        "LIEFERN_HOOD_SHOP_2_API_PASSWORD": "pw-1",
    }
    credentials = HoodCredentials.from_env("shop-2", env)
    assert (credentials.account, credentials.account_name) == ("shop-2", "mueller")
    assert credentials.api_password.get_secret_value() == "pw-1"


def test_from_env_names_the_missing_variable_not_any_value() -> None:
    env = {"LIEFERN_HOOD_MAIN_ACCOUNT_NAME": "mueller"}
    with pytest.raises(LookupError, match="LIEFERN_HOOD_MAIN_API_PASSWORD") as caught:
        HoodCredentials.from_env("main", env)
    assert "mueller" not in str(caught.value)


def test_repr_hides_the_password_and_its_md5() -> None:
    credentials = HoodCredentials("main", "mueller", SecretStr("pw-123"))
    shown = repr(credentials) + str(credentials)
    assert "pw-123" not in shown and md5_hex("pw-123") not in shown
