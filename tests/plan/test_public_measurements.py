"""The public llama.cpp measurement set (src/heavylift/plan/data/public_measurements.csv) is well formed.

Fast, no engine: columns, types, sources, the held-out split rule and its fractions, the coverage the
speed-model fit relies on. docs/public-measurements.md explains every column and the split rule.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

COLUMNS = ["id", "url", "source", "date", "llama_build", "backend", "hardware", "hw", "num_gpus", "model",
           "model_key", "params_b", "size_gib", "quant", "is_moe", "ngl", "n_cpu_moe", "override_tensors",
           "tensor_split", "split_mode", "fa", "threads", "n_ubatch", "n_batch", "type_k", "type_v", "test",
           "n_prompt", "n_gen", "depth", "tps", "tps_std", "tool", "split", "notes"]
BACKENDS = {"cuda", "metal", "vulkan", "rocm", "sycl", "cpu"}
TOOLS = {"llama-bench", "llama-server", "llama-batched-bench", "other"}
# llama-quantize type names (tools/quantize/quantize.cpp QUANT_OPTIONS) plus the unquantized types.
QUANTS = {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "MXFP4_MOE", "NVFP4", "Q2_K", "Q2_K_S",
          "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ1_S", "IQ1_M",
          "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ4_NL", "IQ4_XS",
          "TQ1_0", "TQ2_0"}
KV_TYPES = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"}
# Unified-memory rigs: Apple M-series ids, DGX Spark (GB10), Ryzen AI Max (Strix Halo).
UNIFIED = re.compile(r"^(m\d[a-z0-9-]*|dgx-spark|ryzen-ai-max[a-z0-9-]*)$")
DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
HW_TOKEN = re.compile(r"^(\d+(\.\d+)?(gb|tb)|(lp)?ddr[345]x?(-\d{4,5})?|\d+ch|\d+-bit|neon|avx2|avx512|\d+_cores|\d+_sockets|\d+_little|\d+(\.\d+)?gb/s|pcie[345]"
                      r"|nvlink)$")
REPO = Path(__file__).resolve().parents[2]
MIN_PER_CLASS = {"gpu_dense": 60, "gpu_moe": 40, "hybrid_moe": 30, "cpu": 25, "unified": 25}


def load_rows() -> list[dict[str, str]]:
    path = resources.files("heavylift.plan").joinpath("data/public_measurements.csv")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        return list(reader)


ROWS = load_rows()


# `hw` corrected after the split was fixed (a part the source states that the first reading missed):
# the split hashes the hw as first recorded, so that no row changes sides (docs/public-measurements.md)
HW_AS_FIRST_RECORDED = {f"m0{n}": "1x a6000, 256GB ddr5-4800" for n in (*range(298, 304), *range(318, 323))}
# the Radxa Dragon Q8B / Q6A rows (m0406-m0410, m0414-m0416): SoC, RAM and cores from the boards'
# documents (see their notes); the Framework 12 rows (m0411-m0413): the 8GB of RAM their source states
HW_AS_FIRST_RECORDED |= {f"m0{n}": "0x" for n in range(406, 417)}
# the Cix P1 rows (m0402-m0405): its 4 efficiency cores and NEON (see their notes)
HW_AS_FIRST_RECORDED |= {f"m0{n}": "0x, 12 cores" for n in range(402, 406)}
# the Radxa Dragon Q6A pp4096 rows added later (m0726, m0727) keep the split of their pp512 siblings
# (m0414, m0416: one configuration, one side)
HW_AS_FIRST_RECORDED |= {"m0726": "0x", "m0727": "0x"}
# the RTX PRO 6000 Max-Q rows (m0395, m0396, m0696-m0710): recorded as the 600 W card until the catalog
# had the 300 W edition their sources name
HW_AS_FIRST_RECORDED |= {f"m0{n}": "1x rtx-pro-6000, 384GB ddr5 12ch, 32 cores" for n in (395, 396)}
HW_AS_FIRST_RECORDED |= {f"m0{n}": "1x rtx-pro-6000" for n in range(696, 711)}


def is_ours(row: dict[str, str]) -> bool:
    """Our own GPU check (bench/gpu): its url is the results file in this repository, its split `ours`."""
    return row["source"].startswith("heavylift GPU check (ours)")


def split_of(row: dict[str, str]) -> str:
    """The held-out rule stated in docs/public-measurements.md; decided before any fitting."""
    hw = HW_AS_FIRST_RECORDED.get(row["id"], row["hw"])
    key = f"{row['url']}|{row['test']}|{hw}|{row['model']}|{row['quant']}"
    return "holdout" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10 < 4 else "fit"


def coverage_class(row: dict[str, str]) -> str:
    """cpu | unified | hybrid_moe | hybrid_dense | gpu_moe | gpu_dense (docs/public-measurements.md)."""
    if row["backend"] == "cpu" or row["num_gpus"] == "0":
        return "cpu"
    if UNIFIED.match(row["hw"].split(",")[0].strip()):
        return "unified"
    moe = row["is_moe"] == "1"
    if row["override_tensors"] or row["n_cpu_moe"] or (row["ngl"] and int(row["ngl"]) < 90):
        return "hybrid_moe" if moe else "hybrid_dense"
    return "gpu_moe" if moe else "gpu_dense"


def test_enough_rows_and_unique_ids():
    assert len(ROWS) >= 150
    ids = [r["id"] for r in ROWS]
    assert all(re.fullmatch(r"m\d{4}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_no_duplicate_measurements():
    keys = Counter((r["url"], r["hardware"], r["backend"], r["model"], r["quant"], r["test"], r["n_prompt"],
                    r["n_gen"], r["depth"], r["ngl"], r["n_cpu_moe"], r["override_tensors"], r["tensor_split"],
                    r["fa"], r["threads"], r["n_ubatch"], r["n_batch"], r["type_k"], r["type_v"],
                    r["llama_build"]) for r in ROWS)  # a before/after table: one row per build
    assert [k for k, n in keys.items() if n > 1] == []


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["id"])
def test_row_is_well_formed(row):
    if is_ours(row):
        assert (REPO / row["url"]).is_file(), row["url"]
    else:
        assert re.fullmatch(r"https://\S+", row["url"])
    assert row["source"] and row["hardware"] and row["model"]
    assert row["date"] == "" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["date"])
    assert row["backend"] in BACKENDS
    assert row["tool"] in TOOLS
    assert row["quant"] in QUANTS
    assert row["is_moe"] in ("0", "1")
    assert row["fa"] in ("", "0", "1")
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", row["model_key"])
    for col in ("num_gpus", "n_cpu_moe", "threads", "n_ubatch", "n_batch"):
        assert row[col] == "" or int(row[col]) >= 0, col
    assert row["ngl"] == "" or int(row["ngl"]) >= -1
    for col in ("params_b", "size_gib", "tps_std"):
        assert row[col] == "" or float(row[col]) >= 0, col
    for col in ("type_k", "type_v"):
        assert row[col] == "" or row[col] in KV_TYPES, col
    assert float(row["tps"]) > 0
    assert row["split"] == ("ours" if is_ours(row) else split_of(row))


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["id"])
def test_test_columns_parse(row):
    # llama-bench always prints its test; a server report may not say how many tokens or how deep: empty then
    unknown_ok = row["tool"] != "llama-bench"
    for col in ("n_prompt", "n_gen", "depth"):
        assert row[col] != "" or unknown_ok, col
    n_prompt, n_gen, depth = (int(row[c]) if row[c] else None for c in ("n_prompt", "n_gen", "depth"))
    assert depth is None or depth >= 0
    if row["test"] == "pp":
        assert n_prompt and n_prompt > 0 and n_gen in (0, None)
    elif row["test"] == "tg":
        assert (n_gen is None or n_gen > 0) and n_prompt in (0, None)
    else:
        assert row["test"] == "pg" and n_prompt and n_gen and n_prompt > 0 and n_gen > 0


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["id"])
def test_hw_spec_is_in_our_format(row):
    first, *rest = [p.strip() for p in row["hw"].split(",")]
    m = re.fullmatch(r"(\d+)x(?: ([a-z0-9.-]+))?", first)
    if m:
        count, device = int(m.group(1)), m.group(2)
        assert (count == 0) == (device is None)
        assert count == 0 or DEVICE_ID.match(device)
        if row["num_gpus"]:
            assert int(row["num_gpus"]) == count
    else:
        assert DEVICE_ID.match(first), "a single unified-memory device id"
    for part in rest:
        for token in re.sub(r"(\d+) (cores|sockets|little)\b", r"\1_\2", part.lower()).split():
            assert HW_TOKEN.match(token), (row["hw"], token)


def test_holdout_fraction_overall_and_per_class():
    by_class: dict[str, Counter] = {}
    for r in ROWS:
        if not is_ours(r):
            by_class.setdefault(coverage_class(r), Counter())[r["split"]] += 1
    total = sum((c for c in by_class.values()), Counter())
    assert total["holdout"] / sum(total.values()) >= 0.30
    for name, c in by_class.items():
        assert c["holdout"] / (c["holdout"] + c["fit"]) >= 0.30, (name, c)


def test_coverage_minimums():
    counts = Counter(coverage_class(r) for r in ROWS if not is_ours(r))
    short = {k: (counts[k], n) for k, n in MIN_PER_CLASS.items() if counts[k] < n}
    assert short == {}
    tests = Counter(r["test"] for r in ROWS)
    assert tests["pp"] >= 50 and tests["tg"] >= 50


def test_rows_below_their_stated_hw_say_so_in_their_notes():
    """plan/speed_cases.py BELOW_STATED_HW: rows whose own source says the machine ran below its hw."""
    from heavylift.plan.speed_cases import BELOW_STATED_HW

    by_id = {r["id"]: r for r in ROWS}
    for rid in BELOW_STATED_HW:
        assert "full speed" in by_id[rid]["notes"], rid
