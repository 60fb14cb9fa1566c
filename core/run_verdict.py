"""How a run ends: one rule for the state the Prefect UI shows and the CLI's exit code.

- **Failed**: a step errored, so work was left undone: a portal task failed (missing or
  refused credentials, an outage, retries exhausted). The state's message names it.
- **Completed with problems**: the run did its work, but orders need a look: a shipping mail
  failed, has an unknown outcome or waits for the mail server; a confirmation was rejected,
  failed, is held for its mail or waits to be sent again.
- **Completed**: everything went through. Suppressed mails and skipped confirmations are the
  accounts' policy, not problems.

The CLI exits 1 for the first two and 0 for the last (DESIGN: 1 = the work ran but items
failed). Called as a function, a Failed run raises RunFailed, which carries the run's result
(flows/results.py).
flows/outcome.py turns a verdict into the Prefect state; this module stays free of Prefect
so the CLI can use the same rule before Prefect is set up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from flows.results import ConfirmationProblem, DeliverResult, PollResult, RunResult

WITH_PROBLEMS = "Completed with problems"
MAIL_PROBLEMS = ("failed", "unknown", "waiting")
R = TypeVar("R")


class RunFailed(Exception):
    """A run that ended Failed; `.summary` is what it did before and besides the failure."""

    def __init__(self, message: str, summary: RunResult) -> None:
        super().__init__(message)
        self.message, self.summary = message, summary

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunFailed, (self.message, self.summary))

    def result(self, kind: type[R]) -> R:
        """The failed run's result, as the type the caller's flow answers."""
        if not isinstance(self.summary, kind):
            raise TypeError(f"{type(self.summary).__name__} is no {kind.__name__}") from self
        return self.summary


@dataclass(frozen=True)
class Verdict:
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.problems

    def message(self) -> str:
        if self.errors:
            return "; ".join(self.errors)[:1000]
        return "; ".join(self.problems)


def _problem_counts(counts: dict[str, int], names: tuple[str, ...], what: str) -> list[str]:
    return [f"{counts[n]} {what} {n}" for n in names if counts.get(n)]


def deliver_verdict(summary: DeliverResult) -> Verdict:
    problems = _problem_counts(summary.totals, MAIL_PROBLEMS, "mails")
    confirmations = summary.confirmations
    if confirmations is None:
        return Verdict([], problems)
    problems += _confirmation_problems(confirmations.problems)
    return Verdict(list(confirmations.errors), problems)


def poll_verdict(summary: PollResult) -> Verdict:
    return Verdict(list(summary.errors), _confirmation_problems(summary.problems))


def _confirmation_problems(problems: Sequence[ConfirmationProblem]) -> list[str]:
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.status] = counts.get(p.status, 0) + 1
    return [f"{n} confirmations {status}" for status, n in sorted(counts.items())]
