"""A seeded plan of faults, injected into the simulators while the chain runs, and counted.

Each planned fault names its target (smtp or a portal), a kind (the row of the summary table)
and a threshold: it is armed once the target has seen that many requests, so the faults are
spread over the run instead of all hitting its first requests. An injector thread arms them
through the simulators' own fault knobs. Afterwards `fired()` says how many of each kind
really happened: a knob that was armed but never consumed did not fire.

The simulators' knobs answer no "how many are left": the handles below read their internal
counters (attributes with a leading underscore) for that, and only for that.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from simulators import ebay, hood, kaufland, rakuten
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack

Remaining = Callable[[], int]  # how many of the armed faults have not fired yet


@dataclass
class PlannedFault:
    target: str  # smtp | amazon | ebay | kaufland | hood | rakuten
    kind: str  # row of the summary table
    threshold: int  # arm once the target saw this many requests
    arm: Callable[[], Remaining]
    exclusive: str | None = None  # knobs that hold one value: arm only when this one is free
    loses_answer: bool = False  # the portal acts, the connector never hears of it
    remaining: Remaining | None = None  # set once armed


def _last(items: list[Any]) -> Any:
    return items[-1]


class Targets:
    """The simulators of one world: request counters, fault knobs and their counters."""

    def __init__(self, smtp: FaultySmtpServer, portals: PortalStack) -> None:
        self.smtp = smtp
        self.amazon = portals.apps["amazon"].state.sim
        self.ebay = ebay.simulator(portals.apps["ebay"])
        self.kaufland = kaufland.simulator(portals.apps["kaufland"])
        self.hood = hood.simulator_of(portals.apps["hood"])
        self.rakuten = rakuten.simulator_of(portals.apps["rakuten"])

    def requests(self, target: str) -> int:
        if target == "smtp":
            return len(self.smtp.messages) + self.smtp.sessions
        if target == "amazon":
            return len(self.amazon.requests)
        if target in ("ebay", "kaufland"):
            return len(getattr(self, target).calls)
        return int(getattr(self, target).requests)

    def busy(self, knob: str) -> bool:
        """A knob that holds one value still holds an unfired fault."""
        if knob == "amazon.forced":
            with self.amazon.lock:
                return bool(self.amazon._forced_next)
        target, name = knob.split(".")
        return int(getattr(getattr(self, target), f"_{name}_next")) > 0

    # -- SMTP --------------------------------------------------------------------------------

    def smtp_fault(self, add: Callable[[], None]) -> Remaining:
        add()
        with self.smtp._lock:
            fault = _last(self.smtp._faults)
        return lambda: int(fault.remaining or 0)

    # -- Amazon ------------------------------------------------------------------------------

    def amazon_fault(self, operation: str, status: int, retry_after: float | None) -> Remaining:
        sim = self.amazon
        with sim.lock:  # re-entrant: armed and picked up before a request can take it
            sim.fail_next(operation, status, 1, retry_after=retry_after)
            fault = sim.faults[operation][-1]
        return lambda: int(any(f is fault for f in sim.faults.get(operation, ())))

    def amazon_feed(self, outcome: str) -> Remaining:
        sim = self.amazon
        with sim.lock:
            before = sum(1 for f in sim.feeds.values() if f.forced == outcome)
        sim.force_next_feed(outcome)

        def remaining() -> int:
            with sim.lock:
                forced = sum(1 for f in sim.feeds.values() if f.forced == outcome)
            return 0 if forced > before else 1

        return remaining

    # -- eBay, Kaufland (knobs that add up) ----------------------------------------------------

    def knob(self, target: str, attribute: str, arm: Callable[[Any], None]) -> Remaining:
        sim = getattr(self, target)
        arm(sim)
        with sim._lock:
            knob = _last(getattr(sim, attribute))
        return lambda: int(knob.remaining)

    # -- Hood, Rakuten (one value per knob) ----------------------------------------------------

    def single(self, target: str, name: str, arm: Callable[[Any], None]) -> Remaining:
        sim = getattr(self, target)
        arm(sim)
        return lambda: int(getattr(sim, f"_{name}_next"))


@dataclass
class FaultPlan:
    faults: list[PlannedFault] = field(default_factory=list)

    def armed(self) -> Counter[str]:
        return Counter(f.kind for f in self.faults if f.remaining is not None)

    def fired(self) -> Counter[str]:
        """Per kind, the armed faults the simulators consumed (one-value knobs: see busy())."""
        fired: Counter[str] = Counter()
        for fault in self.faults:
            if fault.remaining is not None and fault.remaining() == 0:
                fired[fault.kind] += 1
        return fired

    def fired_of(self, *kinds: str) -> int:
        counts = self.fired()
        return sum(counts[k] for k in kinds)

    def lost_answers(self, target: str) -> int:
        """Fired faults after which `target` had acted without the connector knowing."""
        kinds = {f.kind for f in self.faults if f.target == target and f.loses_answer}
        return self.fired_of(*kinds)


# What the registry's connectors wait for an answer: slower answers are lost answers.
CONNECTOR_TIMEOUT_SECONDS = 30.0

# Summary-table rows of the faults that can leave a copy of a mail at the server although the
# sender never saw the answer: the documented "unknown" case.
MAIL_COPY_KINDS = ("smtp disconnect after DATA (message kept)", "smtp no reply within timeout")


def plan_faults(
    targets: Targets,
    *,
    seed: int,
    scale: int,
    traffic: dict[str, int],
    slow_seconds: float,
    smtp_timeout: float,
) -> FaultPlan:
    """`scale` copies of every fault kind, thresholds spread over the expected `traffic`."""
    rng = random.Random(seed)
    plan = FaultPlan()
    t = targets

    def add(
        target: str,
        kind: str,
        arm: Callable[[], Remaining],
        *,
        copies: int = 1,
        exclusive: str | None = None,
        loses_answer: bool = False,
    ) -> None:
        expected = max(1, int(traffic.get(target, 1) * 0.6))
        for _ in range(copies * scale):
            threshold = rng.randrange(expected)
            plan.faults.append(PlannedFault(target, kind, threshold, arm, exclusive, loses_answer))

    timeouts = slow_seconds >= CONNECTOR_TIMEOUT_SECONDS

    smtp = t.smtp
    add(
        "smtp",
        "smtp 421 at MAIL FROM",
        lambda: t.smtp_fault(lambda: smtp.fail_next(1, 421, stage="mail")),
        copies=2,
    )
    add(
        "smtp",
        "smtp 451 at DATA",
        lambda: t.smtp_fault(lambda: smtp.fail_next(1, 451, stage="data")),
        copies=3,
    )
    add(
        "smtp",
        "smtp 451 at RCPT TO",
        lambda: t.smtp_fault(lambda: smtp.fail_next(1, 451, stage="rcpt")),
    )
    add(
        "smtp",
        "smtp 421 greeting",
        lambda: t.smtp_fault(lambda: smtp.fail_next(1, 421, stage="connect")),
    )
    add(
        "smtp",
        "smtp disconnect at MAIL FROM",
        lambda: t.smtp_fault(lambda: smtp.drop_next(1, stage="mail")),
    )
    add(
        "smtp",
        MAIL_COPY_KINDS[0],
        lambda: t.smtp_fault(lambda: smtp.drop_next(1, stage="data")),
        copies=2,
    )
    add(
        "smtp",
        "smtp slow reply",
        lambda: t.smtp_fault(lambda: smtp.delay_next(1, 0.3, stage="data")),
    )
    add(
        "smtp",
        MAIL_COPY_KINDS[1],
        lambda: t.smtp_fault(lambda: smtp.delay_next(1, smtp_timeout + 1.0, stage="data")),
    )

    for operation, status, retry_after in (
        ("createFeedDocument", 429, None),
        ("createFeed", 429, 0.2),
        ("upload", 500, None),
        ("getFeed", 503, None),
        ("getFeedDocument", 500, None),
        ("download", 500, None),
        ("token", 500, None),
    ):
        label = f"amazon {status} {operation}" + (
            f" (Retry-After {retry_after:g}s)" if retry_after else ""
        )
        add("amazon", label, partial(t.amazon_fault, operation, status, retry_after))
    for outcome in ("FATAL", "CANCELLED", "IN_PROGRESS"):
        add(
            "amazon",
            f"amazon feed ends {outcome}",
            partial(t.amazon_feed, outcome),
            exclusive="amazon.forced",
        )

    for target in ("ebay", "kaufland"):
        for status in (500, 503, 429):
            add(
                target,
                f"{target} {status}",
                partial(t.knob, target, "_failures", _fail(status)),
                copies=2 if status == 500 else 1,
            )
        add(
            target,
            f"{target} change stored, answer lost (500)",
            partial(t.knob, target, "_store_then_fail", _store_then_fail(target)),
            copies=2,
            loses_answer=True,
        )
        add(
            target,
            f"{target} slow answer ({slow_seconds:g}s)",
            partial(t.knob, target, "_slow", _slow(slow_seconds)),
            loses_answer=timeouts,
        )

    for target in ("hood", "rakuten"):
        status = 500 if target == "hood" else 502
        for code in (status, 503):
            add(
                target,
                f"{target} {code}",
                partial(t.single, target, "fail", _fail(code)),
                exclusive=f"{target}.fail",
            )
        add(
            target,
            f"{target} answer cut off after the change (malformed)",
            partial(t.single, target, "malformed", _malformed),
            exclusive=f"{target}.malformed",
            copies=2,
            loses_answer=True,
        )
        add(
            target,
            f"{target} slow answer ({slow_seconds:g}s)",
            partial(t.single, target, "slow", _slow(slow_seconds)),
            exclusive=f"{target}.slow",
            loses_answer=timeouts,
        )
    return plan


def _fail(status: int) -> Callable[[Any], None]:
    def arm(sim: Any) -> None:
        sim.fail_next(1, status)

    return arm


def _store_then_fail(target: str) -> Callable[[Any], None]:
    def arm(sim: Any) -> None:
        if target == "ebay":
            sim.fail_after_store(1)
        else:
            sim.fail_after_store(1, method="PATCH")

    return arm


def _slow(seconds: float) -> Callable[[Any], None]:
    def arm(sim: Any) -> None:
        sim.slow_next(1, seconds)

    return arm


def _malformed(sim: Any) -> None:
    sim.malformed_next(1)


class Injector:
    """Arms planned faults from a thread once their target's traffic passes the threshold."""

    def __init__(self, plan: FaultPlan, targets: Targets) -> None:
        self.plan = plan
        self.targets = targets
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-injector", daemon=True)

    def __enter__(self) -> Injector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        waiting = sorted(self.plan.faults, key=lambda f: f.threshold)
        while waiting and not self._stop.wait(0.005):
            for fault in list(waiting):
                if self.targets.requests(fault.target) < fault.threshold:
                    continue
                if fault.exclusive and self.targets.busy(fault.exclusive):
                    continue
                fault.remaining = fault.arm()
                waiting.remove(fault)
