"""Order-id lists go to the deliver run's tasks as they are (tasks/ledger.py `id_list`).

Prefect looks through every element of a task's parameters for futures and states to resolve,
twice per call and on the flow's own thread: some 33 ms per 10,000 ids per look, for lists
that hold nothing but ints."""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow, task
from prefect.utilities import collections

from tasks.ledger import id_list

pytestmark = pytest.mark.usefixtures("prefect_harness")


@task
async def count_ids(order_ids: list[int]) -> int:
    return len(order_ids) if isinstance(order_ids, list) else -1


def _looks(monkeypatch: pytest.MonkeyPatch, order_ids: object) -> tuple[int, int]:
    """(what the task got, how many elements Prefect looked at on the way)."""
    looks = 0
    look = collections.visit_collection  # it calls itself by this name for every element

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal looks
        looks += 1
        return look(*args, **kwargs)  # type: ignore[call-overload]

    @flow
    async def run() -> int:
        return await count_ids(order_ids)  # type: ignore[arg-type]

    monkeypatch.setattr(collections, "visit_collection", counted)
    got = asyncio.run(run())
    monkeypatch.setattr(collections, "visit_collection", look)
    return got, looks


def test_a_task_gets_an_id_list_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    got, _ = _looks(monkeypatch, id_list(range(5000)))
    assert got == 5000


def test_prefect_does_not_look_through_an_id_list(monkeypatch: pytest.MonkeyPatch) -> None:
    _, plain = _looks(monkeypatch, list(range(5000)))
    _, ids = _looks(monkeypatch, id_list(range(5000)))
    assert plain > 5000  # the measure works: a plain list is looked through
    assert ids < 100
