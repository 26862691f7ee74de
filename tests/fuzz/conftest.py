"""Fuzz fixtures: real seed files, and the counts of every fuzz target printed at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.harness import SUMMARY


@pytest.fixture(scope="session")
def tiny_ggufs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real GGUFs written with the gguf package: a dense llama and a mixture of experts."""
    from tests.plan.tiny_gguf import TinyShape, write_tiny_llama

    folder = tmp_path_factory.mktemp("fuzz-seeds")
    small = dict(n_vocab=512, n_embd=64, n_ff=128, n_head=4, n_head_kv=2, n_layer=2)
    return [write_tiny_llama(folder / "dense.gguf", TinyShape(**small)),
            write_tiny_llama(folder / "moe.gguf", TinyShape(**small, n_expert=4, n_expert_used=2))]


def pytest_terminal_summary(terminalreporter) -> None:
    if not SUMMARY:
        return
    terminalreporter.section("fuzz")
    for target, counts in SUMMARY.items():
        terminalreporter.write_line(f"{target:40} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
