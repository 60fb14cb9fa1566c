"""Row-level problems of an input file: reported, stored, and never stopping the good rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int  # line in the file as a spreadsheet shows it: the header is row 1
    column: str
    value: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class UnreadableInput(Exception):
    """The file as a whole cannot be read (no header we know, not text, ...): exit code 2."""
