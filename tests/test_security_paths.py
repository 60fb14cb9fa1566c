"""File names from uploads and command lines never leave the archive directory.

`core.archive.safe_file_name` keeps the last path component only and replaces anything
unusual, whatever the name holds (`..`, absolute paths, Windows drives and backslashes, NUL,
Unicode look-alikes of `/` and `.`); `archive_file` then always writes below its archive
directory, under a name that cannot be hidden or empty.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.archive import archive_file, safe_file_name
from tests.stress.fuzzing import fuzz

HOSTILE = [
    "../../etc/passwd",
    "..",
    ".",
    "",
    "/",
    "/etc/cron.d/liefern",
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    "..\\..\\boot.ini",
    "tracking.csv\x00.png",
    "\u2025\u2215etc\u2215passwd",  # two-dot leader and division slash
    "．．／．．／etc",  # full-width dots and slash
    ".htaccess",
    "~/.ssh/authorized_keys",
    "tracking.csv\r\nX-Injected: 1",
    "a" * 5000,
    "con.csv",
]
NAMES = (
    st.text(max_size=300)
    | st.sampled_from(HOSTILE)
    | st.lists(
        st.sampled_from(["..", ".", "/", "\\", "a", "..\\", "%2e%2e%2f", "\x00"]), max_size=12
    ).map("".join)
)
SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,119}")


@fuzz()
@given(name=NAMES)
def test_a_safe_file_name_is_one_plain_component(name: str) -> None:
    safe = safe_file_name(name)
    assert SAFE.fullmatch(safe), safe  # no separator, no leading dot: no "..", no hidden file


@pytest.mark.parametrize("name", HOSTILE)
def test_archived_files_stay_inside_the_archive(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "archive"
    digest, path = archive_file(archive, data=b"order_no;carrier\n", file_name=name)
    assert path.resolve().is_relative_to(archive.resolve())
    assert path.parent.parent.parent == archive / "imports"
    assert path.name.startswith(digest[:16] + "-")
    assert path.read_bytes() == b"order_no;carrier\n"
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == [path]
