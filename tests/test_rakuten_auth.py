"""Rakuten credentials: the merchant key never shown (looked up: test_credentials.py)."""

from __future__ import annotations

from pydantic import SecretStr

from connectors.rakuten.auth import RakutenCredentials


def test_repr_hides_the_key() -> None:
    credentials = RakutenCredentials("main", SecretStr("k-123456"))
    assert "k-123456" not in repr(credentials) + str(credentials)
