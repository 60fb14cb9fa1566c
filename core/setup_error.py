"""A set-up problem the operator fixes, not a bug: a message and the one step that fixes it.

Raised by settings, database and start-up checks; the CLI prints it as one line (`--json`:
`{"error": …, "hint": …}`, exit 2) instead of a traceback. Subclasses `RuntimeError` so that
callers catching that still see it.
"""

from __future__ import annotations


class SetupError(RuntimeError):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message}; {hint}")
        self.message = message
        self.hint = hint
