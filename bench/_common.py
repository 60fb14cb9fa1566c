"""Shared plumbing of the benchmarks: machine facts, child processes with their peak memory,
databases made for one benchmark and dropped afterwards, a Prefect server, the results file.

Every measured step runs in a child process so that its peak RSS is its own
(`os.wait4` hands back the child's rusage) and no run inherits another's caches or pools.
Benchmark data lives under bench/out/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
PG_ADMIN_URL = os.environ.get(
    "LIEFERN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

INTRO = """# Benchmarks

Measured by the scripts in `bench/` on the machine named in each section; every script measures
its own baseline in the same run, so the ratios hold on another machine even where the absolute
numbers do not. Rerun everything (benchmark data goes to the git-ignored `bench/out/`; the
PostgreSQL parts need a local server at 127.0.0.1:5432, user `postgres`, trust; the mail parts
need Postfix's `smtp-sink`/`smtp-source`: `DEBIAN_FRONTEND=noninteractive apt-get install -y
postfix`, the postfix daemon itself is never started):

```
uv run python bench/tracking_import.py            # 1,000,000 rows, SQLite and PostgreSQL
uv run python bench/shipping_mails.py             # 10,000 and 100,000 mails
uv run python bench/deliver_chain.py              # 10,000 and 100,000 orders, both databases
uv run python bench/deliver_chain.py --profile realistic --sizes 10000 --runs 1 --db sqlite
                                                  # against the portals' latency and rate limits
uv run python bench/web_arrival.py                # buyer arrival page (needs `wrk`)
uv run python bench/portal_calls.py               # client CPU per portal call
```

Each script prints a summary and replaces its own section below (`--no-doc` leaves this file
alone). Times are wall-clock medians; peak RSS is the measured process's own (VmHWM of the
child's /proc/self/status: `ru_maxrss` would include the parent's, which Linux carries over
fork and exec).
"""


# --- machine ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    memory = free[1].split()[1] if len(free) > 1 else "?"
    return {
        "cpu": model or "?",
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def python_speed_ms() -> float:
    """One core's speed for Python, to compare machines: `sum(range(10**6))`, best of 5.

    The same cloud model name can hide very different cores: one machine took 34 ms here, and
    every Python-bound figure on it came out at about half of another's."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(range(10**6))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def machine_line(extra: dict[str, str] | None = None) -> str:
    facts = {**machine(), **(extra or {})}
    cpu, nproc, memory = facts.pop("cpu"), facts.pop("nproc"), facts.pop("memory")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"Machine: {cpu}, nproc {nproc}, {memory} RAM (`free -h`), "
        f"`sum(range(10**6))` in {python_speed_ms():.0f} ms; "
        + ", ".join(f"{k} {v}" for k, v in facts.items())
        + f"; load average at the end {load} (other work on the machine shares its 2 cores)"
    )


# --- child processes -------------------------------------------------------------------------


def project_packages() -> list[str]:
    """The packages a wheel of the project holds (pyproject.toml), its Python ones."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return [p for p in packages if (ROOT / p / "__init__.py").exists()]


@cache
def compile_bytecode() -> None:
    """Byte-compile the project and its packages before any child starts, as an installation
    for production has them (`uv sync --compile-bytecode`, pip's default). Without `.pyc` files
    (uv's default, or PYTHONDONTWRITEBYTECODE set) every process compiles each module it
    imports, and modules imported late (Prefect's engine, aiohttp, the connectors) were a
    tenth of a 10,000-order deliver chain's time."""
    import compileall
    import sysconfig

    started = time.perf_counter()
    for path in (sysconfig.get_paths()["purelib"], *(ROOT / p for p in project_packages())):
        compileall.compile_dir(path, quiet=2, workers=0)  # quiet: modules for newer Pythons
    print(f"(bytecode ready in {time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":  # `python -m bench._common`: what .ci/run does before the tests
    compile_bytecode()


@dataclass
class ChildResult:
    result: dict[str, Any]  # what the child printed as its last JSON line
    wall: float  # seconds from start to exit, as seen by the parent
    max_rss_mb: float  # the child's own peak (VmHWM), or ru_maxrss where /proc is missing
    max_tree_mb: float = 0.0  # the child and the processes it started: peak of their PSS sum


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


# A look scans /proc for the descendants and reads each one's smaps_rollup, which makes the
# kernel walk their page tables: 32 ms of CPU during a deliver run of 10,000 orders (2026-12-03,
# a 35 ms machine). Every quarter second, that took an eighth of a core from the measured chain.
PSS_LOOK_SECONDS = 1.0


def tree_pss_mb(root: int) -> float:
    """Memory of a process and its descendants (worker processes): the sum of their PSS, so
    pages they share (forked from one parent) count once. 0 where /proc has no smaps_rollup."""
    total = 0
    for pid in _descendants(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total / 1024


def run_child(
    args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 7200
) -> ChildResult:
    """Run `python bench/<args>` and return its JSON result and its own peak RSS."""
    compile_bytecode()
    out_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the child writes it; closed below
        prefix="bench-child-", suffix=".out", delete=False
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=out_file,
        stderr=subprocess.STDOUT,
    )
    deadline = started + timeout
    tree_mb, next_look = 0.0, 0.0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        if time.perf_counter() >= next_look:
            tree_mb = max(tree_mb, tree_pss_mb(process.pid))
            next_look = time.perf_counter() + PSS_LOOK_SECONDS
        time.sleep(0.05)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    out_file.close()
    text = Path(out_file.name).read_text(errors="replace")
    Path(out_file.name).unlink()
    if process.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed ({process.returncode}):\n{text[-4000:]}")
    last = [line for line in text.splitlines() if line.startswith("{")]
    if not last:
        raise RuntimeError(f"child {' '.join(args)} printed no result:\n{text[-4000:]}")
    result = json.loads(last[-1])
    own = result.pop("peak_rss_mb", None)
    return ChildResult(result, wall, own or usage.ru_maxrss / 1024, tree_mb)


def emit(result: dict[str, Any]) -> None:
    """A child's last line: its result as JSON (with its own peak RSS), read by run_child."""
    sys.stdout.flush()
    peak = own_peak_rss_mb()
    if peak:
        result = {**result, "peak_rss_mb": peak}
    print(json.dumps(result, default=str), flush=True)


def own_peak_rss_mb() -> float | None:
    """This process's peak RSS since it started its program: VmHWM of /proc/self/status.

    Not `ru_maxrss`: Linux carries the parent's high-water mark over fork and exec into the
    child's, so a child of a benchmark that holds 100,000 sample orders showed 735 MB whatever
    it used itself."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system, every thread) used so far by this process ("run") and by
    the processes it started ("workers": the forkserver and the workers it has reaped), from
    /proc. Unlike a wall time they hardly grow when other work shares the cores; they do grow
    on slower cores (the machine line names the Python speed of one). Zeros without /proc."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    me = os.getpid()

    def times(pid: int | str) -> list[int]:
        # utime stime cutime cstime: the fields after the command name, 14 to 17
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return [int(v) for v in fields[11:15]]

    try:
        own = times("self")
    except OSError:
        return {"run": 0.0, "workers": 0.0}
    workers = own[2] + own[3]  # children that have ended and been waited for
    for pid in _descendants(me):
        if pid != me:
            try:
                workers += sum(times(pid))
            except OSError:  # ended meanwhile
                continue
    return {"run": (own[0] + own[1]) / ticks, "workers": workers / ticks}


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# --- databases -------------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one benchmark, dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_version() -> str:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            return str(row[0]).split()[0] if row else "?"
    except Exception:  # only a label in the report
        return "unreachable"


def dbapi_connect(url: str) -> Any:
    """A raw DB-API connection (sqlite3 or psycopg) for set-up work that is not measured."""
    if url.startswith("sqlite:///"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")
        return connection
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def bulk_insert(
    connection: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Set-up only: sqlite3 executemany, or COPY on PostgreSQL, in the caller's transaction."""
    names = ", ".join(columns)
    if isinstance(connection, sqlite3.Connection):
        marks = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - our names
        connection.executemany(statement, rows)
        return
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def migrate(url: str) -> None:
    """The schema at head, by the project's own migrations (in a child: Alembic's logging)."""
    done = subprocess.run(
        [sys.executable, "-c", f"from db.migrate import upgrade; upgrade({url!r})"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrating {url} failed:\n{done.stderr[-3000:]}")


# --- Prefect ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_environment(home: Path) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
    }


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A long-running `prefect server start` (as operators run it); yields its API URL.

    Started once per benchmark, before anything is measured: its start-up is not in any time.
    """
    compile_bytecode()
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    port = free_port()
    env = {**os.environ, **prefect_environment(home)}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui",
            "--analytics-off",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prefect server did not come up in 180 s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def child_environment(
    *, db_url: str, home: Path, prefect_url: str | None, prefect_home: Path
) -> dict[str, str]:
    env = {
        **prefect_environment(prefect_home),
        "LIEFERN_DATABASE_URL": db_url,
        "LIEFERN_HOME": str(home),
        "LIEFERN_DEMO": "true",
        "LIEFERN_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "MALLOC_ARENA_MAX": "2",  # as `liefern serve` sets it for its worker's flow runs
        # the chain sends an Amazon feed per carrier group and resubmits in the poll, seconds
        # apart: with Amazon's 20-minute feed interval (core/settings.py) a run would wait
        # for the interval instead of measuring the work
        "LIEFERN_AMAZON_FEED_INTERVAL_MINUTES": "0",
    }
    if prefect_url:
        env["PREFECT_API_URL"] = prefect_url
    return env


# --- results file ----------------------------------------------------------------------------


def write_section(title: str, body: str) -> None:
    """Replace (or append) the `## title` section of docs/benchmarks.md; other sections stay."""
    heading = f"## {title}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    first = text.find("\n## ") + 1 if "\n## " in text else len(text)
    text = INTRO + "\n" + text[first:]  # the intro is rewritten, every section kept
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    block = [heading, "", *body.strip("\n").splitlines(), ""]
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *block]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines[start:end] = block
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# --- sample stores ---------------------------------------------------------------------------

