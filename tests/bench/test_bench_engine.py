"""`heavylift bench` against the real engine and default model: a tiny sweep over every dimension,
llama-bench beside it, the stored run, the report and its plot, and bad input that must be refused
before anything starts. Speed targets live in bench/bench_vs_llama_bench.py, not here."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from heavylift.engines.llama_server import free_port
from tests.conftest import run_cli
from tests.proc_utils import ServeProcess

KEYS = {"prompt_tokens", "depth", "concurrency", "ttft_s", "prefill_tps", "decode_tps", "predicted_prefill_tps",
        "predicted_decode_tps", "roofline_decode_tps", "llama_bench_pp_tps", "llama_bench_tg_tps"}


@pytest.fixture(scope="module")
def tiny_run(installed):
    proc = run_cli("bench", "default", "--gen", "8", "--repeats", "1", "--prompt-lengths", "64", "--depths", "0,128",
                   "--concurrency", "1,2", "--against-llama-bench", "--json", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_sweep_measures_every_configuration(tiny_run):
    rows = json.loads(tiny_run.stdout)
    assert [(r["prompt_tokens"], r["depth"], r["concurrency"]) for r in rows] == [
        (64, 0, 1), (64, 0, 2), (64, 128, 1), (64, 128, 2)]
    for r in rows:
        assert KEYS <= r.keys()
        assert r["ttft_s"] > 0 and r["prefill_tps"] > 0 and r["decode_tps"] > 0 and r["e2e_s"] > r["ttft_s"]
        assert r["engine_prefill_tps"] > 0 and r["engine_decode_tps"] > 0  # llama-server's own timings
        assert r["itl_p50_ms"] > 0 and r["itl_p99_ms"] >= r["itl_p50_ms"]
        assert r["roofline_decode_tps"] > 0 and r["roofline_prefill_tps"] > 0
        assert r["completion_tokens"] == 8
        if r["depth"]:
            assert r["cached_tokens"] >= 128, "the depth prefix must come from the cache, not be recomputed"
        else:
            assert r["cached_tokens"] == 0, "prompt-cache reuse is off by default"
            # exactly the requested tokens through the engine, as llama-bench's pp (no template, no BOS)
            assert r["engine_prompt_tokens"] == 64
        if r["concurrency"] == 1:
            assert r["predicted_prefill_tps"] > 0 and r["predicted_decode_tps"] > 0
            assert r["llama_bench_pp_tps"] > 0 and r["llama_bench_tg_tps"] > 0
            assert r["pp_vs_llama_bench"] == pytest.approx(r["prefill_tps"] / r["llama_bench_pp_tps"])
            # each side's repetitions are kept (the interval needs 3 a side: tests/bench/test_results.py)
            assert len(r["llama_bench_pp_samples_tps"]) == len(r["spread"]["prefill_tps"]["values"]) == r["repeats"]
            assert len(r["llama_bench_tg_samples_tps"]) == r["repeats"] and r["pp_vs_llama_bench_ci"] is None
            assert r["llama_bench_paired"], "CPU-only and small: one llama-bench repetition after each of ours"
            assert r["decode_vs_limit"] == pytest.approx(r["decode_tps"] / r["roofline_decode_tps"])
        else:
            assert r["decode_tps_aggregate"] > 0
            assert r["llama_bench_pp_tps"] is None  # llama-bench runs one sequence
    assert "ETA" in tiny_run.stderr and "STREAM triad" in tiny_run.stderr


def test_run_is_stored_listed_shown_and_reported(tiny_run, tmp_path):
    run_id = json.loads(tiny_run.stdout)[0]["run_id"]
    listed = run_cli("bench", "list", timeout=60)
    assert listed.returncode == 0 and f"{run_id:>4}  done" in listed.stdout
    shown = json.loads(run_cli("bench", "show", str(run_id), "--json", timeout=60).stdout)
    assert shown["status"] == "done" and not shown["missing"]
    assert shown["machine"]["triad_bandwidth_bps"] > 0 and shown["machine"]["physical_cores"] >= 1
    assert shown["fingerprint"] and shown["engine_version"] and shown["quant"] == "Q4_1"
    assert shown["settings"]["gen_tokens"] == 8 and "-fa" in shown["engine_args"]
    assert any("llama-bench" in c[0] for c in shown["llama_bench"]["commands"])
    assert shown["llama_bench"]["mode"] == "interleaved"
    assert all("-r" in c and c[c.index("-r") + 1] == "1" for c in shown["llama_bench"]["commands"])
    text = run_cli("bench", "show", "last", timeout=60).stdout
    assert "meas/pred" in text and "llama-bench" in text and "p64/d128/c2" in text
    png = tmp_path / "report.png"
    report = run_cli("bench", "report", str(run_id), str(run_id), "--plot", str(png), timeout=120)
    assert report.returncode == 0, report.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert "p64/d0/c1" in report.stdout and "predicted" in report.stdout


def test_prompt_longer_than_the_context_is_refused(installed):
    proc = run_cli("bench", "default", "--prompt-lengths", "512,8k", "--gen", "8", timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "8,200 tokens exceeds" in proc.stderr and "8,192" in proc.stderr
    proc = run_cli("bench", "default", "--prompt-lengths", "512", "--gen", "8", "--ctx", "256", timeout=120)
    assert proc.returncode == 2 and "--ctx 256" in proc.stderr


def test_llama_bench_missing_says_how_to_get_it(installed, engine_bin_dir, tmp_path):
    (tmp_path / "llama-server").symlink_to(engine_bin_dir / "llama-server")
    proc = run_cli("bench", "default", "--gen", "8", "--against-llama-bench", timeout=120,
                   env={"HEAVYLIFT_LLAMA_SERVER": str(tmp_path / "llama-server")})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "llama-bench" in proc.stderr and "cmake --build build --target llama-bench" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_endpoint_that_drops_mid_bench_keeps_a_partial_run(installed):
    from heavylift.bench.store import BenchStore

    server = ServeProcess("--port", str(free_port()), "--ctx", "2048")
    before = {r.id for r in BenchStore().list()}
    import subprocess
    import sys

    bench = subprocess.Popen([sys.executable, "-m", "heavylift", "bench", "--endpoint", server.url, "--model", "default",
                              "--prompt-lengths", "32,48,64,80,96,112,128,144", "--gen", "16", "--repeats", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = [r for r in BenchStore().list() if r.id not in before]
            if runs and runs[0].results:
                break
            assert bench.poll() is None, bench.stderr.read()
            time.sleep(0.1)
        os.kill(server.proc.pid, signal.SIGKILL)  # the endpoint goes away (its engine dies with it)
        out, err = bench.communicate(timeout=300)
    finally:
        if bench.poll() is None:
            bench.kill()
        server.stop()
    assert bench.returncode == 1, err[-2000:]
    assert "Traceback" not in err and "is partial" in err.splitlines()[-1]
    run = [r for r in BenchStore().list() if r.id not in before][0]
    assert run.status == "partial" and run.results
    assert set(run.missing) == set(run.configs) - {r.label for r in run.results}
    assert "MISSING" in out and "p144/d0/c1" in out
