"""How a connector works through one batch: refusals first, then parcels concurrently.

An AuthError in any parcel stops the batch (the account's access is gone: the rest stays
pending, and read-back on the next run confirms whatever did get through).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence

from connectors.base import ConfirmationResult, ParcelShipment
from connectors.errors import AuthError

Check = Callable[[ParcelShipment], ConfirmationResult | None]


def refuse_first(
    shipments: Sequence[ParcelShipment], check: Check
) -> tuple[dict[int, ConfirmationResult], list[tuple[int, ParcelShipment]]]:
    """(results of the rows the pre-submit check refused, the rest with their index)."""
    results: dict[int, ConfirmationResult] = {}
    pending: list[tuple[int, ParcelShipment]] = []
    for index, shipment in enumerate(shipments):
        refusal = check(shipment)
        if refusal is not None:
            results[index] = refusal
        else:
            pending.append((index, shipment))
    return results, pending


async def run_concurrently(jobs: Iterable[Callable[[], Awaitable[None]]], limit: int) -> None:
    """Run every job, at most `limit` at a time; the first AuthError is raised as it is."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(run(job))
    except* AuthError as refused:
        raise refused.exceptions[0] from None
