"""Mutated GGUF headers through `models info`, `models add` and `plan`: every input is either
read or refused with one line; none escapes as a traceback, none leaves a half-added model.

The default run mutates 300 headers of two real tiny GGUFs (a dense llama and an MoE) in-process;
`-m fuzz` runs 1,200 of them plus 300 of the real default model's header, and a sample through the
real CLI. Each input is reproducible from its label (seed file, index).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from heavylift.errors import HeavyliftError
from tests.fuzz.harness import run_all
from tests.fuzz.mutate import GGUFLayout, mutate_gguf

FAST_INPUTS = 300
LONG_INPUTS = 1200


def _mutants(seeds: list[Path], n: int, folder: Path, seed: int = 0):
    rng = random.Random(seed)
    layouts = [(s, s.read_bytes(), GGUFLayout(s)) for s in seeds]
    for i in range(n):
        source, data, layout = layouts[i % len(layouts)]
        path = folder / f"mutant-{source.stem}.gguf"
        path.write_bytes(mutate_gguf(data, layout, rng))
        yield f"{source.name} #{i} (seed {seed})", path


def _info_add_and_plan(path: Path) -> None:
    """What `models info PATH`, `models add PATH` and `plan PATH --hw ...` do with the file."""
    from heavylift.hardware.spec import parse_spec
    from heavylift.models.gguf_file import GGUFFile
    from heavylift.models.model_info import ModelInfo
    from heavylift.models.model_store import ModelStore
    from heavylift.plan.model_source import resolve
    from heavylift.plan.planner import default_context, make_plan

    info = ModelInfo.from_gguf(GGUFFile.read(path), name=path.stem)
    str(info)
    store = ModelStore()
    try:
        store.add(path, name="fuzz-mutant", replace=True)
    except HeavyliftError:
        assert "fuzz-mutant" not in store.names(), "a refused file was stored"
        raise
    finally:
        if "fuzz-mutant" in store.names():
            store.remove("fuzz-mutant")
    src = resolve(str(path), None)
    for hw in ("1x rtx-4090, 64GB", "128GB ddr5-6000 2ch"):
        make_plan(src, parse_spec(hw), default_context(src, 4096, 1))


def test_mutated_headers_fast(tiny_ggufs: list[Path], tmp_path: Path) -> None:
    run_all("gguf headers: info/add/plan", _mutants(tiny_ggufs, FAST_INPUTS, tmp_path), _info_add_and_plan).assert_clean()


@pytest.mark.fuzz
def test_mutated_headers_long(tiny_ggufs: list[Path], tmp_path: Path) -> None:
    report = run_all("gguf headers (long): info/add/plan", _mutants(tiny_ggufs, LONG_INPUTS, tmp_path, seed=1),
                     _info_add_and_plan)
    report.assert_clean()


@pytest.mark.fuzz
def test_mutated_default_model_headers(default_model_path: Path, tmp_path: Path) -> None:
    """The real 94 MiB model: the header mutated, the tensor data left as a sparse hole of the
    same size (the readers never touch it)."""
    layout = GGUFLayout(default_model_path)
    with open(default_model_path, "rb") as f:
        header = f.read(layout.header_bytes)
    size = default_model_path.stat().st_size
    rng = random.Random(2)

    def mutants():
        for i in range(300):
            path = tmp_path / "default-mutant.gguf"
            mutated = mutate_gguf(header, layout, rng)
            with open(path, "wb") as f:
                f.write(mutated)
                f.truncate(size + len(mutated) - len(header))
            yield f"default model #{i} (seed 2)", path

    run_all("default model headers: info/add/plan", mutants(), _info_add_and_plan, timeout_s=60).assert_clean()


@pytest.mark.fuzz
def test_mutated_headers_through_the_cli(tiny_ggufs: list[Path], tmp_path: Path) -> None:
    """A sample through the real CLI: exit 0, or one `heavylift: error:` line with exit 1 or 2."""
    from tests.conftest import run_cli

    bad = []
    for label, path in _mutants(tiny_ggufs, 40, tmp_path, seed=3):
        for argv in (("models", "info", str(path)), ("plan", str(path), "--hw", "1x rtx-4090, 64GB")):
            proc = run_cli(*argv, timeout=120)
            lines = proc.stderr.strip().splitlines()
            ok = proc.returncode == 0 or (proc.returncode in (1, 2) and len(lines) == 1
                                          and lines[0].startswith("heavylift: error: "))
            if not ok:
                bad.append(f"{label} {argv[0]}: exit {proc.returncode}: {proc.stderr[-300:]}")
    assert not bad, "\n".join(bad)
