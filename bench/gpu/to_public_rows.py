"""Append a GPU check's llama-bench results (bench/gpu/results/<run>/llama_bench.jsonl) to the
public measurement set as our own rows: `source` says "heavylift GPU check (ours)", `url` is the
results file's path in this repository (no web address: the measurement is ours), `split` is "ours": the fit
(plan/speed_fit.py) and the held-out table leave these rows out; bench/speed_model_vs_public.py
prints them as a table of their own.
Rows already there (same url, test, depth, placement) are left alone.

    python bench/gpu/to_public_rows.py bench/gpu/results/2026-11-26-h200 [--hardware TEXT] [--hw SPEC]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "src/heavylift/plan/data/public_measurements.csv"
# the clone's file stem -> (catalog key, llama-bench model name as our rows write it, is_moe)
MODELS = {
    "smollm2-clone": ("smollm2-135m-instruct", "llama 135M Q4_1 (random-weight clone of SmolLM2-135M-Instruct.Q4_1.gguf)", 0),
    "moe4x-clone": ("smollm2-135m-4x-top2-upcycle", "llama 4x135M Q4_1 MoE (random-weight clone of the upcycled 4-expert fixture)", 1),
    "llama-3.1-8b-Q4_K_M": ("llama-3.1-8b", "llama 8B Q4_K - Medium (random-weight clone of Llama-3.1-8B, heavylift's Q4_K_M rules)", 0),
    "qwen3-30b-a3b-Q4_K_M": ("qwen3-30b-a3b", "qwen3moe 30B.A3B Q4_K - Medium (random-weight clone of Qwen3-30B-A3B, heavylift's Q4_K_M rules)", 1),
}
QUANT = {"smollm2-clone": "Q4_1", "moe4x-clone": "Q4_1", "llama-3.1-8b-Q4_K_M": "Q4_K_M", "qwen3-30b-a3b-Q4_K_M": "Q4_K_M"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--hardware", default="NVIDIA H200 141GB (lent Firecracker VM; driver 580.159.04, CUDA 13.0; PCIe gen 5 x16 as nvidia-smi reports its maximum), "
                    "16 vCPU Intel Xeon (AVX-512, AMX), 125.9 GiB RAM, STREAM triad 82.5 GB/s (16 threads)")
    ap.add_argument("--hw", default="1x h200, 128gb, 82.5gb/s, 16 cores, avx512, pcie5")
    ap.add_argument("--date", default="2026-11-26")
    args = ap.parse_args()
    with open(CSV, newline="") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    seen = {(r["url"], r["test"], r["n_prompt"], r["n_gen"], r["depth"], r["ngl"], r["n_cpu_moe"], r["n_ubatch"],
             r["model"]) for r in rows}
    next_id = max(int(r["id"][1:]) for r in rows) + 1
    url = str((args.run / "llama_bench.jsonl").resolve().relative_to(ROOT))  # our rows: a file of this repository
    added = []
    for line in (args.run / "llama_bench.jsonl").read_text().splitlines():
        r = json.loads(line)
        stem = Path(r["model_filename"]).stem
        key, model, is_moe = MODELS[stem]
        test = "pp" if r["n_gen"] == 0 else "tg" if r["n_prompt"] == 0 else "pg"
        row = {c: "" for c in columns} | {
            "id": f"m{next_id:04d}", "url": url, "source": "heavylift GPU check (ours): bench/gpu/device_check.sh",
            "date": args.date, "llama_build": f"{r['build_commit']} ({r['build_number']})", "backend": "cuda",
            "hardware": args.hardware, "hw": args.hw, "num_gpus": "1", "model": model, "model_key": key,
            "params_b": f"{r['model_n_params'] / 1e9:.2f}", "size_gib": f"{r['model_size'] / 2**30:.2f}",
            "quant": QUANT[stem], "is_moe": str(is_moe), "ngl": str(r["n_gpu_layers"]),
            "n_cpu_moe": str(r["n_cpu_moe"] or ""), "fa": str(int(r["flash_attn"])), "threads": str(r["n_threads"]),
            "n_ubatch": str(r["n_ubatch"]), "n_batch": str(r["n_batch"]), "type_k": r["type_k"], "type_v": r["type_v"],
            "test": test, "n_prompt": str(r["n_prompt"]), "n_gen": str(r["n_gen"]), "depth": str(r["n_depth"]),
            "tps": f"{r['avg_ts']:.2f}", "tps_std": f"{r['stddev_ts']:.2f}", "tool": "llama-bench",
            "notes": (f"ours: llama-bench -r 3 -fa 1 ({r.get('check', 'deep')}), samples "
                      + " ".join(f"{x:.0f}" for x in r["samples_ts"])
                      + "; weights random but valid blocks of the same tensor names, shapes and types "
                      "(bench/gpu/make_kit.py, fill_gguf.py); model files in /dev/shm"),
        }
        row["split"] = "ours"  # a check of its own: neither fitted on nor counted among the held-out public rows
        ident = (row["url"], row["test"], row["n_prompt"], row["n_gen"], row["depth"], row["ngl"], row["n_cpu_moe"],
                 row["n_ubatch"], row["model"])
        if ident in seen:
            continue
        seen.add(ident)
        added.append(row)
        next_id += 1
    with open(CSV, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=columns, lineterminator="\n").writerows(added)
    print(f"{len(added)} rows added to {CSV.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
