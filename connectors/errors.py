"""One error tree for every connector (SMTP, portals, carriers).

    ConnectorError            .retryable: can trying the same call again help?
     ├── AuthError            credentials refused or expired: the operator must act
     │                        (HTTP 401/403; retrying will not help)
     ├── RateLimited          throttled (HTTP 429); .retry_after seconds when the service said
     │                        so (retrying after that wait helps)
     ├── Rejected             the service refused this item for good (other HTTP 4xx): .code and
     │                        .message are the service's own words (retrying will not help; fix
     │                        the data first)
     └── TransientError       network trouble, timeout, HTTP 408/5xx, malformed answer
                              (retrying helps; the call may also have gone through)

Errors are data: each carries the service's code, text, HTTP status and request id where known,
so the ledger can store exactly what the portal said. `error_for_status` is the one place where
an HTTP status becomes a branch of this tree; `retry_after` the one reader of Retry-After;
`retry_helps` the one rule whether a failed task run is tried again (tasks/retry_rule.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class ConnectorError(Exception):
    retryable: bool = False
    advice: str = "retrying will not help"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        prefix = f"[{self.code}] " if self.code else ""
        return f"{prefix}{self.message}"


class AuthError(ConnectorError):
    retryable = False
    advice = "retrying will not help: the account's credentials have to be fixed first"


class RateLimited(ConnectorError):
    retryable = True
    advice = "retrying helps after the wait the service asked for"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Rejected(ConnectorError):
    retryable = False
    advice = "retrying will not help: the service refused this item as it is"


class TransientError(ConnectorError):
    retryable = True
    advice = "retrying may help (the call may also have gone through: read back first)"


def retry_helps(error: BaseException) -> bool:
    """Whether trying a failed step again can help.

    A ConnectorError says so itself (missing or refused credentials and rejected items: no);
    so does any error carrying a `retryable` flag (a portal task's summary of its accounts'
    errors). Network trouble and timeouts outside the tree help on retry; anything else is a
    fault in data or code that a second try would only repeat."""
    flag = getattr(error, "retryable", None)
    if isinstance(flag, bool):
        return flag
    return isinstance(error, OSError | TimeoutError)


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent
    or unreadable, never negative."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_for_status(
    status: int,
    text: str,
    *,
    code: str | None = None,
    request_id: str | None = None,
    wait: float | None = None,
    auth_text: str | None = None,
    refused_access: bool | None = None,
) -> ConnectorError:
    """The branch of the tree for a non-success HTTP answer.

    `text` is the service's own words; `auth_text` replaces it for a refused access (it should
    say what the operator has to do). `refused_access` overrides the 401/403 rule for services
    whose 403 also means "not allowed for this item"."""
    common = {"code": code, "status": status, "request_id": request_id}
    if refused_access if refused_access is not None else status in (401, 403):
        return AuthError(auth_text or text, **common)  # type: ignore[arg-type]
    if status == 429:
        return RateLimited(text, retry_after=wait, **common)
    if status >= 500 or status == 408:
        return TransientError(text, **common)  # type: ignore[arg-type]
    return Rejected(text, **common)  # type: ignore[arg-type]
