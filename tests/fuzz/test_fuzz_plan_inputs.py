"""Random hardware specs and mutated config.json files through `plan` (property-based, with
hypothesis): each is planned or refused with one line; none escapes as a traceback.

The default run draws 60 of each; `-m fuzz` draws 300 of each. Draws are derandomized, so a
failure repeats on every run (hypothesis prints the smallest input that fails).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heavylift.errors import HeavyliftError
from tests.fuzz.harness import SUMMARY

_COMMON = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)


def _devices() -> list[str]:
    from heavylift.hardware.catalog import DEVICES

    return sorted(DEVICES)


def _number_text() -> st.SearchStrategy[str]:
    return st.one_of(st.integers(-5, 10**7).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                     st.sampled_from(["0", "00", "1e309", "-0", "0.5", "9" * 30, ""]))


def _spec_part() -> st.SearchStrategy[str]:
    """Mostly well-formed parts (so that many specs plan), some odd numbers, some junk."""
    num = _number_text()
    good = st.one_of(
        st.tuples(st.integers(1, 8), st.sampled_from(_devices())).map(lambda t: f"{t[0]}x {t[1]}"),
        st.integers(8, 2048).map(lambda n: f"{n}GB"), st.sampled_from(["ddr4-3200", "ddr5-6000", "ddr5-4800"]),
        st.integers(1, 12).map(lambda n: f"{n}ch"), st.integers(1, 128).map(lambda n: f"{n} cores"),
        st.sampled_from(["pcie4", "pcie5"]),
    )
    odd = st.one_of(
        st.tuples(st.integers(-3, 70), st.sampled_from(_devices())).map(lambda t: f"{t[0]}x {t[1]}"),
        st.sampled_from(_devices()),
        st.tuples(num, st.sampled_from(["GB", "gb", "TB", "GiB", "g", "MB", ""])).map("".join),
        st.tuples(st.sampled_from(["ddr4", "ddr5", "ddr3", "ddr6", "lpddr5x"]), st.integers(0, 99999)).map(
            lambda t: f"{t[0]}-{t[1]}"),
        num.map(lambda n: f"{n}ch"), num.map(lambda n: f"{n} cores"), num.map(lambda n: f"{n}GB/s"),
        st.sampled_from(["pcie3", "pcie4", "pcie5", "pcie9", "nvlink", "cpu", "local", "x", "2x", "x2"]),
        st.text(max_size=12),
    )
    return st.one_of(good, good, good, odd)


SPECS = st.lists(_spec_part(), min_size=0, max_size=5).flatmap(
    lambda parts: st.sampled_from([", ", ",", " + ", "; ", ",,"]).map(lambda sep: sep.join(parts)))


def _plan_spec(spec: str, suggest: bool = True) -> None:
    from heavylift.hardware.spec import parse_hw
    from heavylift.plan.model_source import resolve
    from heavylift.plan.planner import default_context, make_plan

    rig = parse_hw(spec)
    src = resolve("qwen3-30b-a3b", None)
    make_plan(src, rig, default_context(src, 8192, 1), suggest=suggest)


def _counted(target: str, fn, value) -> None:
    counts = SUMMARY.setdefault(target, {"inputs": 0, "accepted": 0, "refused": 0, "escapes": 0})
    counts["inputs"] += 1
    try:
        fn(value)
        counts["accepted"] += 1
    except HeavyliftError as e:
        assert str(e) and "\n" not in str(e), f"multi-line message: {e}"
        counts["refused"] += 1
    except Exception:
        counts["escapes"] += 1
        raise


def _spec_test(n: int, target: str, suggest: bool):
    @settings(max_examples=n, **_COMMON)
    @given(SPECS)
    def check(spec: str) -> None:
        if spec.strip().lower() == "local":
            return
        _counted(target, lambda s: _plan_spec(s, suggest), spec)

    return check


def test_random_hardware_specs_fast() -> None:
    _spec_test(60, "hardware specs: plan", suggest=False)()


@pytest.mark.fuzz
def test_random_hardware_specs_long() -> None:
    _spec_test(300, "hardware specs (long): plan (with suggestions)", suggest=True)()


# --- config.json --------------------------------------------------------------------------------
def _seed_configs() -> list[dict[str, Any]]:
    from heavylift.models.catalog_data import CATALOG

    return [entry["config"] for entry in CATALOG.values() if "config" in entry]


ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**40, 2**40), st.sampled_from([0, 1, -1, 2**31, 2**63, 3]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.lists(st.integers(-2, 64), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def configs(draw) -> str:
    """A real config with keys changed, deleted or added, or a file that is not a config at all."""
    base = dict(draw(st.sampled_from(_seed_configs())))
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(["", "{", "[]", "null", "42", '"text"', "\ufeff{}", "{\"model_type\": 1}"]))
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.one_of(st.sampled_from(sorted(base)), st.text(max_size=10)))
        if draw(st.booleans()) and key in base:
            del base[key]
        else:
            base[key] = draw(ODD_VALUES)
    if kind == 1:
        base = {"text_config": base, "model_type": base.get("model_type")}
    return json.dumps(base, allow_nan=True)


QUANTS = st.sampled_from(["Q4_K_M", "Q8_0", "IQ2_XXS", "Q3_K_M", "F16", "BF16", "q9", "", "Q4_K_M "])


def _plan_config(case: tuple[str, str], suggest: bool = True) -> None:
    from heavylift.hardware.spec import parse_spec
    from heavylift.plan.model_source import resolve
    from heavylift.plan.planner import default_context, make_plan

    text, quant = case
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.json").write_text(text)
        src = resolve(folder, quant)
        for value in (src.file_bytes or 0, src.arch.n_layer):
            assert not isinstance(value, float) or math.isfinite(value)
        make_plan(src, parse_spec("1x rtx-4090, 64GB"), default_context(src, 4096, 1), suggest=suggest)


def _config_test(n: int, target: str, suggest: bool):
    @settings(max_examples=n, **_COMMON)
    @given(configs(), QUANTS)
    def check(text: str, quant: str) -> None:
        _counted(target, lambda case: _plan_config(case, suggest), (text, quant))

    return check


def test_mutated_configs_fast() -> None:
    _config_test(60, "config.json files: plan", suggest=False)()


@pytest.mark.fuzz
def test_mutated_configs_long() -> None:
    _config_test(300, "config.json files (long): plan (with suggestions)", suggest=True)()


def test_a_missing_path_says_so() -> None:
    from heavylift.plan.model_source import resolve

    for missing in ("/no/such/dir/", "/no/such/model.gguf", "./nope/config.json", "missing-folder/"):
        with pytest.raises(HeavyliftError, match="no such file or folder"):
            resolve(missing, None)
