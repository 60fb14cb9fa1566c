"""One error tree for every connector (SMTP, portals, carriers).

    ConnectorError            .retryable says whether trying again can help
     ├── AuthError            credentials refused or expired: the operator must act (not retryable)
     ├── RateLimited          throttled; .retry_after seconds when the service said so (retryable)
     ├── Rejected             the service refused this item for good: .code and .message are the
     │                        service's own words (not retryable)
     └── TransientError       network trouble, timeout, 5xx, malformed answer (retryable)

Errors are data: each carries the service's code, text, HTTP status and request id where known,
so the ledger can store exactly what the portal said.
"""

from __future__ import annotations


class ConnectorError(Exception):
    retryable: bool = False

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


class RateLimited(ConnectorError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Rejected(ConnectorError):
    retryable = False


class TransientError(ConnectorError):
    retryable = True
