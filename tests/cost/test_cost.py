"""`heavylift cost`: the formulas of issue 13 on fixed inputs (checked by hand), capacity and
machines, compute-once prefixes, cache and batch prices, the context check and splitting,
break-even, speeds and power from a stored bench run, and bad input."""

from __future__ import annotations

import json
import math

import pytest

from heavylift.cost.model import (
    HOURS_PER_MONTH,
    LocalSide,
    Workload,
    api_result,
    local_monthly_at,
    local_result,
    plan_split,
)
from heavylift.cost.prices import ApiPrice, lookup, names, parse_api
from tests.conftest import run_cli

PRICE = ApiPrice(name="t", model="T", provider="p", input=3.0, output=15.0, cached_input=0.3, cache_write=3.75,
                 batch_discount=0.5, context_tokens=1_000_000)


def local(**kw) -> LocalSide:
    base = dict(prefill_tps=100.0, decode_tps=10.0, hardware_usd=3600.0, months=36, electricity_usd_per_kwh=0.2,
                power_w=500.0, idle_power_w=None, hours_per_day=24, context_tokens=None)
    return LocalSide(**{**base, **kw})


def test_definitions_on_fixed_inputs():
    w = Workload(per_month=1000, input_tokens=1000, output_tokens=100)
    loc = local()
    lr = local_result(w, loc)
    assert lr.seconds_per_unit == pytest.approx(1000 / 100 + 100 / 10)  # I/P + O/D = 20 s
    assert lr.capacity_per_month == pytest.approx(730 * 3600 / 20)  # hours x 3600 / that
    assert lr.machines_needed == 1
    busy_h = 1000 * 20 / 3600
    assert lr.busy_hours == pytest.approx(busy_h)
    assert lr.monthly_usd == pytest.approx(3600 / 36 + 0.5 * busy_h * 0.2)  # hardware / months + power x busy h x price
    a = api_result(w, PRICE, loc, lr, None)
    assert a.monthly_usd == pytest.approx(1000 * (1000 * 3 + 100 * 15) / 1e6)  # N x (I x in + O x out) / 1e6
    assert a.monthly_batch_usd == pytest.approx(a.monthly_usd / 2)
    # break-even: the N where both are equal
    n = a.breakeven_per_month
    assert n == pytest.approx(100 / (0.0045 - 20 / 3600 * 0.5 * 0.2))
    assert local_monthly_at(n, loc, lr) == pytest.approx(n * a.per_unit_usd)


def test_hours_per_day_and_idle_power():
    w = Workload(per_month=100, input_tokens=1000, output_tokens=100)
    loc = local(hours_per_day=8, idle_power_w=50.0)
    lr = local_result(w, loc)
    hours = HOURS_PER_MONTH * 8 / 24
    assert lr.capacity_per_month == pytest.approx(hours * 3600 / 20)
    busy = 100 * 20 / 3600
    assert lr.idle_hours == pytest.approx(hours - busy)
    assert lr.energy_idle_usd == pytest.approx(0.05 * (hours - busy) * 0.2)
    assert lr.monthly_usd == pytest.approx(100 + 0.5 * busy * 0.2 + 0.05 * (hours - busy) * 0.2)


def test_more_machines_when_the_month_does_not_fit():
    w = Workload(per_month=300_000, input_tokens=1000, output_tokens=100)
    loc = local()
    lr = local_result(w, loc)
    assert lr.machines_needed == math.ceil(300_000 / (730 * 3600 / 20)) == 3
    assert lr.hardware_monthly_usd == pytest.approx(3 * 100)
    # a step each time capacity is passed
    cap = lr.capacity_per_month
    assert local_monthly_at(cap + 1, loc, lr) - local_monthly_at(cap, loc, lr) > 99


