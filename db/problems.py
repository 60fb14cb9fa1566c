"""A database that cannot be opened, said as a set-up problem: what is wrong and what to do.

The driver's own exception (a 40-line traceback) becomes one `SetupError` naming the database
and the fix. Messages carry the database name and host, never the URL (it may hold a password).
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url

from core.setup_error import SetupError

FIX_URL = "fix LIEFERN_DATABASE_URL"
# what PostgreSQL says for a database name it does not know (server messages are English by
# default; with lc_messages set otherwise only the general hint below is given)
_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')


def unreachable_database(url: str, error: BaseException) -> SetupError:
    """The set-up problem behind `error`, raised while opening the database at `url`."""
    reason = _first_line(getattr(error, "orig", None) or error)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ":memory:"
        if "not a database" in reason:
            return SetupError(
                f"{path} is not a SQLite database ({reason})",
                f"move that file away or {FIX_URL} (or LIEFERN_HOME)",
            )
        return SetupError(
            f"cannot open the SQLite database {path} ({reason})",
            f"make its folder exist and writable, or {FIX_URL} (or LIEFERN_HOME)",
        )
    missing = _MISSING_DATABASE.search(reason)
    if missing:
        name = missing.group(1)
        return SetupError(
            f"the database {name!r} does not exist on {parsed.host or 'localhost'}",
            f"create the database `{name}` (e.g. `createdb {name}`) or {FIX_URL}",
        )
    return SetupError(
        f"cannot connect to the database {parsed.database!r} on {parsed.host or 'localhost'} "
        f"({reason})",
        f"start the database server, check user and password, or {FIX_URL}",
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    # psycopg: 'connection failed: connection to server at "…", port 5432 failed: FATAL:  …'
    last = text.splitlines()[0] if text else type(error).__name__
    return re.sub(r"\s+", " ", last.rsplit("FATAL:", 1)[-1]).strip()