ORDER_COLUMNS = (
    "id",
    "order_no",
    "portal",
    "portal_account",
    "portal_order_id",
    "buyer_name",
    "buyer_email",
    "language",
    "country",
    "postal_code",
    "city",
    "status",
    "created_at",
    "updated_at",
)
ITEM_COLUMNS = ("order_id", "item_id", "sku", "title", "quantity")
PARCEL_COLUMNS = ("order_id", "carrier", "tracking_number", "ship_date", "source", "created_at")


def _now_value(connection: Any) -> Any:
    now = datetime.now(UTC)
    return (
        now.replace(tzinfo=None).isoformat(sep=" ")
        if isinstance(connection, sqlite3.Connection)
        else now
    )


def unique_portal_ids(samples: Sequence[Any]) -> list[Any]:
    """Random sample ids collide now and then at 10k+ orders; the store keeps them unique."""
    seen: set[tuple[str, str, str]] = set()
    for sample in samples:
        order = sample.order
        key = (order["portal"], order["portal_account"], order["portal_order_id"])
        while key in seen:
            order["portal_order_id"] += "7"
            key = (order["portal"], order["portal_account"], order["portal_order_id"])
        seen.add(key)
    return list(samples)


def store_samples(
    url: str, samples: Sequence[Any], *, parcels: Sequence[tuple[str, str]] | None = None
) -> None:
    """Set-up only: sample orders (ids 1..n) with items, optionally one parcel each.

    `parcels` holds (carrier, tracking number) per order, in the order of `samples`."""
    connection = dbapi_connect(url)
    now = _now_value(connection)
    orders = (
        (n, *(s.order[c] for c in ORDER_COLUMNS[1:11]), "open", now, now)
        for n, s in enumerate(samples, start=1)
    )
    bulk_insert(connection, "orders", ORDER_COLUMNS, orders)
    items = (
        (n, i["item_id"], i["sku"], i["title"], i["quantity"])
        for n, s in enumerate(samples, start=1)
        for i in s.items
    )
    bulk_insert(connection, "order_items", ITEM_COLUMNS, items)
    if parcels is not None:
        day = (
            "2026-11-24"
            if isinstance(connection, sqlite3.Connection)
            else datetime(2026, 11, 24).date()
        )
        bulk_insert(
            connection,
            "parcels",
            PARCEL_COLUMNS,
            ((n, c, t, day, "cli", now) for n, (c, t) in enumerate(parcels, start=1)),
        )
    connection.commit()
    if not isinstance(connection, sqlite3.Connection):
        connection.execute("SELECT setval('orders_id_seq', %s)", (len(samples),))
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")
    connection.close()


