"""EbayAuth against the simulator's token endpoint: cached, refreshed in time, refusals loud."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from connectors.ebay.auth import EbayAuth
from connectors.ebay.mapping import FULFILLMENT_SCOPE as SCOPE
from connectors.errors import AuthError
from simulators.ebay import EbaySimulator, build_app
from simulators.server import serve_in_thread

FIXTURES = Path(__file__).parent / "fixtures" / "ebay"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FastAPI, str]]:
    app = build_app(EbaySimulator())
    with serve_in_thread(app) as base_url:
        yield app, base_url


@pytest.fixture
def token_endpoint(server: tuple[FastAPI, str]) -> Callable[..., tuple[EbaySimulator, str]]:
    app, base_url = server

    def fresh(**options: Any) -> tuple[EbaySimulator, str]:
        sim = EbaySimulator(**options)
        app.state.sim = sim
        return sim, base_url + "/identity/v1/oauth2/token"

    return fresh


def auth_for(sim: EbaySimulator, token_url: str, **kwargs: Any) -> EbayAuth:
    return EbayAuth(
        kwargs.pop("client_id", sim.client_id),
        SecretStr(kwargs.pop("client_secret", sim.client_secret)),
        SecretStr(kwargs.pop("refresh_token", sim.refresh_token)),
        token_url,
        account="ebay-main",
        **kwargs,
    )


def run(auth: EbayAuth, *calls: Callable[[EbayAuth], Any]) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return [await call(auth) for call in calls]
        finally:
            await auth.aclose()

    return asyncio.run(go())


async def token(auth: EbayAuth) -> str:
    return await auth.access_token()


def test_the_access_token_is_fetched_once_and_reused(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint()
    first, second = run(auth_for(sim, url), token, token)
    assert first == second
    assert sim.token_requests == 1


def test_a_token_is_refreshed_before_it_expires(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint(token_ttl=7200)
    clock = Clock()

    async def later(auth: EbayAuth) -> str:
        clock.now += 7200 - 300 + 1  # inside the safety margin before expiry
        return await auth.access_token()

    first, second = run(auth_for(sim, url, clock=clock), token, later)
    assert first != second
    assert sim.token_requests == 2


def test_a_token_inside_its_lifetime_is_not_refreshed(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint(token_ttl=7200)
    clock = Clock()

    async def later(auth: EbayAuth) -> str:
        clock.now += 7200 - 300 - 1
        return await auth.access_token()

    first, second = run(auth_for(sim, url, clock=clock), token, later)
    assert first == second
    assert sim.token_requests == 1


def test_concurrent_callers_share_one_refresh(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint()

    async def many(auth: EbayAuth) -> list[str]:
        return list(await asyncio.gather(*(auth.access_token() for _ in range(10))))

    [tokens] = run(auth_for(sim, url), many)
    assert len(set(tokens)) == 1
    assert sim.token_requests == 1


def test_invalid_grant_asks_the_seller_to_grant_access_again(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint()
    with pytest.raises(AuthError) as refused:
        run(auth_for(sim, url, refresh_token="expired-refresh-token"), token)
    assert refused.value.code == "invalid_grant"
    assert refused.value.status == 400
    assert "grant access again" in refused.value.message
    assert "re-consent" in refused.value.message
    assert "'ebay-main'" in refused.value.message
    assert "expired-refresh-token" not in refused.value.message


def test_a_refused_refresh_token_is_not_asked_for_again_in_the_same_run(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint()
    sim.revoke_refresh_token()

    async def twice(auth: EbayAuth) -> list[str]:
        codes = []
        for _ in range(2):
            try:
                await auth.access_token()
            except AuthError as error:
                codes.append(str(error.code))
        return codes

    [codes] = run(auth_for(sim, url), twice)
    assert codes == ["invalid_grant", "invalid_grant"]
    assert sim.token_requests == 0


def test_wrong_application_credentials_are_an_auth_error(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint()
    with pytest.raises(AuthError) as refused:
        run(auth_for(sim, url, client_secret="not-the-secret"), token)
    assert refused.value.code == "invalid_client"
    assert "not-the-secret" not in str(refused.value)


def test_secrets_stay_out_of_the_repr(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint()
    auth = auth_for(sim, url)
    text = repr(auth)
    run(auth)
    assert sim.client_secret not in text
    assert sim.refresh_token not in text


def test_the_simulator_refuses_a_bad_refresh_token_in_ebays_words(
    token_endpoint: Callable[..., tuple[EbaySimulator, str]],
) -> None:
    sim, url = token_endpoint()
    expected = json.loads((FIXTURES / "token_invalid_grant.json").read_text(encoding="utf-8"))

    async def ask() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(
                url,
                auth=(sim.client_id, sim.client_secret),
                data={"grant_type": "refresh_token", "refresh_token": "stale", "scope": SCOPE},
            )

    response = asyncio.run(ask())
    assert response.status_code == 400
    assert response.json() == expected
