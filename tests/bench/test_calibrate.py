"""`heavylift bench --calibrate` and the machine's speed profile: the fit on measured points, the
profile stored / loaded / reset, another machine's profile ignored, `plan --uncalibrated`, bad input.
Fast (no engine) except the one `engine` test, which calibrates on the default model, tiny."""

from __future__ import annotations

import dataclasses
import json

import pytest

from heavylift.bench import profile as profile_mod
from heavylift.bench.calibrate import Point, fit_profile, format_profile
from heavylift.hardware.spec import detect_local, parse_hw
from heavylift.plan.model_source import resolve
from heavylift.plan.speed_cases import case_for
from heavylift.plan.speed_params import SpeedParams
from tests.conftest import run_cli

MODEL = "qwen3-30b-a3b"  # a catalog model: planned from its config, no file needed
SLOWER = 0.3  # the synthetic machine runs at 0.3x the public fit's predictions


@pytest.fixture
def no_profile():
    profile_mod.reset()
    yield
    profile_mod.reset()


def _synthetic_profile(fingerprint: str | None = None) -> profile_mod.Profile:
    """A profile fitted on points a machine 0.3x as fast as the public fit would measure."""
    src = resolve(MODEL, "Q4_K_M")
    rig = dataclasses.replace(detect_local(calibrated=False), ram_bandwidth_bps=20e9, cpu_cores=4)
    public = SpeedParams.fitted()
    points = []
    for test, depth in (("pp", 0), ("pp", 4096), ("tg", 0), ("tg", 4096)):
        n_prompt, n_gen = (512, 0) if test == "pp" else (0, 32)
        predicted = case_for(src, rig, test, n_prompt, n_gen, depth, True, 1.0).predict(public)
        points.append(Point(MODEL, test, n_prompt, n_gen, depth, predicted * SLOWER))
    return fit_profile([(MODEL, None, src, points)], rig, fingerprint or profile_mod.current_fingerprint(),
                       "test cpu", 4, 20e9, 0.5, "synthetic")


def test_the_probe_separates_the_graph_cost_per_layer():
    """A machine whose graph costs 5x the public fit per layer and whose cores are 0.4x as fast: with the
    graph-overhead probe (models/tiny_gguf.py, written here) the fit finds both; the dense model's
    decode alone could not tell them apart."""
    from heavylift.bench.calibrate import probe_model
    from heavylift.plan.speed_fit import with_values

    src = resolve(MODEL, "Q4_K_M")
    rig = dataclasses.replace(detect_local(calibrated=False), ram_bandwidth_bps=200e9, cpu_cores=4)
    public = SpeedParams.fitted()
    keys = ["cpu.layer_s", "cpu.decode_bps_per_core"]
    truth = with_values(public, keys, [public.cpu.layer_s * 5, public.cpu.decode_bps_per_core * 0.4])
    label, path, probe_src = probe_model(src.arch.n_layer)
    assert path.is_file() and probe_src.arch.n_layer == src.arch.n_layer and label.startswith("graph-overhead probe")
    runs = []
    for model, s, tests in ((MODEL, src, (("pp", 0), ("tg", 0))), (label, probe_src, (("tg", 0),))):
        points = []
        for test, depth in tests:
            n_prompt, n_gen = (512, 0) if test == "pp" else (0, 32)
            measured = case_for(s, rig, test, n_prompt, n_gen, depth, True, 1.0).predict(truth)
            points.append(Point(model, test, n_prompt, n_gen, depth, measured))
        runs.append((model, None, s, points))
    prof = fit_profile(runs, rig, profile_mod.current_fingerprint(), "test cpu", 4, 200e9)
    cpu = prof.speed_params().cpu
    assert cpu.layer_s == pytest.approx(truth.cpu.layer_s, rel=0.1)
    assert cpu.decode_bps_per_core == pytest.approx(truth.cpu.decode_bps_per_core, rel=0.1)
    assert prof.models == [MODEL]  # the probe is a measurement of the machine, not a model calibrated on


def test_fit_follows_the_machine():
    prof = _synthetic_profile()
    for p in prof.points:
        assert p["before"] / p["measured"] == pytest.approx(1 / SLOWER, rel=0.01)
        assert p["after"] / p["measured"] == pytest.approx(1.0, abs=0.05), p
    assert prof.fitted["cpu.prefill_flops_per_core"].startswith("calibrated here")
    # a MoE model was measured: its constants are fitted here
    assert prof.fitted["cpu.moe_half_tokens"].startswith("calibrated here")
    assert prof.params["cpu"]["prefill_flops_per_core"] < SpeedParams.fitted().cpu.prefill_flops_per_core