# --- Postfix's smtp-sink and smtp-source -----------------------------------------------------

POSTFIX_HINT = (
    "Postfix's smtp-sink/smtp-source are missing: install them with "
    "`DEBIAN_FRONTEND=noninteractive apt-get install -y postfix` (only these two programs are "
    "used; the postfix daemon is never started)"
)


def postfix_tool(name: str) -> str:
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin"):
        path = Path(folder) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise SystemExit(POSTFIX_HINT)
    return found


@contextmanager
def smtp_sink() -> Iterator[int]:
    """Postfix's `smtp-sink` on a free loopback port: accepts and discards every mail."""
    port = free_port()
    as_root = ["-u", "postfix"] if os.geteuid() == 0 else []  # it refuses to run as root
    process = subprocess.Popen(
        [postfix_tool("smtp-sink"), *as_root, "-m", "1024", f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("smtp-sink did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def smtp_source(port: int, *, messages: int, sessions: int, size: int) -> float:
    """Seconds `smtp-source` takes for `messages` mails of `size` bytes over `sessions`
    reused connections (`-d`)."""
    started = time.perf_counter()
    subprocess.run(
        [
            postfix_tool("smtp-source"),
            "-d",
            "-s",
            str(sessions),
            "-m",
            str(messages),
            "-l",
            str(size),
            "-f",
            "versand@beispiel-shop.de",
            "-t",
            "buyer@example.de",
            f"127.0.0.1:{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started
