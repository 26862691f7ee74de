"""Sweep lists and bad input that must be refused before anything starts (no engine needed)."""

from __future__ import annotations

import pytest

from heavylift.bench.sweep import BenchSettings, parse_list, parse_tokens
from heavylift.errors import UsageError
from tests.conftest import run_cli


def test_token_counts_take_k():
    assert parse_list("512,4k,16k", "--prompt-lengths") == [512, 4096, 16384]
    assert parse_tokens("1.5k", "x") == 1536
    assert parse_list("0,4k", "--depths", allow_zero=True) == [0, 4096]
    assert parse_list("1,2,2,4", "--concurrency") == [1, 2, 4]  # duplicates dropped, order kept


@pytest.mark.parametrize("text", ["0,x", "", "1,,2", "-1", "two", "0", "1.3", "4q"])
def test_nonsense_lists_are_refused(text):
    with pytest.raises(UsageError):
        parse_list(text, "--concurrency")


def test_configs_are_the_product_depth_outermost():
    s = BenchSettings(prompt_lengths=[64, 128], depths=[0, 256], concurrency=[1, 2], gen_tokens=8)
    labels = [c.label for c in s.configs()]
    assert labels[:4] == ["p64/d0/c1", "p128/d0/c1", "p64/d0/c2", "p128/d0/c2"]
    assert len(labels) == 8 and labels[-1] == "p128/d256/c2"
    assert s.tokens_per_sequence == 256 + 128 + 8


def test_gen_below_two_is_refused():
    with pytest.raises(UsageError):
        BenchSettings(gen_tokens=1)


@pytest.mark.parametrize("args, words", [
    (["--concurrency", "0,x"], "--concurrency"),
    (["--prompt-lengths", "512,,4k"], "--prompt-lengths"),
    (["--depths=-4k"], "--depths"),
    (["--repeats", "0"], "--repeats"),
    (["default", "other"], "one MODEL"),
    (["--endpoint", "ftp://x"], "not an http"),
])
def test_cli_bad_input_is_one_line(args, words):
    proc = run_cli("bench", *args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # argparse prints its usage above the error line
    assert "error:" in last and words in last
    assert "Traceback" not in proc.stderr


def test_unknown_run_id(data_dir):
    for ref in ("999", "nope"):
        proc = run_cli("bench", "show", ref, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "bench run" in proc.stderr and "bench list" in proc.stderr
    proc = run_cli("bench", "report", timeout=60)
    assert proc.returncode == 2 and "needs a run id" in proc.stderr


def test_sampling_default_and_the_old_name_for_it():
    assert BenchSettings(sampling="default").sampling == "default"
    assert BenchSettings.from_dict({"sampling": "server"}).sampling == "default"  # runs stored before the rename
    with pytest.raises(UsageError):
        BenchSettings(sampling="fast")


def test_llama_bench_figure_is_the_median_of_its_repetitions():
    from heavylift.bench.llama_bench import typical_ts

    # one slow repetition (another process took the cores) moves the mean, not the median
    assert typical_ts({"avg_ts": 50.0, "samples_ts": [65.0, 20.0, 66.0]}) == 65.0
    assert typical_ts({"avg_ts": 50.0}) == 50.0


def test_llama_bench_runs_between_our_repeats_only_where_both_fit(tmp_path):
    from heavylift.bench.llama_bench import interleave_refusal

    model = tmp_path / "m.gguf"
    model.write_bytes(b"\0" * 1000)
    assert interleave_refusal(model, ["-ngl", "0", "-t", "2"], [], 10_000) is None
    assert interleave_refusal(model, ["-ngl", "0"], ["NVIDIA H100"], 10_000) is None  # CPU placement on a GPU box
    assert "GPU" in interleave_refusal(model, ["-ngl", "99"], ["NVIDIA H100"], 10_000)
    assert "GPU" in interleave_refusal(model, [], ["NVIDIA H100"], 10_000)  # the server's default offloads
    assert "RAM" in interleave_refusal(model, ["-ngl", "0"], [], 2_000)  # twice the model > 80% of what is free
