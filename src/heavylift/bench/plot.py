"""`heavylift bench report --plot`: prefill and decode tok/s against prompt length, depth and
concurrency. Runs overlaid (one colour each): measured solid with markers, the planner's
prediction dashed, the physical limit as a band (the shaded region above it cannot be reached)."""

from __future__ import annotations

from pathlib import Path

from heavylift.bench.results import ConfigResult
from heavylift.bench.store import BenchRun
from heavylift.errors import UsageError
from heavylift.plan.plot import _pyplot

COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
# (axis, x of a result, the other two dimensions held at their smallest values)
AXES = [("prompt tokens", lambda r: r.prompt_tokens, ("depth", "concurrency")),
        ("depth (tokens already cached)", lambda r: r.depth, ("prompt_tokens", "concurrency")),
        ("concurrent requests", lambda r: r.concurrency, ("prompt_tokens", "depth"))]
ROWS = [("prefill tok/s (per request)", "prefill_tps", "predicted_prefill_tps", "roofline_prefill_tps"),
        ("decode tok/s", "decode_tps", "predicted_decode_tps", "roofline_decode_tps")]


def _series(run: BenchRun, xfn, held: tuple[str, str]) -> list[ConfigResult]:
    if not run.results:
        return []
    fixed = {h: min(getattr(r, h) for r in run.results) for h in held}
    rows = [r for r in run.results if all(getattr(r, h) == v for h, v in fixed.items())]
    return sorted(rows, key=xfn)


def plot_runs(runs: list[BenchRun], path: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for col, (xlabel, xfn, held) in enumerate(AXES):
        for row, (ylabel, measured, predicted, limit) in enumerate(ROWS):
            ax = axes[row][col]
            top = 0.0
            xs_all: set[int] = set()
            for i, run in enumerate(runs):
                color = COLORS[i % len(COLORS)]
                series = _series(run, xfn, held)
                # On the concurrency axis, decode is the aggregate over all requests (what a server delivers).
                key = "decode_tps_aggregate" if measured == "decode_tps" and col == 2 else measured
                pkey = "predicted_decode_tps_aggregate" if key == "decode_tps_aggregate" else predicted
                xs = [xfn(r) for r in series]
                xs_all |= set(xs)
                ys = [getattr(r, key) for r in series]
                pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
                if pts:
                    ax.plot(*zip(*pts, strict=True), "-o", color=color, lw=2, ms=5, label=f"run {run.id} measured")
                    # the spread over repeats, as error bars
                    for r, x in zip(series, xs, strict=True):
                        s = r.spread.get(key)
                        if s and s.n > 1:
                            ax.plot([x, x], [s.min, s.max], color=color, lw=1)
                    top = max(top, max(y for _, y in pts))
                ppts = [(x, getattr(r, pkey)) for x, r in zip(xs, series, strict=True) if getattr(r, pkey) is not None]
                if ppts:
                    ax.plot(*zip(*ppts, strict=True), "--x", color=color, lw=1.5, ms=7, label=f"run {run.id} predicted (planner)")
                    top = max(top, max(y for _, y in ppts))
                lpts = [(x, getattr(r, limit)) for x, r in zip(xs, series, strict=True) if getattr(r, limit) is not None]
                if lpts and col != 2:  # the limit is per sequence: not drawn against concurrency
                    lx, ly = zip(*lpts, strict=True)
                    ceiling = max(ly) * 1.6
                    if len(lx) == 1:  # a single point: a short band around it
                        lx, ly = (lx[0] * 0.9, lx[0] * 1.1), (ly[0], ly[0])
                    ax.fill_between(lx, ly, [ceiling] * len(ly), color=color, alpha=0.10, lw=0)
                    ax.plot(lx, ly, ":", color=color, lw=1, label=f"run {run.id} physical limit (above: unreachable)")
                    top = max(top, max(ly))
            ax.set_ylim(0, top * 1.15 if top else 1)
            if len(xs_all) > 1 and max(xs_all) / max(1, min(x for x in xs_all if x > 0) if any(xs_all) else 1) >= 8:
                ax.set_xscale("symlog", linthresh=max(1, min(x for x in xs_all if x > 0)))
            if xs_all:
                ax.set_xticks(sorted(xs_all))
                ax.set_xticklabels([_tok(x) for x in sorted(xs_all)], fontsize=8)
            ax.set_xlabel(xlabel + ("" if len(xs_all) > 1 else "  (one value measured)"), fontsize=9)
            ylab = "decode tok/s, all requests together" if measured == "decode_tps" and col == 2 else ylabel
            ax.set_ylabel(ylab, fontsize=9)
            ax.grid(alpha=0.3)
    seen: dict[str, object] = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, h)
    handles, labels = list(seen.values()), list(seen)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(3, max(1, len(labels))), fontsize=8)
    fig.suptitle(_title(runs), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight" takes in the legend below the panels
    except OSError as e:
        raise UsageError(f"cannot write the plot to {path} ({e.strerror}); choose another --plot path") from None
    finally:
        plt.close(fig)
    return path


def _tok(x: int) -> str:
    return f"{x // 1024}k" if x >= 1024 and x % 1024 == 0 else str(x)


def _title(runs: list[BenchRun]) -> str:
    parts = [f"run {r.id}: {r.model or r.target} {r.quant or ''} on {r.engine or '?'} {r.engine_backend or ''} "
             f"({r.machine.cpu_model}, {r.machine.physical_cores} cores)" for r in runs]
    return "; ".join(parts) + "\nother dimensions held at their smallest measured value; bars: min-max over repeats"
