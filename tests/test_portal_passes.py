"""A deliver run's account passes (flows/confirm.py AccountPasses): a carrier's orders are
confirmed while the next carrier's mails go out; portals and the accounts of one portal run
side by side, but an account never has two passes at once (a pass submits all its pending
rows) and rows opened during a pass get the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from prefect.utilities.annotations import quote

from flows import confirm
from flows.results import Confirmations
from tasks.confirmations import PendingAccount, PortalReport
from tasks.ledger import ConfirmationStanding

Account = tuple[str, str]


class FakeLedger:
    """Stands in for the ledger and the confirm-<portal>-<account> task: `opened` rows become
    pending, a pass takes every pending row of its account. The database and the portals
    themselves are tested elsewhere (tests/stress, test_confirmations, test_parallel_accounts)."""

    def __init__(self) -> None:
        self.pending: dict[Account, list[int]] = {}
        self.passes: list[tuple[Account, list[int]]] = []
        self.active: dict[Account, int] = {}
        self.most_of_one_account = 0
        self.most_at_once = 0
        self.failing: set[Account] = set()
        self.feeds: set[Account] = set()  # accounts confirming by order feed

    @staticmethod
    def account_of(order: int) -> Account:
        if order % 2 == 0:
            return ("kaufland", "main")
        return ("ebay", "main" if order % 4 == 1 else "second")

    async def open(
        self, db_url: str, order_ids: Sequence[int], run_id: str | None
    ) -> list[PendingAccount]:
        for order in order_ids:
            self.pending.setdefault(self.account_of(order), []).append(order)
        pending = sorted(key for key, rows in self.pending.items() if rows)
        return [PendingAccount(p, a, (p, a) in self.feeds) for p, a in pending]

    async def confirm_account(
        self, db_url: str, portal: str, account: str, run_id: str | None
    ) -> PortalReport:
        key = (portal, account)
        rows, self.pending[key] = self.pending[key], []
        self.passes.append((key, rows))
        self.active[key] = self.active.get(key, 0) + 1
        self.most_of_one_account = max(self.most_of_one_account, self.active[key])
        self.most_at_once = max(self.most_at_once, sum(self.active.values()))
        await asyncio.sleep(0.05)
        self.active[key] -= 1
        if key in self.failing:
            raise RuntimeError(f"{portal} account {account}: refused")
        report = PortalReport(portal)
        report.counts["confirmed"] += len(rows)
        return report


def as_task(fake: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The fake called as Prefect calls a task: quoted parameters (tasks/ledger.py id_list)
    arrive unwrapped."""

    async def call(*args: Any) -> Any:
        return await fake(*(a.unquote() if isinstance(a, quote) else a for a in args))

    return call


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> FakeLedger:
    fake = FakeLedger()
    monkeypatch.setattr(confirm, "open_ledger_rows", as_task(fake.open))
    monkeypatch.setattr(confirm, "confirm_account", fake.confirm_account)
    monkeypatch.setattr(confirm, "get_run_logger", lambda: _Quiet())

    async def standing(db_url: str, order_ids: list[int]) -> ConfirmationStanding:
        return ConfirmationStanding({"all": {"orders": len(order_ids)}}, [])

    async def no_artifact(*parts: Any, key: str) -> None:
        pass

    monkeypatch.setattr(confirm, "confirmation_standing", as_task(standing))
    monkeypatch.setattr(confirm, "_publish", no_artifact)
    return fake


class _Quiet:
    def info(self, *args: Any) -> None:
        pass


def test_accounts_side_by_side_one_pass_at_a_time_every_order_once(
    ledger: FakeLedger, tmp_path: Path
) -> None:
    async def run() -> Confirmations:
        passes = confirm.AccountPasses(f"sqlite:///{tmp_path / 'x.db'}", None)
        passes.mailed([1, 2, 3])  # first carrier done: three accounts start a pass
        await asyncio.sleep(0.01)  # (the next carrier's mails are sent meanwhile)
        passes.mailed([4, 5])  # second carrier, while those passes run: next passes wait
        passes.mailed([9])
        await asyncio.sleep(0.2)
        passes.mailed([13])  # third carrier: the passes have ended, eBay main starts at once
        return await passes.finish([17])  # left behind by an earlier run

    summary = asyncio.run(run())
    ebay_main, ebay_second, kaufland = ("ebay", "main"), ("ebay", "second"), ("kaufland", "main")
    assert sorted(ledger.passes[:5]) == [
        (ebay_main, [1]),
        (ebay_main, [5, 9]),  # both opened while the first pass ran: one pass for both
        (ebay_second, [3]),
        (kaufland, [2]),
        (kaufland, [4]),
    ]
    # 13 and 17 in one pass or two, depending on how soon the pass for 13 starts
    assert {key for key, _ in ledger.passes[5:]} == {ebay_main}
    assert sorted(o for _, rows in ledger.passes[5:] for o in rows) == [13, 17]
    assert ledger.most_of_one_account == 1
    assert ledger.most_at_once == 3  # two accounts of eBay and Kaufland's at the same time
    assert summary.totals == {"confirmed": 8}
    assert summary.portals == {"all": {"orders": 8}}


def test_a_failing_account_is_reported_and_holds_up_no_other(
    ledger: FakeLedger, tmp_path: Path
) -> None:
    ledger.failing = {("ebay", "second")}

    async def run() -> Confirmations:
        passes = confirm.AccountPasses(f"sqlite:///{tmp_path / 'x.db'}", None)
        passes.mailed([1, 2, 3, 4])
        return await passes.finish()

    summary = asyncio.run(run())
    assert summary.totals == {"confirmed": 3}
    assert summary.errors == ("ebay: ebay account second: refused",)


def test_an_opening_that_fails_fails_the_run_after_the_running_passes(
    ledger: FakeLedger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = ledger.open

    @as_task
    async def open_or_fail(db_url: str, order_ids: Sequence[int], run_id: str | None) -> Any:
        if 4 in order_ids:
            raise RuntimeError("store unreachable")
        return await opened(db_url, order_ids, run_id)

    monkeypatch.setattr(confirm, "open_ledger_rows", open_or_fail)

    async def run() -> None:
        passes = confirm.AccountPasses(f"sqlite:///{tmp_path / 'x.db'}", None)
        passes.mailed([1, 2])
        passes.mailed([3, 4])
        passes.mailed([5])  # after a failed opening: never opened, never sent
        await passes.settle()

    with pytest.raises(RuntimeError, match="store unreachable"):
        asyncio.run(run())
    assert sorted(o for _, rows in ledger.passes for o in rows) == [1, 2]
    assert set(ledger.active.values()) == {0}  # the passes ended before the error


def test_an_order_feed_account_gets_one_pass_after_the_last_group(
    ledger: FakeLedger, tmp_path: Path
) -> None:
    ledger.feeds = {("kaufland", "main")}  # stands for an Amazon account in feed mode

    async def run() -> Confirmations:
        passes = confirm.AccountPasses(f"sqlite:///{tmp_path / 'x.db'}", None)
        passes.mailed([1, 2])
        await asyncio.sleep(0.2)
        passes.mailed([4, 5])
        await asyncio.sleep(0.2)
        return await passes.finish()

    summary = asyncio.run(run())
    feed_passes = [rows for key, rows in ledger.passes if key == ("kaufland", "main")]
    assert feed_passes == [[2, 4]]  # both groups' orders in one pass, after the last group
    assert [rows for key, rows in ledger.passes if key == ("ebay", "main")] == [[1], [5]]
    assert summary.totals == {"confirmed": 4}
