"""The table of docs/verify.md, asserted: the default model's Q8_0, Q4_K_M, Q3_K_M and Q2_K, each
verified against the original on the sample documents (the sample tasks) and their text (KLD).
Marked slow (five analysis jobs and five llama-perplexity runs, the reference's computed once: minutes)
and run only when asked for: `bash scripts/test.sh -m slow`. The default run has the cheap ordering
check (KLD over 2 chunks) in test_verify_engine.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_quants_ordered_by_agreement_and_kld(installed, request: pytest.FixtureRequest) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("minutes long: run it with `bash scripts/test.sh -m slow`")
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "verify_quants.py"), "--json",
                           "--kld-chunks", "4"], capture_output=True, text=True, timeout=3600, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["type"]: r for r in json.loads(proc.stdout)["rows"]}
    order = ["Q8_0", "Q4_K_M", "Q3_K_M", "Q2_K"]  # most bits first
    kld = [rows[t]["kld_mean"] for t in order]
    assert kld == sorted(kld) and len(set(kld)) == 4, kld
    top1 = [rows[t]["top1_agreement"] for t in order]
    assert top1 == sorted(top1, reverse=True), top1
    agreement = [rows[t]["agreement"] for t in order]
    assert agreement == sorted(agreement, reverse=True), agreement  # higher-bit variants agree more
    assert agreement[0] > agreement[-1], agreement
    assert rows["Q8_0"]["kappa"] == 1.0  # a one-token answer: the classification agrees where prose drifts
