"""The README's two cost scenarios, regenerated from `heavylift cost --json` (the planner's speeds
move when the speed model changes: run this after merging main and paste its tables).

1. The articles' claim: 1,000 inferences a month at 500K tokens each on dual RTX 5090 at Q3_K_M,
   Qwen3.5-397B-A17B and Qwen3-235B-A22B, electricity at the articles' $0.15/kWh.
2. A realistic one: 2,000 contracts of 50K tokens a month, 10 questions each (50-token questions,
   300-token answers), Qwen3-235B-A22B on the same rig.

    python bench/bench_cost_scenarios.py
"""

from __future__ import annotations

import json
import subprocess
import sys

RIG = "2x rtx-5090, 256GB ddr5-6000 2ch, pcie5"
APIS = ["claude-sonnet-5.5", "claude-opus-5.5", "claude-haiku-4.5", "gemini-2.5-pro", "deepseek-v3-fireworks"]
ARTICLES = ["--per-month", "1000", "--input-tokens", "500000", "--output-tokens", "2000", "--electricity", "0.15"]
CONTRACTS = ["--per-month", "2000", "--input-tokens", "50000", "--output-tokens", "300", "--questions-per-doc", "10",
             "--question-tokens", "50", "--electricity", "0.15"]


def cost(model: str, workload: list[str]) -> dict:
    args = ["cost", "--plan", model, "--quant", "Q3_K_M", "--hw", RIG, *workload, *[x for a in APIS for x in ("--api", a)]]
    print("$ heavylift " + " ".join(f'"{a}"' if " " in a else a for a in args), flush=True)
    proc = subprocess.run([sys.executable, "-m", "heavylift", *args, "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    return json.loads(proc.stdout)


def usd(v: float | None) -> str:
    return "unknown" if v is None else (f"${v:,.0f}" if v >= 100 else f"${v:,.2f}")


def table(r: dict) -> None:
    lr, i = r["local"], r["inputs"]
    print(f"\nlocal: prefill {i['prefill_tps']:.0f} tok/s, decode {i['decode_tps']:.1f} tok/s (planned); "
          f"{lr['seconds_per_unit'] / 60:.1f} min of machine time per {r['unit']}; capacity "
          f"{lr['capacity_per_month']:,.0f}/month per machine -> {lr['machines_needed']} machine(s); "
          f"monthly {usd(lr['monthly_usd'])} (hardware {usd(lr['hardware_monthly_usd'])}, energy "
          f"{usd(lr['energy_busy_usd'])}); split: {lr['split']}")
    print("| API | monthly, list price | with cache + batch | break-even (per month) |")
    print("|---|---:|---:|---:|")
    for a in r["apis"]:
        be = f"{a['breakeven_per_month']:,.0f}" if a["breakeven_per_month"] else a["breakeven_note"].split(":")[0]
        print(f"| {a['name']} | {usd(a['monthly_usd'])} | {usd(a['monthly_cached_batch_usd'])} | {be} |")
    print(f"| local (this rig) | {usd(r['local_monthly_usd'])} | | |")


def main() -> int:
    for model in ("qwen3.5-397b-a17b", "qwen3-235b-a22b-2507"):
        table(cost(model, ARTICLES))
        print()
    table(cost("qwen3-235b-a22b-2507", CONTRACTS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
