"""`heavylift ps` and `heavylift stop` on real processes: a serve, an analysis job, an orphan engine.

Other heavylift processes may run on the same machine (other data folders): every check looks
only at the processes this test started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heavylift.engines.llama_server import free_port
from heavylift.engines.processes import pid_alive
from tests.conftest import run_cli
from tests.proc_utils import ServeProcess, wait_until


def _ps() -> list[dict]:
    proc = run_cli("ps", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ps_and_stop_a_serve_by_port(installed) -> None:
    port = free_port()
    server = ServeProcess("--port", str(port), "--ctx", "1024")
    try:
        (row,) = [r for r in _ps() if r["pid"] == server.proc.pid]
        assert row["kind"] == "serve" and row["port"] == port and row["model"] == "smollm2-135m-instruct"
        assert row["engine_pid"] and pid_alive(row["engine_pid"]) and row["rss_bytes"] > 50 * 2**20
        human = run_cli("ps").stdout
        assert str(port) in human and "smollm2-135m-instruct" in human
        stopped = run_cli("stop", str(port), "--json", timeout=90)
        assert stopped.returncode == 0, stopped.stderr
        result = json.loads(stopped.stdout)
        assert result["outcome"] == "stopped" and result["pid"] == server.proc.pid, (result, server.stop())
        assert server.proc.wait(timeout=10) == 0
        assert not pid_alive(row["engine_pid"])
        assert all(r["pid"] != server.proc.pid for r in _ps())
    finally:
        server.stop()


def test_stop_a_job_by_name_leaves_it_resumable(installed, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("The notice period is thirty days. " * 40)
    name = f"ps-job-{time.time_ns()}"
    asks = [w for i in range(8) for w in ("--ask", f"Question {i}: restate the document in detail.")]
    job = subprocess.Popen([sys.executable, "-m", "heavylift", "analyze", str(doc), "--name", name,
                            "--max-tokens", "400", *asks], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    try:
        assert wait_until(lambda: any(r["name"] == name and r["engine_pid"] for r in _ps()), 120), job.stderr
        (row,) = [r for r in _ps() if r["name"] == name]
        assert row["kind"] == "job" and row["pid"] == job.pid and row["port"]
        stopped = run_cli("stop", name, "--json", timeout=90)
        assert stopped.returncode == 0, stopped.stderr
        assert json.loads(stopped.stdout)["outcome"] in ("stopped", "killed")
        job.wait(timeout=30)
        assert not pid_alive(row["engine_pid"])
        show = json.loads(run_cli("jobs", "show", name, "--json").stdout)
        assert show["progress"]["status"] != "running"
    finally:
        if job.poll() is None:
            job.kill()


def _start_orphan(binary: Path, model: Path, port: int) -> int:
    """A llama-server whose parent is gone, as a killed run leaves it: started by a shell that exits at
    once (so it is re-parented, never a child of this test process, which in-process tests may have
    recorded as a job's pid), in its own session. Returns its pid."""
    out = subprocess.run(["sh", "-c", f'setsid "{binary}" -m "{model}" --port {port} -c 512 >/dev/null 2>&1 & echo $!'],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_an_orphan_engine_is_listed_and_stopped(installed, engine_bin_dir: Path, default_model_path: Path) -> None:
    pid = port = None
    for _ in range(3):  # another test's server may take the free port between free_port() and the bind
        port = free_port()
        pid = _start_orphan(engine_bin_dir / "llama-server", default_model_path, port)

        def listed_or_gone(engine_pid: int = pid) -> bool:
            return not pid_alive(engine_pid) or any(r["pid"] == engine_pid for r in _ps())

        if wait_until(listed_or_gone, 60) and pid_alive(pid):
            break
        if pid_alive(pid):  # alive but never listed: do not leave it behind for the next try
            os.kill(pid, signal.SIGKILL)
    try:
        assert pid_alive(pid), "the orphan stand-in exited on its own three times"
        (row,) = [r for r in _ps() if r["pid"] == pid]
        assert row["kind"] == "engine" and row["name"] == "orphan" and row["port"] == port
        stopped = run_cli("stop", str(port), timeout=60)
        assert stopped.returncode == 0 and "orphan" in stopped.stdout, stopped.stderr
        assert wait_until(lambda: not pid_alive(pid), 10)
    finally:
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("target", ["no-such-job-or-model", "1"])
def test_stop_nothing_is_one_line(target: str) -> None:
    proc = run_cli("stop", target)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "nothing running is called" in proc.stderr
