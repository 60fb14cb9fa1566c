"""Hood credentials: the account name and the API password set in the Hood account.

Hood wants the MD5 hex digest of the API password in every request (`accountPass` and the
`password` attribute of the envelope). The digest is as good as the password for Hood, so
it is treated as a secret too: computed on demand, never stored in a repr or a log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pydantic import SecretStr


def md5_hex(password: str) -> str:
    """The form Hood expects for the API password (lower-case hex)."""
    return hashlib.md5(password.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class HoodCredentials:
    account: str  # liefern's name for the portal account (ParcelShipment.account)
    account_name: str  # the Hood user name (`accountName`)
    api_password: SecretStr = field(repr=False)

    def password_md5(self) -> str:
        return md5_hex(self.api_password.get_secret_value())
