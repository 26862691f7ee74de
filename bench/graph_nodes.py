"""Graph nodes per token of an architecture in the pinned llama.cpp engine, read from its own log.

Writes tiny random-weight GGUFs (tests/plan/arch_gguf.py) with a real model's layer pattern and
n_expert_used but tiny widths (the node count depends on the layers and the experts used, not on
the widths), starts llama-server on each with -np 1 (one sequence: the decode graph is the prompt
graph) and prints llama-context.cpp sched_reserve's `graph: nodes = N` line. Evidence for
plan/speed_build.py (docs/speed.md, "Build effects"); no timing, a few seconds per model.

    python bench/graph_nodes.py [--fa on|off]
"""

from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.plan.arch_gguf

from heavylift.models.model_arch import ModelArch  # noqa: E402
from heavylift.setup.engine_build import current_engine  # noqa: E402
from tests.plan.arch_gguf import TINY_CONFIGS, write_arch_gguf  # noqa: E402

# (label, tiny config, overrides): the real models' num_hidden_layers / experts used (config.json)
MODELS = [
    ("Qwen3-Next-80B-A3B layout (48 layers, attention every 4th, 10 experts used)", "qwen3_next",
     {"num_hidden_layers": 48, "num_experts": 16, "num_experts_per_tok": 10}),
    ("Qwen3-30B-A3B-like qwen3moe (48 layers, 8 experts used)", "qwen3_moe",
     {"num_hidden_layers": 48, "num_experts": 16, "num_experts_per_tok": 8}),
    ("llama, 48 layers", "llama", {"num_hidden_layers": 48}),
]
GRAPH_LINE = re.compile(r"graph(?: \(pp bs=\d+, tg bs=\d+\))?: nodes = ([\d /]+), splits = ([\d /]+)")


def graph_nodes(server: str, model: Path, fa: str, timeout_s: float = 60) -> str:
    """llama-server's `nodes = N, splits = S` for `model` (pp / tg when they differ)."""
    proc = subprocess.Popen([server, "-m", str(model), "-c", "512", "-np", "1", "-t", "1", "-fa", fa,
                             "--host", "127.0.0.1", "--port", "0", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = "not logged"
    deadline = time.monotonic() + timeout_s
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if (m := GRAPH_LINE.search(line)):
                found = f"nodes = {m.group(1).strip()}, splits = {m.group(2).strip()}"
                break
            if "listening" in line or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fa", default="on", choices=("on", "off"))
    args = ap.parse_args()
    engine = current_engine()
    server = engine.binary("llama-server")
    print(f"engine: {server}  (-np 1 -c 512 -fa {args.fa})")
    with tempfile.TemporaryDirectory(prefix="hl-graph-nodes-") as tmp:
        for label, model_type, overrides in MODELS:
            cfg = copy.deepcopy(TINY_CONFIGS[model_type])
            cfg.update(overrides)
            arch = ModelArch.from_hf_config(cfg, name=f"tiny-{model_type}")
            path = write_arch_gguf(Path(tmp) / f"{model_type}.gguf", arch)
            print(f"{label:78} {graph_nodes(server, path, args.fa)}")


if __name__ == "__main__":
    main()
