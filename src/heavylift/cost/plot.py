"""`heavylift cost --plot PNG`: monthly cost against volume, local (a step each time another machine
is needed) against each API, with this workload's volume and the break-evens marked."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from heavylift.cost.model import LocalSide, local_monthly_at
from heavylift.cost.report import CostReport
from heavylift.errors import UsageError
from heavylift.plan.plot import _pyplot

COLORS = ["#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974"]


def plot_cost(report: CostReport, path: Path) -> Path:
    plt = _pyplot()
    i = report.inputs
    local = LocalSide(i["prefill_tps"], i["decode_tps"], i["hardware_cost_usd"], i["months"],
                      i["electricity_usd_per_kwh"], i["power_w"], i["idle_power_w"], i["hours_per_day"],
                      i["context_tokens"], i["speeds_from"])
    n = report.inputs["per_month"]
    lr = report.local
    finite = [a.breakeven_per_month for a in report.apis if a.breakeven_per_month]
    x_max = max([2.0 * n] + [1.5 * b for b in finite])
    xs = np.linspace(0, x_max, 1200)
    fig, ax = plt.subplots(figsize=(11, 6.5))
    local_y = [local_monthly_at(x, local, lr) for x in xs]
    ax.plot(xs, local_y, color="#4C72B0", lw=2.5, label=textwrap.fill(
        f"local: {local.label} (a step: one more machine every {lr.capacity_per_month:,.0f} {report.unit}s)", 70))
    top = max(local_y)
    for i, a in enumerate(report.apis):
        if a.per_unit_usd is None:
            continue
        ys = xs * a.per_unit_usd
        ax.plot(xs, ys, color=COLORS[i % len(COLORS)], lw=1.6, label=f"API {a.name}")
        top = max(top, float(np.quantile(ys, 0.6)))
        best = a.monthly_cached_batch_usd
        if best is not None and a.monthly_usd and abs(best - a.monthly_usd) > 0.01 * a.monthly_usd:
            per = best / report.inputs["per_month"]
            ax.plot(xs, xs * per, color=COLORS[i % len(COLORS)], lw=1.2, ls="--",
                    label=f"API {a.name}, cache + batch prices")
        if a.breakeven_per_month:
            ax.plot([a.breakeven_per_month], [a.breakeven_per_month * a.per_unit_usd], "o", color=COLORS[i % len(COLORS)], ms=6)
    ax.axvline(n, color="black", ls="--", lw=1)
    ax.text(n, top * 0.02, f" this workload: {n:,}/month", fontsize=8, va="bottom")
    ax.set_ylim(0, top * 1.1)
    ax.set_xlim(0, x_max)
    ax.set_xlabel(f"{report.unit}s per month ({report.inputs['input_tokens']:,} input + "
                  f"{report.inputs['output_tokens']:,} output tokens each"
                  + (f", {report.inputs['questions_per_doc']} questions per document" if report.unit == "document" else "") + ")")
    ax.set_ylabel("USD per month")
    ax.grid(alpha=0.3)
    ax.set_title("monthly cost against volume (solid: list price; dashed: with cache + batch prices; dots: break-even vs list price)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    fig.subplots_adjust(left=0.08, right=0.98)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as e:
        raise UsageError(f"cannot write the plot to {path} ({e.strerror}); choose another --plot path") from None
    finally:
        plt.close(fig)
    return path
