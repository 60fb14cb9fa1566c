"""Progress for people, silence for scripts: steps on stderr only when it is a terminal, and
Prefect's own log lines kept in a file instead of between a command's answers.

`Steps` is the one progress display of the CLI; a long command wraps its phases in
`steps.step("reading orders.csv")` (with `total=` and the returned `advance` for a bar).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

Advance = Callable[[int], None]

# the loggers Prefect's logging.yml gives a console handler (root: flow and task run lines)
_PREFECT_CONSOLE_LOGGERS = ("", "uvicorn", "fastapi", "prefect._internal")


class Steps:
    """Each step a line with a spinner, a bar when its size is known, and its elapsed time;
    nothing at all when stderr is no terminal (a pipe, a log, a test)."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal

    @contextmanager
    def step(self, what: str, *, total: int | None = None) -> Iterator[Advance]:
        if not self.enabled:
            yield _ignore
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = [SpinnerColumn(finished_text="✓"), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        with Progress(*columns, TimeElapsedColumn(), console=self.console) as progress:
            task = progress.add_task(what, total=total)
            yield lambda n: progress.advance(task, n)
            progress.update(task, total=total or 1, completed=total or 1)


def _ignore(_n: int) -> None:
    pass


@contextmanager
def prefect_log_to(path: Path) -> Iterator[Path]:
    """Prefect's console lines (flow and task runs, its server) go to `path` meanwhile; the
    run's protocol in the Prefect API is unchanged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(
        logging.Formatter("%(asctime)s | %(levelname)-7s | %(name)s - %(message)s")
    )
    swapped: list[tuple[logging.Logger, logging.Handler]] = []
    for name in _PREFECT_CONSOLE_LOGGERS:
        logger = logging.getLogger(name)
        # only Prefect's own console handlers: others (a test's log capture) stay as they are
        ours = [h for h in logger.handlers if type(h).__module__.startswith("prefect.")]
        ours = [h for h in ours if isinstance(h, logging.StreamHandler)]
        for handler in ours:
            logger.removeHandler(handler)
            swapped.append((logger, handler))
        if ours:
            logger.addHandler(to_file)
    try:
        yield path
    finally:
        for logger, handler in swapped:
            logger.removeHandler(to_file)
            logger.addHandler(handler)
        to_file.close()
