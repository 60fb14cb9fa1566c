"""Work in worker processes of the run (tasks/own_process.py): the environment of the call,
errors coming back, and no worker outliving a run killed with SIGKILL."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks import own_process

pytestmark = [
    pytest.mark.skipif(not own_process.supported(), reason="Linux forkserver only"),
    pytest.mark.slow,  # every test starts worker processes or a Python child
]

ROOT = Path(__file__).resolve().parents[1]


def where_and_what(name: str) -> tuple[int, str | None]:
    return os.getpid(), os.environ.get(name)


def what_a_worker_starts_with() -> dict[str, bool]:
    from connectors.http import ssl_context

    return {
        "psycopg imported": "psycopg" in sys.modules,
        "TLS context built": ssl_context.cache_info().currsize == 1,
        "uvloop imported": "uvloop" in sys.modules,
        "preloaded objects frozen": gc.get_freeze_count() > 100_000,
    }


def refuse(text: str) -> None:
    raise ValueError(text)


def note_pid_then_wait(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(120)


def test_work_runs_in_another_process_with_the_environment_of_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own_process.warm_up()  # the forkserver starts with the environment as it is now
    monkeypatch.setenv("LIEFERN_OWN_PROCESS_PROBE", "set after the forkserver started")
    pid, value = asyncio.run(
        own_process.in_own_process(where_and_what, "LIEFERN_OWN_PROCESS_PROBE")
    )
    assert pid != os.getpid()
    assert value == "set after the forkserver started"
    again, _ = asyncio.run(own_process.in_own_process(where_and_what, "HOME"))
    assert again != pid  # a fresh worker per call: nothing carried over


def test_a_worker_starts_with_the_driver_and_tls_context_loaded() -> None:
    # loaded once by the forkserver, not again by each of a run's twenty-odd workers. In a
    # process of its own: a process has one forkserver, and the crash tests start theirs here
    script = (
        "import asyncio, json\n"
        "from tasks.own_process import in_own_process\n"
        "from tests.test_own_process import what_a_worker_starts_with\n"
        "print(json.dumps(asyncio.run(in_own_process(what_a_worker_starts_with))))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == {
        "psycopg imported": True,
        "TLS context built": True,
        "uvloop imported": True,
        "preloaded objects frozen": True,
    }


def test_an_error_in_the_worker_is_raised_to_the_caller() -> None:
    with pytest.raises(ValueError, match="portal said no"):
        asyncio.run(own_process.in_own_process(refuse, "portal said no"))


def test_no_worker_outlives_a_run_killed_with_sigkill(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    script = (
        "import asyncio, sys\n"
        "from tasks.own_process import in_own_process\n"
        "from tests.test_own_process import note_pid_then_wait\n"
        "asyncio.run(in_own_process(note_pid_then_wait, sys.argv[1]))\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script, str(pid_file)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert run.poll() is None, "the run ended before its worker started"
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        assert _alive(worker)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    deadline = time.monotonic() + 10
    while _alive(worker):
        assert time.monotonic() < deadline, f"worker {worker} still runs after its run was killed"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its parent has not reaped it yet
