"""Shared fixtures: a private database per test session, the real engine and default model.

The engine build and the model live in the shared cache (built once per machine by
`heavylift setup`, which the `installed` fixture runs; cached runs take seconds). Nothing here
mocks the engine or the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `heavylift ARGS` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "heavylift", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, input=input)


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HEAVYLIFT_DATA_DIR for the whole session: tests never touch the user's database."""
    path = tmp_path_factory.mktemp("heavylift-data")
    old = os.environ.get("HEAVYLIFT_DATA_DIR")
    os.environ["HEAVYLIFT_DATA_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("HEAVYLIFT_DATA_DIR", None)
    else:
        os.environ["HEAVYLIFT_DATA_DIR"] = old


@pytest.fixture(scope="session")
def installed(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`heavylift setup` (engine + default model) into the shared cache, registered in this session's DB."""
    proc = run_cli("setup", timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="session")
def default_model_path(installed: subprocess.CompletedProcess[str]) -> Path:
    from heavylift.models.model_store import ModelStore

    return ModelStore().get("default").path


@pytest.fixture(scope="session")
def engine_bin_dir(installed: subprocess.CompletedProcess[str]) -> Path:
    from heavylift.setup.engine_build import current_engine

    return Path(current_engine().bin_dir)


def _asks_for(config: pytest.Config, marker: str) -> bool:
    """Does -m select a test that carries only `marker`? (`-m fuzz` yes; `-m "not fuzz"`, no -m: no)"""
    expr = config.getoption("markexpr") or ""
    if not expr:
        return False
    try:
        from _pytest.mark.expression import Expression

        return bool(Expression.compile(expr).evaluate(lambda name, **_kw: name == marker))
    except Exception:  # noqa: BLE001 - a pytest without this helper: fall back to the plain word
        return marker in expr.split()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`engine` on every test that needs the engine or the default model (it uses `installed`,
    directly or through another fixture), so `scripts/test.sh --fast` can leave them out; `fuzz`
    tests run only when asked for (`-m fuzz`)."""
    run_fuzz = _asks_for(config, "fuzz")
    for item in items:
        if "installed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.engine)
        if item.get_closest_marker("fuzz") and not run_fuzz:
            item.add_marker(pytest.mark.skip(reason="long fuzz run: `bash scripts/test.sh -m fuzz`"))
