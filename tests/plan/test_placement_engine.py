"""The planner's placement against the real engine.

llama.cpp's RPC backend gives this CPU-only machine real extra devices: two `ggml-rpc-server`
processes on 127.0.0.1 become devices RPC0 and RPC1, and llama-server assigns layers and tensors
to them through the same code as to CUDA devices (llama-model.cpp load_tensors, the -ot overrides
in llama-model-loader.cpp). For each case the engine's own debug log (`-v`: "load_tensors: layer N
assigned to device X", and the per-buffer sizes) must equal the planner's per-layer device list,
and its weights and KV cache per device to the log's 0.01 MiB. The cases cover -ngl 0 / 1 /
n_layer / n_layer+1 / 999, tensor splits (including ones where float32 and float64 arithmetic
split differently), --n-cpu-moe, --cpu-moe and the common -ot forms, on the dense default model
and its 4-expert MoE upcycle. `--load-mode none` makes the host buffer the exact tensor bytes
(with mmap llama.cpp reports the span of the file the host tensors cover). GPU compute buffers
are not compared: the RPC devices run the CPU backend's graph, not CUDA's.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from heavylift.engines.llama_server import free_port
from heavylift.hardware.spec import parse_hw
from heavylift.plan.actual import parse_layer_devices, parse_load_log
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import resolve
from heavylift.plan.placement import Placer
from heavylift.plan.placement_flags import CPU
from heavylift.plan.server_flags import PlanRequest, merge_flags
from tests.proc_utils import ServeProcess

MiB = 1 << 20
# two GPUs: the planner's CUDA0 / CUDA1 are the engine's RPC0 / RPC1. The RPC devices allocate as the
# CPU backend does, without ggml-cuda's row padding and 128-byte alignment (placement.CUDA_ROW_PADDING):
# a backend the planner does not pad for stands for them
RIG = "2x rtx-4090, 64GB, vulkan"
CASES = [  # (model, llama-server flags with CUDA<i> device names)
    ("dense", "-ngl 0"), ("dense", "-ngl 1"), ("dense", "-ngl 30"), ("dense", "-ngl 31"), ("dense", "-ngl 999"),
    ("dense", "-ngl 31 -ts 3,1"), ("dense", "-ngl 20 -ts 1,3"), ("dense", "-ngl 31 -ts 1,0"),
    # float32 split points (llama.cpp) give other layers than float64 would for these three
    ("dense", "-ngl 3 -ts 0.3,0.6"), ("dense", "-ngl 6 -ts 0.1,0.5"), ("dense", "-ngl 4 -ts 2.1,0.7"),
    ("dense", "-ngl 31 -ts 1,1 -ot token_embd=CUDA1"), ("dense", "-ngl 0 -ot output=CUDA1"),
    ("moe", "-ngl 31"), ("moe", "-ngl 31 -ts 1,1 --n-cpu-moe 5"), ("moe", "-ngl 30 -ts 1,1 -ot exps=CPU"),
    ("moe", r"-ngl 31 -ts 1,1 -ot \.ffn_(up|down)_exps.=CPU"),
    ("moe", r"-ngl 31 -ts 1,1 -ot blk\.(\d+)\.ffn_.*_exps.=CPU"),
    ("moe", r"-ngl 31 -ts 1,1 -ot blk\.(1[0-9])\.ffn_.*_exps.=CUDA0"),
    ("moe", r"-ngl 10 -ts 2,1 -ot blk\.[0-4]\.ffn_.*_exps.=CUDA1"),
    ("moe", "-ngl 31 -ts 1,1 -ot exps=CUDA0 --n-cpu-moe 5"), ("moe", "-ngl 31 -ts 1,1 --n-cpu-moe 5 -ot exps=CUDA0"),
    ("moe", "-ngl 31 -ts 1,1 -cmoe"), ("moe", "-ngl 16 -ot token_embd=CUDA0,output=CPU"),
    ("moe", "-ngl 25 -ts 1,2 -ncmoe 12 -ot attn=CUDA0"),
]


class RpcPair:
    """Two ggml-rpc-server processes on loopback, restarted if one has died."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir / "ggml-rpc-server"
        self.ports = [free_port(), free_port()]
        self.procs: list[subprocess.Popen | None] = [None, None]

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def ensure(self) -> None:
        for i, port in enumerate(self.ports):
            proc = self.procs[i]
            if proc is None or proc.poll() is not None:
                self.procs[i] = subprocess.Popen([str(self.bin), "-H", "127.0.0.1", "-p", str(port)],
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _wait_listening(port)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)


