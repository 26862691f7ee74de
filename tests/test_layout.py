"""The README's claim "tests/ mirrors src/": every test folder is named after a package of
src/heavylift/ (tests/fuzz/ is the one exception: it crosses packages on purpose)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_A_PACKAGE = {"fuzz": "fuzzing crosses packages: readers, ingestion and the planner"}


def test_tests_mirror_src() -> None:
    packages = {p.name for p in (REPO / "src" / "heavylift").iterdir() if (p / "__init__.py").exists()}
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and list(p.glob("test_*.py"))}
    stray = folders - packages - set(NOT_A_PACKAGE)
    assert not stray, f"tests/{sorted(stray)} mirror no src/heavylift/ package; move them (README: tests/ mirrors src/)"
    modules = {p.stem for p in (REPO / "src" / "heavylift").glob("*.py")}
    loose = {p.stem.removeprefix("test_") for p in (REPO / "tests").glob("test_*.py")} - modules - {"layout"}
    assert not loose, f"tests/test_{sorted(loose)}.py test no top-level module of src/heavylift/"
