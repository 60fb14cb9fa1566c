"""What a small seller runs on one machine: a Prefect server, the deployments of prefect.yaml
with a process worker, and (in `liefern serve`) the web app.

Runs without a long-running Prefect server lose their task-run history (a temporary server is
stopped before it has recorded them), so this, not the ephemeral mode, is the real protocol.
"""

from __future__ import annotations

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
        self._spawn(
            "prefect-server",
            _prefect("server", "start", "--host", self.host, "--port", str(self.port)),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[0].poll() is not None:
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

    def deploy(self, names: list[str] | None = None) -> None:
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

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        api_file = self.settings.home / "prefect-api-url"
        if api_file.exists() and api_file.read_text().strip() == self.api_url:
            api_file.unlink()
