"""Benchmark: client CPU per portal call, through the connectors' HTTP stack and its baselines.

    uv run python bench/portal_calls.py [--parcels 3000] [--runs 3] [--concurrency 8]

Set-up (not measured): the eBay simulator with N orders, served by uvicorn in a process of its
own, so that the CPU time measured here is the client's alone.

Measured, alternately, in this process (CPU time of the process, `time.process_time`):
- connector / PortalClient on aiohttp: `EbayConnector.submit` of N never-attempted parcels (one
  createShippingFulfillment POST each) over `connectors.http.portal_client`, as a deliver run
  sends them;
- connector / httpx.AsyncClient on aiohttp: the same with httpx's client in front of the same
  transport, the stack the connectors used before `PortalClient`;
- connector / httpx.AsyncClient on httpx's pool (`httpx.AsyncHTTPTransport`), the stack before
  that;
- aiohttp alone: the same N POSTs (same bodies, same token) with aiohttp, no connector: the
  floor.
The simulator is reset between runs (every run creates N fresh fulfillments).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import free_port, machine_line, median, stamp, table, write_section

TITLE = "Portal calls: client CPU per request"


def serve(port: int, parcels: int) -> None:
    import uvicorn

    from simulators.ebay import EbaySimulator, build_app

    app = build_app(EbaySimulator())

    @app.post("/__bench/reset")
    def reset() -> dict[str, int]:
        sim = EbaySimulator()
        for n in range(parcels):
            sim.add_order(order_id(n), {"111": 1})
        app.state.sim = sim
        return {"orders": parcels}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def order_id(n: int) -> str:
    return f"12-{n:05d}-00000"


def shipments(parcels: int) -> list[Any]:
    from connectors.base import ParcelShipment, ShipmentItem

    now = datetime.now(UTC)
    return [
        ParcelShipment(
            confirmation_id=n,
            order_no=str(n),
            portal_order_id=order_id(n),
            account="bench",
            carrier="dhl",
            tracking_number=f"0034043416{n:010d}",
            shipped_at=now,
            items=(ShipmentItem("111", 1),),
            sent_before=False,
        )
        for n in range(parcels)
    ]


def httpx_client(*, transport: Any = None, **options: Any) -> Any:
    """The connectors' client before `PortalClient`: httpx's own, on the given transport."""
    import httpx

    from connectors.http import AiohttpTransport

    return httpx.AsyncClient(transport=transport or AiohttpTransport(), **options)


def connector(
    base: str, concurrency: int, transport: Any = None, client: Callable[..., Any] | None = None
) -> Any:
    from unittest import mock

    from pydantic import SecretStr

    from connectors.ebay.connector import EbayConnector, EbayOptions
    from simulators.ebay import EbaySimulator

    sim = EbaySimulator()  # its default credentials are the served simulator's too
    with contextlib.ExitStack() as stack:
        if client is not None:  # where the eBay modules make their clients
            stack.enter_context(mock.patch("connectors.ebay.client.portal_client", client))
            stack.enter_context(mock.patch("connectors.ebay.auth.portal_client", client))
        return EbayConnector.from_credentials(
            client_id=sim.client_id,
            client_secret=SecretStr(sim.client_secret),
            refresh_token=SecretStr(sim.refresh_token),
            options=EbayOptions(
                api_base=base, rate_per_second=1e6, burst=1_000_000, concurrency=concurrency
            ),
            transport=transport,
        )


async def via_connector(
    base: str,
    parcels: int,
    concurrency: int,
    transport: Any = None,
    client: Callable[..., Any] | None = None,
) -> float:
    ebay = connector(base, concurrency, transport, client)
    await ebay.client.authenticate()  # the token is fetched once per run, not measured
    batch = shipments(parcels)
    started = time.process_time()
    results = await ebay.submit(batch)
    spent = time.process_time() - started
    await ebay.aclose()
    if {r.status.value for r in results} != {"confirmed"}:
        raise RuntimeError(f"not every parcel was confirmed: {results[:3]}")
    return spent


async def aiohttp_alone(base: str, parcels: int, concurrency: int) -> float:
    import json

    import aiohttp

    from connectors.ebay.mapping import fulfillment_request

    ebay = connector(base, concurrency)
    token = await ebay.client.auth.access_token()
    await ebay.aclose()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    batch = shipments(parcels)
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(n: int) -> None:
            async with gate:
                url = f"{base}/sell/fulfillment/v1/order/{order_id(n)}/shipping_fulfillment"
                body = json.dumps(fulfillment_request(batch[n])).encode()
                async with session.post(url, data=body) as response:
                    await response.read()
                    if response.status != 201:
                        raise RuntimeError(f"eBay simulator answered {response.status}")

        started = time.process_time()
        await asyncio.gather(*(one(n) for n in range(parcels)))
        return time.process_time() - started


def reset(base: str) -> None:
    import httpx

    httpx.post(f"{base}/__bench/reset", timeout=60).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parcels", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()

    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = multiprocessing.Process(target=serve, args=(port, args.parcels), daemon=True)
    server.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            reset(base)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    n, c = args.parcels, args.concurrency
    variants: dict[str, Callable[[], Coroutine[Any, Any, float]]] = {
        "connector / PortalClient on aiohttp": lambda: via_connector(base, n, c),
        "connector / httpx.AsyncClient on aiohttp (before)": lambda: via_connector(
            base, n, c, client=httpx_client
        ),
        "connector / httpx.AsyncClient on httpx's pool (first)": lambda: via_connector(
            base, n, c, httpx.AsyncHTTPTransport(), client=httpx_client
        ),
        "aiohttp alone (floor)": lambda: aiohttp_alone(base, n, c),
    }
    spent: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(args.runs):
            for name, run in variants.items():  # alternately, so load hits all alike
                reset(base)
                spent[name].append(asyncio.run(run()))
                print(f"  {name}: {spent[name][-1] / n * 1000:.2f} ms CPU per call", flush=True)
    finally:
        server.terminate()

    rows = [
        (
            name,
            f"{median(values) / n * 1000:.2f} ms",
            ", ".join(f"{v / n * 1000:.2f}" for v in values),
            f"{n / median(values):,.0f}",
        )
        for name, values in spent.items()
    ]
    summary = table(("client", "CPU per call (median)", "runs (ms)", "calls per CPU-second"), rows)
    print(summary)
    if args.no_doc:
        return
    body = f"""Last measured {stamp()}; {args.runs} runs of {n:,} calls, {c} at a time.
{machine_line()}.

```
uv run python bench/portal_calls.py --parcels {n} --runs {args.runs} --concurrency {c}
```

{summary}

- Each call is one eBay createShippingFulfillment (201 + Location) for a parcel the ledger shows
  was never attempted; the eBay simulator runs in a process of its own, so the CPU time is the
  client's. Portal calls are what a deliver run spends most of its CPU on (see the deliver
  chain below), so this cost per call sets its pace.
- `PortalClient` (connectors/http.py) leaves out what `httpx.AsyncClient` does on every call
  that portal APIs do not need: the cookie jar (a urllib request object built per answer to
  look for cookies), redirect handling, and merging each URL with the base URL by parsing
  both. Above the floor remain httpx's request object (its URL is checked character by
  character) and the connector's own work (payload, token bucket, retries, results).
"""
    write_section(TITLE, body)


if __name__ == "__main__":
    main()