def test_compute_once_prefixes_and_cache_prices():
    # 10 questions share a 50,000-token document: it is computed once, then only questions
    w = Workload(per_month=2000, input_tokens=50_000, output_tokens=500, questions_per_doc=10)
    assert w.cache_share == pytest.approx(0.9)
    loc = local(prefill_tps=1000.0, decode_tps=20.0)
    lr = local_result(w, loc)
    assert lr.seconds_per_unit == pytest.approx(50_000 / 1000 + 10 * 500 / 20)  # one prefill + 10 answers
    assert lr.seconds_per_unit_no_cache == pytest.approx(10 * (50_000 / 1000 + 500 / 20))
    a = api_result(w, PRICE, loc, lr, None)
    plain = 2000 * 10 * (50_000 * 3 + 500 * 15) / 1e6
    assert a.monthly_usd == pytest.approx(plain)  # the headline stays plain unless asked
    # cached: per document one write of the document, nine reads
    cached = 2000 * (50_000 * 3.75 + 9 * 50_000 * 0.3 + 10 * 500 * 15) / 1e6
    assert a.monthly_cached_usd == pytest.approx(cached)
    assert a.monthly_cached_batch_usd == pytest.approx(cached / 2)
    # asked for: --cached-share and --batch-discount enter the headline
    asked = Workload(per_month=2000, input_tokens=50_000, output_tokens=500, questions_per_doc=10, cached_share=0.9)
    b = api_result(asked, PRICE, loc, local_result(asked, loc), 0.5)
    assert b.monthly_usd == pytest.approx(cached / 2)


def test_context_check_and_splitting():
    w = Workload(per_month=10, input_tokens=500_000, output_tokens=2000)
    split = plan_split(w, 262_144)
    assert split.chunks == 2 and split.chunk_tokens == 250_000
    assert plan_split(Workload(1, 100_000, 1000), 262_144) is None
    loc = local(context_tokens=262_144)
    lr = local_result(w, loc)
    # two chunk requests and one combining request over the two answers
    assert lr.seconds_per_unit == pytest.approx(2 * (250_000 / 100 + 2000 / 10) + (4000 / 100 + 2000 / 10))
    assert lr.split["chunks"] == 2
    small = ApiPrice(name="s", model="S", provider="p", input=1.0, output=2.0, context_tokens=40_960)
    a = api_result(w, small, loc, lr, None)
    assert a.split["chunks"] == 13 and "do not fit S's 40,960-token context" in a.notes[0]


def test_long_context_tier():
    p = lookup("gemini-2.5-pro")
    assert p.rates(100_000)[0] == 1.25 and p.rates(300_000)[0] == 2.50 and p.rates(300_000)[3] == 15.0
    w = Workload(per_month=1, input_tokens=300_000, output_tokens=1000)
    lr = local_result(w, local())
    a = api_result(w, p, local(), lr, None)
    assert a.monthly_usd == pytest.approx((300_000 * 2.5 + 1000 * 15) / 1e6)


def test_breakeven_never_when_a_busy_machine_cannot_pay_for_itself():
    w = Workload(per_month=10, input_tokens=100_000, output_tokens=1000)
    cheap = ApiPrice(name="c", model="C", provider="p", input=0.01, output=0.01)
    lr = local_result(w, local())
    a = api_result(w, cheap, local(), lr, None)
    assert a.breakeven_per_month is None and a.breakeven_note.startswith("never")


def test_price_table_is_dated_and_sourced():
    for n in names():
        p = lookup(n)
        assert p.source.startswith("https://") and p.read_on and p.input > 0 and p.output > 0
    assert parse_api("input=3,output=15,cached=0.3").cached_input == 0.3
    assert parse_api("gpt-5.5,output=25").output == 25


