"""What a small seller runs on one machine: a Prefect server, the deployments of prefect.yaml
with a process worker, and (in `liefern serve`) the web app.

Runs without a long-running Prefect server lose their task-run history (a temporary server is
stopped before it has recorded them), so this, not the ephemeral mode, is the real protocol.

Stopping and starting keep the runs' states true: `stop` ends the workers first (their runs are
reported while the server still listens), then the server; `crash_stale_runs` marks the runs a
killed `serve` left Running or Pending as Crashed, which frees their deployment's concurrency
slot (else the next runs of that deployment would wait in AwaitingConcurrencySlot for ever).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORK_POOL = "liefern"
# states of a run that a live worker still owns: with no worker process behind them, stale
IN_FLIGHT = ("RUNNING", "PENDING", "CANCELLING")
STALE_AT_START = (
    "liefern serve was stopped while this run was in flight (marked Crashed at the next start; "
    "its ledgers tell what was done, the next run goes on from there)"
)
STOPPED = (
    "liefern serve was stopped while this run was in flight (its ledgers tell what was done, "
    "the next run goes on from there)"
)


def _prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


class LocalPrefect:
    """A Prefect server (own SQLite, or `LIEFERN_PREFECT_DATABASE_URL`) plus process workers."""

    def __init__(
        self,
        settings: Settings,
        *,
        port: int = 4200,
        host: str = "127.0.0.1",
        log_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.host, self.port = host, port
        self.home = (settings.home / "prefect").resolve()
        self.log_dir = log_dir or settings.home.resolve() / "logs"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.server: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            LIEFERN_PROJECT_DIR=str(PROJECT_DIR),
            # flow runs start in LIEFERN_PROJECT_DIR: a relative home would be another folder,
            # with another database and (demo mode) another buyer-link key
            LIEFERN_HOME=str(self.settings.home.resolve()),
        )
        if self.settings.prefect_database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
                self.settings.prefect_database_url.get_secret_value()
            )
        env.update(extra)
        return env

    def _spawn(self, name: str, args: list[str], **extra: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args,
            cwd=PROJECT_DIR,
            env=self.env(**extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def start_server(self, timeout: float = 180.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.server = server = self._spawn(
            "prefect-server",
            _prefect("server", "start", "--host", self.host, "--port", str(self.port)),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(
                    f"the Prefect server exited; see {self.log_dir}/prefect-server.log"
                )
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    (self.settings.home / "prefect-api-url").write_text(self.api_url)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the Prefect server did not answer within {timeout:.0f} s")

    def crash_stale_runs(
        self, *, pids: set[str] | None = None, why: str = STALE_AT_START
    ) -> list[str]:
        """Mark runs of the work pool still Running/Pending/Cancelling as Crashed: those of the
        flow-run processes `pids`, or (None) those whose process no longer runs here; the ids.
        Forced (a dead run cannot take the normal way), which still frees the deployment's
        concurrency slot: Prefect's minimal flow policy releases it on leaving Running."""
        query = {
            "flow_runs": {"state": {"type": {"any_": list(IN_FLIGHT)}}},
            "work_pools": {"name": {"any_": [WORK_POOL]}},
            "limit": 200,
        }
        answer = httpx.post(f"{self.api_url}/flow_runs/filter", json=query, timeout=30)
        answer.raise_for_status()
        crashed = []
        for run in answer.json():
            pid = run.get("infrastructure_pid")
            stale = pid in pids if pids is not None else not _process_alive(pid)
            if not stale:
                continue
            state = {"type": "CRASHED", "name": "Crashed", "message": why}
            httpx.post(
                f"{self.api_url}/flow_runs/{run['id']}/set_state",
                json={"state": state, "force": True},
                timeout=30,
            ).raise_for_status()
            crashed.append(str(run["id"]))
        return crashed

    def deploy(self, names: list[str] | None = None, *, prefect_file: Path | None = None) -> None:
        """Create the work pool (once) and the deployments of prefect.yaml (all by default)."""
        env = self.env()
        subprocess.run(
            _prefect("work-pool", "create", WORK_POOL, "--type", "process"),
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            check=False,
        )
        result = subprocess.run(
            _prefect(
                "--no-prompt",
                "deploy",
                *(["--prefect-file", str(prefect_file)] if prefect_file else []),
                *([arg for n in names for arg in ("--name", n)] if names else ["--all"]),
            ),
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"prefect deploy failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )

    def start_worker(
        self, name: str = "worker", *, limit: int | None = None, **extra: str
    ) -> subprocess.Popen[bytes]:
        args = ["worker", "start", "--pool", WORK_POOL, "--name", name, "--type", "process"]
        # Flow runs inherit the worker's environment. glibc keeps a malloc arena per thread
        # that allocated, and a deliver run's portal threads then held ~400 MB more on
        # PostgreSQL for no speed (docs/benchmarks.md); two arenas are plenty.
        extra = {"MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2"), **extra}
        return self._spawn(
            name, _prefect(*args, *(["--limit", str(limit)] if limit else [])), **extra
        )

    def stop(self, grace: float = 30.0) -> None:
        """The flow runs first (SIGTERM), then the workers, then those runs recorded as Crashed
        while the server still listens; the server last. SIGKILL after `grace` seconds."""
        workers = [p.pid for p in self.processes if p is not self.server and p.poll() is None]
        # flow runs live in sessions of their own: a signal to the worker's group misses them
        runs = [pid for w in workers for pid in descendants(w)]
        _terminate(runs, grace)
        # an idle Prefect worker ignores its first SIGTERM for good; its second one is a SIGKILL
        _terminate(workers, 3.0)
        if runs and self.server and self.server.poll() is None:
            # Prefect's worker stops without a word on its runs: say it while the server listens
            with contextlib.suppress(httpx.HTTPError):
                self.crash_stale_runs(pids={str(pid) for pid in runs}, why=STOPPED)
        _terminate([self.server.pid] if self.server else [], grace)
        for process in self.processes:
            process.wait()
        self.processes.clear()
        self.server = None
        api_file = self.settings.home / "prefect-api-url"
        if api_file.exists() and api_file.read_text().strip() == self.api_url:
            api_file.unlink()


def _terminate(pids: list[int], grace: float) -> None:
    """SIGTERM to each process's group (a worker's, a flow run's with its helpers), wait up to
    `grace` seconds for all, then SIGKILL what is left."""
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_exists(pid) for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        if _exists(pid):
            _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(pid), signum)


def _exists(pid: int) -> bool:
    """Still running (a zombie has ended: our own children are reaped by `wait` later)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (Linux /proc; elsewhere none are found)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def _process_alive(infrastructure_pid: str | None) -> bool:
    """Whether the flow-run process a worker recorded still runs here (`pid` or `host:pid`)."""
    if not infrastructure_pid:
        return False  # never started: Pending while a worker was submitting it
    try:
        pid = int(str(infrastructure_pid).rsplit(":", 1)[-1])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")  # a reused pid is no flow run
    return not cmdline.exists() or b"prefect" in cmdline.read_bytes()