def test_profile_stored_loaded_and_used_by_plan(no_profile):
    prof = _synthetic_profile()
    profile_mod.save(prof)
    loaded = profile_mod.load()
    assert loaded is not None and loaded.params == prof.params
    rig = parse_hw("local")
    assert rig.speed_params is not None and rig.ram_bandwidth_bps == 20e9
    assert any(a.startswith("speed: calibrated on this machine") for a in rig.assumptions)
    assert parse_hw("local", calibrated=False).speed_params is None

    cal = json.loads(run_cli("plan", MODEL, "--ctx", "4096", "--json").stdout)
    uncal = run_cli("plan", MODEL, "--ctx", "4096", "--json", "--uncalibrated")
    assert uncal.returncode == 0, uncal.stderr
    uncal_plan = json.loads(uncal.stdout)
    text = json.dumps(cal)
    assert "speed: calibrated on this machine" in text and "speed: calibrated" not in uncal.stdout
    assert text != json.dumps(uncal_plan)

    shown = run_cli("bench", "profile", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["fingerprint"] == prof.fingerprint
    table = run_cli("bench", "profile")
    assert "calibrated here" in table.stdout and "tg32" in table.stdout

    reset = run_cli("bench", "profile", "--reset")
    assert reset.returncode == 0 and "deleted" in reset.stderr + reset.stdout
    assert profile_mod.load() is None
    assert parse_hw("local").speed_params is None
    gone = run_cli("bench", "profile")
    assert gone.returncode != 0 and "bench --calibrate" in gone.stderr and "Traceback" not in gone.stderr


def test_the_table_shows_each_points_spread_over_rounds_and_warns_when_noisy():
    prof = _synthetic_profile()
    steady, noisy = prof.points[0], prof.points[2]
    steady["rounds"] = [steady["measured"] * 0.97, steady["measured"]]
    noisy["rounds"] = [noisy["measured"], noisy["measured"] * 0.8, noisy["measured"] * 0.9]
    text = "\n".join(format_profile(prof))
    assert "the median of 3 rounds" in text
    rows = {line.split()[1] + "/" + line.split()[2]: line for line in text.splitlines() if line.startswith(MODEL)}
    assert " 3% " in rows["pp512/0"] and " 20% " in rows["tg32/0"]
    warning = [line for line in text.splitlines() if line.startswith("noisy machine")]
    assert len(warning) == 1 and "tg32 at depth 0" in warning[0] and "pp512 at depth 0" not in warning[0]
    assert Point(MODEL, "tg", 0, 32, 0, 10.0, rounds=[10.0, 8.0]).spread == pytest.approx(0.2)


def test_another_machines_profile_is_ignored(no_profile):
    other = _synthetic_profile("0123456789ab")
    profile_mod.save(other)
    try:
        assert profile_mod.load() is None
        rig = parse_hw("local")
        assert rig.speed_params is None and not any("speed: calibrated" in a for a in rig.assumptions)
    finally:
        profile_mod.reset("0123456789ab")


def test_a_broken_profile_is_ignored_by_plan_and_refused_by_show(no_profile):
    path = profile_mod.profile_path(profile_mod.current_fingerprint())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert parse_hw("local").speed_params is None
    shown = run_cli("bench", "profile")
    assert shown.returncode != 0 and "unreadable" in shown.stderr and "Traceback" not in shown.stderr


@pytest.mark.parametrize("args, words", [
    (("plan", MODEL, "--hw", "rtx-4090", "--uncalibrated"), "applies to --hw local"),
    (("bench", "--calibrate", "--concurrency", "2"), "--calibrate runs llama-bench"),
    (("bench", "--calibrate", "--prompt-lengths", "512,1k"), "one prompt length"),
    (("bench", "--calibrate", "--depths", "0,x"), "--depths"),
    (("bench", "--calibrate", "--rounds", "0"), "--rounds"),
    (("bench", "--calibrate", "no-such-model"), "unknown model"),
    (("bench", "--calibrate", "/nonexistent/m.gguf"), "no such file"),
    (("bench", "default", "--reset"), "bench profile"),
    (("bench", "profile", "extra"), "takes no argument"),
])
def test_bad_input_is_one_line(args, words):
    proc = run_cli(*args)
    assert proc.returncode != 0
    assert words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.engine
def test_calibrate_on_the_default_model(installed, no_profile):
    proc = run_cli("bench", "--calibrate", "--prompt-lengths", "64", "--gen", "8", "--depths", "0", "--repeats", "1",
                   "--rounds", "2", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    prof = json.loads(proc.stdout)
    assert {p["test"] for p in prof["points"]} == {"pp", "tg"}
    for p in prof["points"]:
        assert p["measured"] > 0 and p["after"] / p["measured"] == pytest.approx(1.0, abs=0.1)
        assert len(p["rounds"]) == 2 and p["measured"] == pytest.approx(sum(p["rounds"]) / 2)  # their median
    assert profile_mod.load() is not None
    plan = run_cli("plan", "default", "--ctx", "4096")
    assert "speed: calibrated on this machine" in plan.stdout