def test_cli_json_has_the_keys_and_echoes_inputs(tmp_path):
    png = tmp_path / "cost.png"
    proc = run_cli("cost", "--prefill-tps", "100", "--decode-tps", "10", "--per-month", "1000", "--input-tokens", "1000",
                   "--output-tokens", "100", "--hardware-cost", "3600", "--electricity", "0.2", "--power-w", "500",
                   "--api", "input=3,output=15", "--api", "claude-sonnet-5.5", "--json", "--plot", str(png), timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("local_monthly_usd", "api_monthly_usd", "breakeven_per_month", "capacity_per_month", "machines_needed", "inputs"):
        assert key in out
    assert out["api_monthly_usd"] == pytest.approx(4.5)
    assert out["local_monthly_usd"] == pytest.approx(100 + 0.5 * 1000 * 20 / 3600 * 0.2)
    assert out["inputs"]["per_month"] == 1000 and out["inputs"]["electricity_usd_per_kwh"] == 0.2
    assert [a["name"] for a in out["apis"]] == ["custom", "claude-sonnet-5.5"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_plan_scenario_says_the_context_does_not_fit():
    proc = run_cli("cost", "--plan", "qwen3.5-397b-a17b", "--quant", "Q3_K_M", "--hw", "2x rtx-5090, 256GB ddr5-6000 2ch",
                   "--per-month", "1000", "--input-tokens", "500000", "--output-tokens", "2000", "--electricity", "0.15",
                   timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "do not fit the local model's 262,144-token context" in proc.stdout
    assert "TDP sum, an estimate" in proc.stdout


@pytest.mark.parametrize("args, words", [
    (["--api", "input=-1,output=2"], "greater than zero"),
    (["--api", "input=0,output=2"], "greater than zero"),
    (["--api", "nope-model"], "unknown API"),
    (["--input-tokens", "0"], "--input-tokens"),
    (["--per-month", "-5"], "--per-month"),
    (["--months", "0"], "--months"),
    (["--electricity", "-0.1"], "--electricity"),
    (["--cached-share", "1.5"], "--cached-share"),
    (["--hours-per-day", "25"], "--hours-per-day"),
])
def test_cli_bad_input(args, words):
    base = {"--prefill-tps": "100", "--decode-tps": "10", "--per-month": "100", "--input-tokens": "1000",
            "--output-tokens": "100", "--hardware-cost": "3000", "--electricity": "0.2", "--power-w": "400"}
    argv: list[str] = []
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    proc = run_cli("cost", *argv, *args, timeout=60)
    assert proc.returncode == 2, proc.stdout
    assert words in proc.stderr and "Traceback" not in proc.stderr
    if "unknown API" in words:
        assert "claude-sonnet-5.5" in proc.stderr  # the known names are listed


def test_cli_unknown_bench_run_and_plan_that_does_not_fit(data_dir):
    common = ["--per-month", "100", "--input-tokens", "1000", "--output-tokens", "100", "--electricity", "0.2"]
    proc = run_cli("cost", "--from-bench", "987", *common, "--hardware-cost", "1000", timeout=60)
    assert proc.returncode == 2 and "no bench run 987" in proc.stderr
    proc = run_cli("cost", "--plan", "deepseek-v3", "--hw", "1x rtx-4090, 32GB", *common, timeout=120)
    assert proc.returncode == 2 and "does not fit" in proc.stderr and "no cost from the speeds" in proc.stderr


def test_from_bench_takes_speeds_and_measured_power(data_dir):
    from heavylift.bench.machine import MachineInfo, identity
    from heavylift.bench.power import PowerReading
    from heavylift.bench.results import ConfigResult
    from heavylift.bench.store import BenchStore
    from heavylift.bench.sweep import BenchSettings

    store = BenchStore()
    info = MachineInfo(fingerprint="test", triad_bandwidth_bps=1e10, triad_method="t", max_ghz=None, ghz_source="",
                       flops_per_cycle=None, peak_flops=None, sgemm_flops=None, **identity())
    settings = BenchSettings(prompt_lengths=[512, 4096], gen_tokens=64, repeats=1)
    run_id = store.create(info, "http://x", settings, ["p512/d0/c1", "p4096/d0/c1"], model="m", quant=None,
                          engine="remote", engine_version=None, engine_backend=None, engine_args=[], placement={},
                          notes=[])

    def result(p: int, pp: float, tg: float) -> ConfigResult:
        return ConfigResult(p, 0, 1, 64, 1, 1.0, pp, tg, tg, 10.0, 12.0, 2.0, None, None, 0, 64, None, None, None,
                            None, None, None, None, None, None, None)

    store.add_result(run_id, 0, result(512, 300.0, 30.0))
    store.add_result(run_id, 1, result(4096, 200.0, 20.0))
    store.update(run_id, power={"busy": PowerReading(10.0, 250.0, {"rapl package-0": 250.0}, 20, ["rapl: package-0"]).__dict__,
                                "idle": PowerReading(3.0, 40.0, {"rapl package-0": 40.0}, 6, ["rapl: package-0"]).__dict__})
    store.finish(run_id, "done", {})
    proc = run_cli("cost", "--from-bench", str(run_id), "--per-month", "100", "--input-tokens", "4000",
                   "--output-tokens", "64", "--electricity", "0.2", "--hardware-cost", "2000", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)["inputs"]
    assert out["prefill_tps"] == 200.0 and out["decode_tps"] == 20.0  # the configuration nearest 4,000 tokens
    assert out["power_w"] == 250.0 and out["idle_power_w"] == 40.0  # measured during the run
