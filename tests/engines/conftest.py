"""vLLM tests install ~3.5 GB on first use and run for minutes: only when asked (`-m vllm`)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "vllm" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="installs and runs vLLM's CPU build (minutes): run with `-m vllm`")
    for item in items:
        if "vllm" in item.keywords:
            item.add_marker(skip)
