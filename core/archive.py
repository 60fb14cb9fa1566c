"""The archive of raw input files: every imported file is kept, named by its sha256."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str) -> str:
    """The last path component only, with anything unusual replaced (no traversal)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._") or "upload"
    return base[:120]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_file(archive_dir: Path, *, data: bytes, file_name: str) -> tuple[str, Path]:
    """Store `data` once under archive/imports/YYYY/MM/; returns (sha256, path)."""
    digest = sha256_of(data)
    month = datetime.now(UTC).strftime("%Y/%m")
    folder = archive_dir / "imports" / month
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest[:16]}-{safe_file_name(file_name)}"
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return digest, path
