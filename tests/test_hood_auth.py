"""Hood credentials: MD5 as Hood wants it, never shown (looked up: test_credentials.py)."""

from __future__ import annotations

from pydantic import SecretStr

from connectors.hood.auth import HoodCredentials, md5_hex


def test_md5_is_lower_case_hex_of_the_utf8_password() -> None:
    assert md5_hex("geheim") == "e8636ea013e682faf61f56ce1cb1ab5c"
    assert HoodCredentials("a", "n", SecretStr("geheim")).password_md5() == md5_hex("geheim")


def test_repr_hides_the_password_and_its_md5() -> None:
    credentials = HoodCredentials("main", "mueller", SecretStr("pw-123"))
    shown = repr(credentials) + str(credentials)
    assert "pw-123" not in shown and md5_hex("pw-123") not in shown
