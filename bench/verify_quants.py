"""Quants of one model checked against it on the sample documents: the table in docs/verify.md.

For each type: `heavylift quantize MODEL --to TYPE --out TMP`, then `heavylift verify --candidate
THAT --reference MODEL --docs samples/documents --tasks samples/verify_tasks.txt --kld
samples/documents`. The reference's answers and saved log-probs are computed once and reused by
every candidate (verify reuses a side whose inputs are the same). Prints a Markdown table (or
--json), with the machine's load average before and after (other work on the machine slows the
run, it does not change the numbers: answers are greedy, seed 0). Run again with the same
--data-dir, it reuses the quants, the answers and the KLD results and only recomputes the reports.

    python bench/verify_quants.py [--model default] [--types Q8_0,Q4_K_M,Q3_K_M,Q2_K]
                                  [--max-tokens 128] [--kld-chunks 8] [--data-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "heavylift", *args], capture_output=True, text=True,
                          env=os.environ.copy())
    if proc.returncode != 0:
        sys.exit(f"heavylift {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def row(ftype: str, quant: dict, report: dict) -> dict:
    tasks = report["tasks"]
    free = [t["token_f1"] for t in tasks if t["token_f1"] is not None]
    extract = [t["agreement"] for t in tasks if t["task"] == "extract"]
    kappa = [t["kappa"] for t in tasks if t["task"] == "classify"]
    return {"type": ftype, "file_bytes": quant["file_bytes"], "agreement": report["agreement"],
            "verdict": report["verdict"], "token_f1": sum(free) / len(free) if free else None,
            "extract_agreement": extract[0] if extract else None, "kappa": kappa[0] if kappa else None,
            "kld_mean": report["kld_mean"], "kld_p99": report["kld_p99"], "ppl_ratio": report["ppl_ratio"],
            "top1_agreement": report["top1_agreement"], "num_disagreements": len(report["disagreements"])}


def fmt(x, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--types", default="Q8_0,Q4_K_M,Q3_K_M,Q2_K")
    parser.add_argument("--max-tokens", default="128")  # an extraction's JSON needs ~100
    parser.add_argument("--kld-chunks", default="8")
    parser.add_argument("--data-dir", type=Path, help="database and quants (default: a new temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="heavylift-bench-verify-"))
    os.environ["HEAVYLIFT_DATA_DIR"] = str(data)
    out = data / "quants"
    print(f"data and quants in {data}", file=sys.stderr)
    cli("setup")  # registers the engine and the default model in this (fresh) database; seconds when cached
    load_before = os.getloadavg()
    started = time.monotonic()
    rows = []
    for ftype in args.types.split(","):
        [quant] = json.loads(cli("quantize", args.model, "--to", ftype, "--out", str(out), "--name",
                                 f"bench-{ftype.lower()}", "--json").stdout)
        proc = cli("verify", "--candidate", quant["path"], "--reference", args.model, "--docs",
                   str(REPO / "samples" / "documents"), "--tasks", str(REPO / "samples" / "verify_tasks.txt"),
                   "--kld", str(REPO / "samples" / "documents"), "--kld-chunks", args.kld_chunks,
                   "--max-tokens", args.max_tokens, "--name", f"bench-{ftype.lower()}", "--json")
        rows.append(row(ftype, quant, json.loads(proc.stdout)))
        print(f"{ftype}: done at {time.monotonic() - started:.0f} s", file=sys.stderr)
    conditions = {"model": args.model, "max_tokens": int(args.max_tokens), "kld_chunks": int(args.kld_chunks),
                  "cores": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
                  "wall_s": round(time.monotonic() - started, 1)}
    if args.json:
        print(json.dumps({"conditions": conditions, "rows": rows}, indent=2))
        return 0
    print("| type | file size | agreement | verdict | token F1 (questions) | extraction fields | kappa (classify) "
          "| KLD mean | KLD p99 | PPL ratio | same top token |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['type']} | {r['file_bytes'] / 2**20:.1f} MiB | {fmt(r['agreement'], '.1%')} | {r['verdict']} "
              f"| {fmt(r['token_f1'], '.2f')} | {fmt(r['extract_agreement'], '.1%')} | {fmt(r['kappa'], '.2f')} "
              f"| {fmt(r['kld_mean'], '.4f')} | {fmt(r['kld_p99'], '.3f')} | {fmt(r['ppl_ratio'], '.3f')} "
              f"| {fmt(r['top1_agreement'], '.1%')} |")
    print(f"\n{conditions}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
