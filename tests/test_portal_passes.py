"""A deliver run's portal passes (flows/confirm.py PortalPasses): a carrier's orders are
confirmed while the next carrier's mails go out; the portals run side by side, but a portal
never has two passes at once (a pass submits all its pending rows) and rows opened during a
pass get the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from flows import confirm
from tasks.confirmations import PortalReport


class FakePortals:
    """Stands in for the ledger and the confirm-<portal> task: `opened` rows become pending,
    a pass takes every pending row of its portal. The database and the portals themselves are
    tested elsewhere (tests/stress, test_confirmations)."""

    def __init__(self) -> None:
        self.pending: dict[str, list[int]] = {}
        self.passes: list[tuple[str, list[int]]] = []
        self.active: dict[str, int] = {}
        self.most_of_one_portal = 0
        self.most_at_once = 0
        self.failing: set[str] = set()

    def open(self, db_url: str, *, order_ids: Sequence[int], **_: Any) -> int:
        for order in order_ids:
            self.pending.setdefault("ebay" if order % 2 else "kaufland", []).append(order)
        return len(order_ids)

    def portals_with(self, session: Any, *, status: str) -> list[str]:
        return sorted(p for p, rows in self.pending.items() if rows)

    async def confirm_portal(self, db_url: str, portal: str, run_id: str | None) -> PortalReport:
        rows, self.pending[portal] = self.pending[portal], []
        self.passes.append((portal, rows))
        self.active[portal] = self.active.get(portal, 0) + 1
        self.most_of_one_portal = max(self.most_of_one_portal, self.active[portal])
        self.most_at_once = max(self.most_at_once, sum(self.active.values()))
        await asyncio.sleep(0.05)
        self.active[portal] -= 1
        if portal in self.failing:
            raise RuntimeError(f"{portal} account main: refused")
        report = PortalReport(portal)
        report.counts["confirmed"] += len(rows)
        return report


@pytest.fixture
def portals(monkeypatch: pytest.MonkeyPatch) -> FakePortals:
    fake = FakePortals()
    monkeypatch.setattr(confirm, "open_confirmations", fake.open)
    monkeypatch.setattr(confirm, "portals_with", fake.portals_with)
    monkeypatch.setattr(confirm, "confirm_portal", fake.confirm_portal)
    monkeypatch.setattr(confirm, "get_run_logger", lambda: _Quiet())
    monkeypatch.setattr(
        confirm, "confirmation_counts", lambda session, order_ids: {"all": len(order_ids)}
    )
    monkeypatch.setattr(confirm, "held_rows", lambda session, order_ids: [])

    async def no_artifact(summary: dict[str, Any], *, key: str) -> None:
        pass

    monkeypatch.setattr(confirm, "_publish", no_artifact)
    return fake


class _Quiet:
    def info(self, *args: Any) -> None:
        pass


def test_portals_side_by_side_one_pass_at_a_time_every_order_once(
    portals: FakePortals, tmp_path: Path
) -> None:
    async def run() -> dict[str, Any]:
        passes = confirm.PortalPasses(f"sqlite:///{tmp_path / 'x.db'}", None)
        passes.mailed([1, 2])  # first carrier done: both portals start a pass
        await asyncio.sleep(0.01)  # (the next carrier's mails are sent meanwhile)
        passes.mailed([3, 4])  # second carrier, while those passes run: next passes wait
        passes.mailed([5])
        await asyncio.sleep(0.2)
        passes.mailed([7])  # third carrier: the passes have ended, eBay starts again at once
        return await passes.finish([9])  # left behind by an earlier run

    summary = asyncio.run(run())
    assert portals.passes[:4] == [
        ("ebay", [1]),
        ("kaufland", [2]),
        ("ebay", [3, 5]),  # both opened while the first pass ran: one pass for both
        ("kaufland", [4]),
    ]
    # 7 and 9 in one pass or two, depending on how soon eBay's pass for 7 starts
    assert {p for p, _ in portals.passes[4:]} == {"ebay"}
    assert sorted(o for _, rows in portals.passes[4:] for o in rows) == [7, 9]
    assert portals.most_of_one_portal == 1
    assert portals.most_at_once == 2
    assert summary["totals"] == {"confirmed": 7}
    assert summary["portals"] == {"all": 7}


def test_a_failing_portal_is_reported_and_holds_up_no_other(
    portals: FakePortals, tmp_path: Path
) -> None:
    portals.failing = {"kaufland"}

    async def run() -> dict[str, Any]:
        passes = confirm.PortalPasses(f"sqlite:///{tmp_path / 'x.db'}", None)
        passes.mailed([1, 2, 3])
        return await passes.finish()

    summary = asyncio.run(run())
    assert summary["totals"] == {"confirmed": 2}
    assert summary["errors"] == ["kaufland: kaufland account main: refused"]


def test_an_opening_that_fails_fails_the_run_after_the_running_passes(
    portals: FakePortals, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = portals.open

    def open_or_fail(db_url: str, *, order_ids: Sequence[int], **rest: Any) -> int:
        if 4 in order_ids:
            raise RuntimeError("store unreachable")
        return opened(db_url, order_ids=order_ids, **rest)

    monkeypatch.setattr(confirm, "open_confirmations", open_or_fail)

    async def run() -> None:
        passes = confirm.PortalPasses(f"sqlite:///{tmp_path / 'x.db'}", None)
        passes.mailed([1, 2])
        passes.mailed([3, 4])
        passes.mailed([5])  # after a failed opening: never opened, never sent
        await passes.settle()

    with pytest.raises(RuntimeError, match="store unreachable"):
        asyncio.run(run())
    assert sorted(o for _, rows in portals.passes for o in rows) == [1, 2]
    assert portals.active == {"ebay": 0, "kaufland": 0}  # the passes ended before the error
