"""The figures a run reports, computed from fixed request timings (the formulas in docs/bench.md)."""

from __future__ import annotations

import json

import pytest

from heavylift.bench.predict import Prediction
from heavylift.bench.results import (
    ConfigResult,
    RequestSample,
    Spread,
    aggregate_decode_tps,
    ratio_interval,
    summarize,
)
from heavylift.bench.sweep import BenchConfig


def sample(sent=0.0, first=1.0, step=0.01, n=11, prompt=512, cached=0) -> RequestSample:
    pieces = [first + i * step for i in range(n)]
    return RequestSample(sent_s=sent, first_s=first, last_s=pieces[-1], end_s=pieces[-1] + 0.002, piece_s=pieces,
                         prompt_tokens=prompt, cached_tokens=cached, completion_tokens=n,
                         engine_prompt_ms=990.0, engine_prompt_n=prompt - cached, engine_decode_ms=100.0,
                         engine_decode_n=n)


def test_one_request():
    s = sample()
    assert s.ttft_s == pytest.approx(1.0)
    assert s.prefill_tps == pytest.approx(512.0)  # computed prompt tokens / TTFT
    assert s.decode_tps == pytest.approx(100.0)  # (11 - 1) tokens / 0.1 s between first and last
    assert s.itl_ms == pytest.approx([10.0] * 10)
    assert s.e2e_s == pytest.approx(1.102)
    assert s.engine_prefill_tps == pytest.approx(512 / 0.99)
    assert s.engine_decode_tps == pytest.approx(110.0)
    deep = sample(prompt=4096 + 512, cached=4096)
    assert deep.prefill_tps == pytest.approx(512.0)  # the cached depth is not counted as prefill


def test_aggregate_decode_counts_tokens_after_the_last_first_token():
    a = sample(first=1.0, step=0.02, n=11)  # decodes 1.00 .. 1.20
    b = sample(first=1.1, step=0.02, n=11)  # decodes 1.10 .. 1.30
    # window 1.10 .. 1.30: a's pieces after 1.10 (1.12..1.20: 5) + b's after 1.10 (10) = 15 in 0.2 s
    assert aggregate_decode_tps([a, b]) == pytest.approx(75.0)
    assert aggregate_decode_tps([a]) == pytest.approx(a.decode_tps)
    # multi-byte text: llama-server holds a token that ends inside a UTF-8 character, so 11 pieces
    # can carry 22 tokens; each piece then counts the engine's tokens per piece
    wide = sample(first=1.1, step=0.02, n=11)
    wide.completion_tokens = 22
    assert aggregate_decode_tps([a, wide]) == pytest.approx((5 + 20) / 0.2)


def test_summary_medians_spread_and_ratios():
    cfg = BenchConfig(512, 0, 1, 11)
    repeats = [[sample(first=f)] for f in (0.9, 1.0, 1.6)]
    pred = Prediction(prefill_tps=400.0, decode_tps=125.0, decode_tps_aggregate=125.0, ttft_s=1.3,
                      roofline_decode_tps=200.0, roofline_prefill_tps=1024.0, bytes_per_token=1, flops_per_token=1.0)
    r = summarize(cfg, repeats, pred, [])
    assert r.ttft_s == pytest.approx(1.0)  # median of 0.9, 1.0, 1.6
    assert r.prefill_tps == pytest.approx(512.0)
    assert r.spread["ttft_s"].min == pytest.approx(0.9) and r.spread["ttft_s"].max == pytest.approx(1.6)
    assert r.prefill_vs_predicted == pytest.approx(512 / 400)
    assert r.decode_vs_predicted == pytest.approx(100 / 125)
    assert r.prefill_vs_limit == pytest.approx(0.5)
    assert r.decode_vs_limit == pytest.approx(0.5)
    assert r.itl_p50_ms == pytest.approx(10.0) and r.itl_p99_ms == pytest.approx(10.0)
    r.add_llama_bench(500.0, 105.0)
    assert r.pp_vs_llama_bench == pytest.approx(512 / 500)
    assert r.tg_vs_llama_bench == pytest.approx(100 / 105)


def test_spread_and_unknowns():
    s = Spread.of([1.0, None, 3.0])
    assert (s.median, s.min, s.max, s.n) == (2.0, 1.0, 3.0, 2)
    assert Spread.of([None]) is None
    r = summarize(BenchConfig(64, 0, 2, 11), [[sample(), sample()]], Prediction.unknown("no model"), [])
    assert r.predicted_decode_tps is None and r.decode_vs_predicted is None
    assert "no model" in r.notes


def test_ratio_interval_brackets_the_ratio_of_medians_and_is_repeatable():
    ours, theirs = [[190.0, 200.0, 210.0, 185.0, 205.0]], [[200.0, 205.0, 198.0, 210.0, 202.0]]
    lo, hi = ratio_interval(ours, theirs)
    assert lo <= 200.0 / 202.0 <= hi and hi - lo < 0.2
    assert ratio_interval(ours, theirs) == (lo, hi)  # seeded
    tight = ratio_interval([[200.0] * 5], [[202.0] * 5])
    assert tight == pytest.approx((200 / 202, 200 / 202))  # no spread, no width
    # rounds drift: each round alone is tight, but ours ran in a fast period in one and a slow one in
    # the other, so the interval must be wide, not the tight within-round one
    steady = [[200.0, 201.0, 199.0]] * 2
    drift = ratio_interval([[220.0, 221.0, 219.0], [180.0, 181.0, 179.0]], steady)
    assert drift[0] < 0.95 and drift[1] > 1.05
    assert ratio_interval([[200.0, 201.0, 199.0]] * 2, steady)[1] - ratio_interval([[200.0, 201.0, 199.0]] * 2, steady)[0] < 0.02
    assert ratio_interval([[1.0, 2.0]], [[1.0, 2.0, 3.0]]) is None  # fewer than 3 repetitions on a side


def test_llama_bench_samples_give_an_interval_that_survives_the_database_round_trip():
    cfg = BenchConfig(512, 0, 1, 11)
    repeats = [[sample(first=f)] for f in (0.9, 1.0, 1.1, 1.2, 0.95)]
    r = summarize(cfg, repeats, Prediction.unknown("x"), [])
    assert r.repeat_values("prefill_tps") == pytest.approx([512 / f for f in (0.9, 1.0, 1.1, 1.2, 0.95)])
    r.add_llama_bench(500.0, 105.0, [480.0, 500.0, 520.0, 495.0, 505.0], [100.0, 105.0, 110.0])
    lo, hi = r.pp_vs_llama_bench_ci
    assert lo <= r.pp_vs_llama_bench <= hi
    assert r.tg_vs_llama_bench_ci is not None
    back = ConfigResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.pp_vs_llama_bench_ci == (lo, hi) and back.spread["prefill_tps"].values == r.spread["prefill_tps"].values
    old = r.to_dict()  # a run stored before repeats and llama-bench samples were kept
    for key in ("llama_bench_pp_samples_tps", "llama_bench_tg_samples_tps", "pp_vs_llama_bench_ci", "tg_vs_llama_bench_ci"):
        old.pop(key)
    for spread in old["spread"].values():
        spread.pop("values")
    legacy = ConfigResult.from_dict(old)
    assert legacy.repeat_values("prefill_tps") == [] and legacy.pp_vs_llama_bench_ci is None