def _wait_listening(port: int, timeout_s: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"ggml-rpc-server did not listen on {port}")


@pytest.fixture(scope="module")
def rpc(engine_bin_dir: Path):
    pair = RpcPair(engine_bin_dir)
    try:
        yield pair
    finally:
        pair.stop()


def engine_log(bin_dir: Path, rpc: RpcPair, model: Path, flags: list[str]) -> str:
    """llama-server's debug log up to the reserved compute graph (every buffer is allocated by
    then); no warmup, so no graph runs on the RPC servers when it is stopped."""
    rpc.ensure()
    cmd = [str(bin_dir / "llama-server"), "-m", str(model), "--rpc", ",".join(rpc.endpoints), "-v", "--fit", "off",
           "-c", "512", "-np", "1", "--no-warmup", "-lm", "none", "-t", "1", "--host", "127.0.0.1", "--port", "0",
           *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "sched_reserve: reserve took" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = "".join(lines)
    assert "sched_reserve: reserve took" in log, log[-3000:]
    return log


@pytest.mark.parametrize("which,flags", CASES)
def test_placement_matches_engine(which, flags, rpc, engine_bin_dir, default_model_path, moe_model_path):
    model = default_model_path if which == "dense" else moe_model_path
    words = flags.split()
    engine_words = [re.sub(r"CUDA(\d)", lambda m: f"RPC0[{rpc.endpoints[int(m[1])]}]", w) for w in words]
    log = engine_log(engine_bin_dir, rpc, model, engine_words)

    src = resolve(str(model), None)
    req = merge_flags(PlanRequest([str(model)]), words)  # the same parsing as `plan MODEL -- FLAGS`
    placement = Placer(src.tensors, src.arch, ContextConfig(512, 1), parse_hw(RIG)).evaluate(req.flags)

    planned_layers = {il: "CPU" if d == CPU else f"RPC{d}" for il, d in enumerate(placement.layer_device)}
    assert parse_layer_devices(log) == planned_layers
    buffers = parse_load_log(log)
    names = [f"RPC0[{ep}]" for ep in rpc.endpoints] + ["host"]
    for device, name in zip(placement.devices, names, strict=True):
        real = buffers[name].breakdown if name in buffers else None
        for field in ("weights_bytes", "kv_cache_bytes"):
            planned = getattr(device.breakdown, field)
            actual = getattr(real, field) if real else 0
            assert abs(planned - actual) <= 0.006 * MiB, (name, field, planned / MiB, actual / MiB)


def test_serve_plan_on_cpu_build_says_so(installed):
    """A GPU rig on this CPU-only build: say that every buffer is host memory, then compare with
    the CPU-only plan (not "gpu0 ... -100%")."""
    from heavylift.setup.engine_build import current_engine

    if current_engine().backend != "cpu":
        pytest.skip("needs the CPU build")
    server = ServeProcess("--plan", "--hw", "1x rtx-4090, 96GB", "--port", str(free_port()), "--ctx", "4096")
    log = server.stop()
    assert "this build has no GPU backend: everything will be allocated on the CPU" in log
    assert "-100" not in log and not re.search(r"^\s+gpu\d", log, re.M), log
    rows = re.findall(r"^\s+(host)\s+([\d.]+) MiB\s+([\d.]+) MiB\s+([+-][\d.]+)%", log, re.M)
    assert rows and abs(float(rows[0][3])) <= 5, log
