"""Benchmark: client CPU per portal call, through the connectors' HTTP stack and its baselines.

    uv run python bench/portal_calls.py [--parcels 3000] [--runs 3] [--concurrency 8]
        [--latency-ms 150]

Set-up (not measured): the eBay simulator with N orders, served by uvicorn in a process of its
own, so that the CPU time measured here is the client's alone.

Measured, alternately, in this process (CPU time of the process, `time.process_time`):
- connector: `EbayConnector.submit` of N never-attempted parcels (one createShippingFulfillment
  POST each) over `connectors.http.portal_client` (httpx's own `AsyncClient`), as a deliver run
  sends them;
- httpx alone: the same N POSTs (same bodies, same token) with a bare `httpx.AsyncClient`, no
  connector: what the connector adds is the difference.
The simulator is reset between runs (every run creates N fresh fulfillments). With
`--latency-ms`, the simulator answers every call that much late (its `slow_next` knob), as a
portal across the internet does; the wall time per call is then measured too.
"""

from __future__ import annotations

import argparse
import asyncio
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


def serve(port: int, parcels: int, latency: float = 0.0) -> None:
    import uvicorn

    from simulators.ebay import EbaySimulator, build_app

    app = build_app(EbaySimulator())

    @app.post("/__bench/reset")
    def reset() -> dict[str, int]:
        sim = EbaySimulator()
        for n in range(parcels):
            sim.add_order(order_id(n), {"111": 1})
        if latency:
            sim.slow_next(10 * parcels, latency)
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


def connector(base: str, concurrency: int) -> Any:
    from pydantic import SecretStr

    from connectors.ebay.connector import EbayConnector, EbayOptions
    from simulators.ebay import EbaySimulator

    sim = EbaySimulator()  # its default credentials are the served simulator's too
    return EbayConnector.from_credentials(
        client_id=sim.client_id,
        client_secret=SecretStr(sim.client_secret),
        refresh_token=SecretStr(sim.refresh_token),
        options=EbayOptions(
            api_base=base, rate_per_second=1e6, burst=1_000_000, concurrency=concurrency
        ),
    )


async def via_connector(base: str, parcels: int, concurrency: int) -> tuple[float, float]:
    """CPU seconds and wall seconds of submitting N parcels."""
    ebay = connector(base, concurrency)
    await ebay.client.authenticate()  # the token is fetched once per run, not measured
    batch = shipments(parcels)
    started, wall = time.process_time(), time.perf_counter()
    results = await ebay.submit(batch)
    spent = time.process_time() - started, time.perf_counter() - wall
    await ebay.aclose()
    if {r.status.value for r in results} != {"confirmed"}:
        raise RuntimeError(f"not every parcel was confirmed: {results[:3]}")
    return spent


async def httpx_alone(base: str, parcels: int, concurrency: int) -> tuple[float, float]:
    import json

    import httpx

    from connectors.ebay.mapping import fulfillment_request

    ebay = connector(base, concurrency)
    token = await ebay.client.auth.access_token()
    await ebay.aclose()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    batch = shipments(parcels)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(headers=headers) as session:

        async def one(n: int) -> None:
            async with gate:
                url = f"{base}/sell/fulfillment/v1/order/{order_id(n)}/shipping_fulfillment"
                body = json.dumps(fulfillment_request(batch[n])).encode()
                response = await session.post(url, content=body)
                if response.status_code != 201:
                    raise RuntimeError(f"eBay simulator answered {response.status_code}")

        started, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(parcels)))
        return time.process_time() - started, time.perf_counter() - wall


def reset(base: str) -> None:
    import httpx

    httpx.post(f"{base}/__bench/reset", timeout=60).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parcels", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="the simulator answers this much late"
    )
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    latency = args.latency_ms / 1000

    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = multiprocessing.Process(target=serve, args=(port, args.parcels, latency), daemon=True)
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
    variants: dict[str, Callable[[], Coroutine[Any, Any, tuple[float, float]]]] = {
        "connector (httpx.AsyncClient)": lambda: via_connector(base, n, c),
        "httpx.AsyncClient alone": lambda: httpx_alone(base, n, c),
    }
    spent: dict[str, list[float]] = {name: [] for name in variants}
    walls: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(args.runs):
            for name, run in variants.items():  # alternately, so load hits all alike
                reset(base)
                cpu, wall = asyncio.run(run())
                spent[name].append(cpu)
                walls[name].append(wall)
                print(
                    f"  {name}: {cpu / n * 1000:.2f} ms CPU per call, {n / wall:,.0f} calls/s",
                    flush=True,
                )
    finally:
        server.terminate()

    rows = [
        (
            name,
            f"{median(values) / n * 1000:.2f} ms",
            ", ".join(f"{v / n * 1000:.2f}" for v in values),
            f"{n / median(values):,.0f}",
            f"{n / median(walls[name]):,.0f}",
        )
        for name, values in spent.items()
    ]
    summary = table(
        (
            "client",
            "CPU per call (median)",
            "runs (ms)",
            "calls per CPU-second",
            "calls per second (wall)",
        ),
        rows,
    )
    print(summary)
    if args.no_doc:
        return
    late = f" --latency-ms {args.latency_ms:g}" if latency else ""
    body = f"""Last measured {stamp()}; {args.runs} runs of {n:,} calls, {c} at a time, every answer
{args.latency_ms:g} ms late.
{machine_line()}.

```
uv run python bench/portal_calls.py --parcels {n} --runs {args.runs} --concurrency {c}{late}
```

{summary}

- Each call is one eBay createShippingFulfillment (201 + Location) for a parcel the ledger shows
  was never attempted; the eBay simulator runs in a process of its own, so the CPU time is the
  client's. Portal calls are what a deliver run spends most of its CPU on (see the deliver
  chain below), so this cost per call sets its pace.
- With `--latency-ms`, every answer comes that much late (the simulator's `slow_next` knob):
  a portal across the internet answers in 100-300 ms, so the calls per second are set by the
  latency and the calls at a time (8 / 0.15 s = 53 at most), not by the client's CPU.
- Until 2026-12-04 the connectors used `PortalClient`, httpx's requests sent straight to an
  aiohttp pool (no cookie jar, no redirects, no URL merging). Measured alternately with httpx's
  own client on 2026-12-04 18:20 UTC (3 runs, 8 at a time, a machine shared with other work):
  no latency, 3,000 calls: PortalClient 0.96 ms CPU per call and 216 calls/s, httpx's client
  2.19 ms and 119 calls/s (aiohttp alone 0.70 ms); 150 ms latency, 800 calls: PortalClient
  1.11 ms and 48 calls/s, httpx's client 2.15 ms and 49 calls/s. Under latency the calls per
  second are the same, so httpx's own client is used; the ~1 ms of CPU per call it costs
  more shows only against local simulators (the deliver chain below).
"""
    write_section(f"{TITLE}, answers {args.latency_ms:g} ms late" if latency else TITLE, body)


if __name__ == "__main__":
    main()
