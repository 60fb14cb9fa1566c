"""Requests checked against the vendor's official API spec before a simulator sees them.

The specs live outside the product (`../shared/specs/` next to the checkout, or the folder
named by LIEFERN_SPECS_DIR) and openapi-core is a development dependency: where either is
missing (`liefern demo` on a seller's machine) the simulators run on their own checks alone.
Where both are present, a request the spec refuses (wrong types, missing fields, bad
parameters) gets the vendor's documented error envelope, built by the simulator's `refuse`.

What the spec does not describe (token endpoints, presigned storage URLs, the simulators' own
seeding routes) passes through unchecked, and so do security requirements: credentials are
the simulator's own business, answered with the vendor's 401/403.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

SPECS_ENV = "LIEFERN_SPECS_DIR"
Refuse = Callable[[str], Response]


def specs_dir() -> Path:
    """Where the official specs are: LIEFERN_SPECS_DIR, else ../shared/specs of the checkout."""
    configured = os.environ.get(SPECS_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "specs"


def _server_paths(spec: dict[str, Any]) -> list[dict[str, str]]:
    """The spec's servers reduced to their paths, so requests to a simulator on any host match
    (server variables take their defaults)."""
    paths = []
    for server in spec.get("servers") or [{"url": "/"}]:
        url = str(server.get("url", "/"))
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        paths.append({"url": urlsplit(url).path.rstrip("/") or "/"})
    return paths


@lru_cache(maxsize=8)
def _load(path: Path) -> Any:
    """The spec as an openapi-core `OpenAPI`, or None when the file or openapi-core is absent."""
    if not path.is_file():
        return None
    try:
        from openapi_core import OpenAPI
        from openapi_core.configurations import Config
    except ImportError:
        log.info("openapi-core is not installed: simulators check requests on their own only")
        return None
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml  # comes with openapi-core's dependencies

        spec = yaml.safe_load(text)
    else:
        spec = json.loads(text)
    spec["servers"] = _server_paths(spec)
    # the spec files are the vendors' own; one (Kaufland's) carries a default its validator
    # refuses, so the files are taken as they are and only requests are validated
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _problems(openapi: Any, method: str, path: str, query: str, headers: Any, body: bytes) -> str:
    """Why the spec refuses the request; "" when it conforms or the spec does not cover it."""
    from openapi_core.templating.paths.exceptions import PathError
    from openapi_core.testing import MockRequest
    from openapi_core.validation.request.exceptions import SecurityValidationError
    from werkzeug.datastructures import ImmutableMultiDict

    request = MockRequest(
        "http://simulator",
        method.lower(),
        path,
        args=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
        headers=headers,
        data=body,
        content_type=headers.get("content-type", "application/json").split(";")[0],
    )
    try:
        with warnings.catch_warnings():
            # security schemes openapi-core cannot check (SP-API's, eBay's) are skipped anyway
            warnings.simplefilter("ignore", UserWarning)
            openapi.validate_request(request)
    except (PathError, SecurityValidationError):
        return ""
    except Exception as error:  # openapi-core's validation errors, described for the caller
        what = str(error).split(": Value ")[0]
        details = [str(e.message) for e in getattr(error.__cause__, "schema_errors", ())]
        return f"{what}: {'; '.join(details)}" if details else f"{what}: {error.__cause__}"
    return ""


def check_requests(app: Starlette, spec_files: Sequence[str], refuse: Refuse) -> None:
    """Put the spec check in front of `app` when the specs can be loaded (now, not on the
    first request: that one may run with a short timeout)."""
    loaded = (_load(specs_dir() / name) for name in spec_files)
    specs = [spec for spec in loaded if spec is not None]
    if specs:
        app.add_middleware(SpecCheck, specs=specs, refuse=refuse)


class SpecCheck:
    """ASGI middleware: validate each request against the first of `specs` that knows its
    path; refuse what the spec refuses with `refuse(reason)`."""

    def __init__(self, app: ASGIApp, specs: Sequence[Any], refuse: Refuse) -> None:
        self.app = app
        self.specs = list(specs)
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        for openapi in self.specs:
            reason = _problems(openapi, scope["method"], scope["path"], query, headers, body)
            if reason:
                await self.refuse(reason)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
