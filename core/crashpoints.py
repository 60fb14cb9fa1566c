"""Named crash points: the crash-safety tests kill a run at a chosen place, with SIGKILL.

A crash point marks a place where a real process can die (power cut, OOM killer, `kill -9`):
between a side effect (a mail handed to the server, a portal told) and the commit that records
it. The tests start a run with `LIEFERN_CRASH_AT=<point>:<n>` (several joined by commas) and
the process kills itself the n-th time it reaches that point; then they run again without it
and check that nothing was lost and nothing was done twice beyond the documented rules.

Without the variable a crash point costs one dictionary lookup: the variable is read once per
process, at the first crash point reached.
"""

from __future__ import annotations

import os
import signal

ENV_VARIABLE = "LIEFERN_CRASH_AT"

_plan: dict[str, int] | None = None
_reached: dict[str, int] = {}


def parse_plan(value: str) -> dict[str, int]:
    """`"mails.after_prepare:1,confirm.after_submit:2"` -> {point: n}; bad parts raise."""
    plan: dict[str, int] = {}
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, count = part.rpartition(":")
        if not name or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{ENV_VARIABLE}: {part!r} is not <point>:<n> with n >= 1")
        plan[name] = int(count)
    return plan


def crash_point(name: str) -> None:
    """Die here (SIGKILL, no cleanup, no commit) when the plan says so; else do nothing."""
    global _plan
    plan = _plan
    if plan is None:
        plan = _plan = parse_plan(os.environ.get(ENV_VARIABLE, ""))
    if not plan or name not in plan:
        return
    reached = _reached[name] = _reached.get(name, 0) + 1
    if reached == plan[name]:
        os.kill(os.getpid(), signal.SIGKILL)
