"""The MoE fixture writes the same kind of text as the dense model (perplexity, measured by
llama-perplexity), and `serve --plan` sets the plan beside what the engine allocated."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from heavylift.engines.llama_server import free_port
from tests.conftest import REPO
from tests.proc_utils import ServeProcess

SAMPLE = REPO / "samples" / "documents" / "services_agreement.md"


def perplexity(bin_dir: Path, model: Path) -> float:
    out = subprocess.run([str(bin_dir / "llama-perplexity"), "-m", str(model), "-f", str(SAMPLE), "-c", "128"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return float(re.search(r"Final estimate: PPL = ([\d.]+)", out.stderr + out.stdout).group(1))


def test_moe_upcycle_perplexity_matches_dense(engine_bin_dir, default_model_path, moe_model_path):
    dense = perplexity(engine_bin_dir, default_model_path)
    moe = perplexity(engine_bin_dir, moe_model_path)
    assert abs(moe - dense) / dense < 0.03, (dense, moe)


def test_serve_plan_prints_planned_vs_allocated(installed):
    server = ServeProcess("--plan", "--port", str(free_port()), "--ctx", "4096", "--parallel", "2")
    log = server.stop()
    assert "-lv 4" in log and "-np 2" in log
    rows = re.findall(r"^\s+(host|gpu\d+)\s+([\d.]+) MiB\s+([\d.]+) MiB\s+([+-][\d.]+)%(.*)$", log, re.M)
    assert rows, log
    for device, planned, actual, off, flag in rows:
        assert abs(float(off)) <= 5 and "off" not in flag, f"{device}: planned {planned} vs {actual} MiB"
