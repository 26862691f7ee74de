"""Plots for `heavylift plan --plot FILE`: memory per device against capacity (one plan), or
predicted decode speed against the bandwidth roofline per rig (--compare / several models)."""

from __future__ import annotations

from pathlib import Path

from heavylift.errors import UsageError
from heavylift.plan.planner import Plan

_PARTS = [("weights_bytes", "weights", "#4C72B0"), ("kv_cache_bytes", "KV cache", "#DD8452"),
          ("recurrent_state_bytes", "recurrent state", "#937860"), ("compute_bytes", "compute", "#55A868"),
          ("output_bytes", "output", "#8172B3"), ("overhead_bytes", "overhead", "#999999")]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("plotting needs matplotlib: pip install 'heavylift[plot]'") from None
    return plt


def plot_memory(plan: Plan, path: Path, force: bool = False) -> Path:
    """One stacked bar per device (GiB), with its capacity and usable limit marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.7 * len(plan.devices)))
    names = [d.name for d in plan.devices]
    for field, label, color in _PARTS:
        lefts = []
        for d in plan.devices:
            lefts.append(sum(getattr(d.breakdown, f) for f, _, _ in _PARTS[: [p[0] for p in _PARTS].index(field)]) / 2**30)
        widths = [getattr(d.breakdown, field) / 2**30 for d in plan.devices]
        if any(widths):
            ax.barh(names, widths, left=lefts, color=color, label=label)
    for i, d in enumerate(plan.devices):
        ax.plot([d.capacity_bytes / 2**30] * 2, [i - 0.4, i + 0.4], color="black", lw=2)
        ax.plot([d.usable_bytes / 2**30] * 2, [i - 0.4, i + 0.4], color="red", lw=1, ls="--")
    ax.invert_yaxis()
    ax.set_xlabel("GiB  (black: capacity, red dashed: usable after the safety margin)")
    ax.set_title(f"{plan.model} {plan.quant}, ctx {plan.context.ctx:,} on {plan.hardware}: "
                 f"{'fits' if plan.fits else 'DOES NOT FIT'}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, plt, path, force)


def plot_speed(plans: list[Plan], path: Path, force: bool = False) -> Path:
    """Predicted decode tok/s per (model, rig) with the pure-bandwidth roofline; rigs that do not fit are grey."""
    plt = _pyplot()
    labels = [f"{p.model} {p.quant}\n{p.hardware}" for p in plans]
    fig, ax = plt.subplots(figsize=(10, 1 + 0.55 * len(plans)))
    colors = ["#4C72B0" if p.fits else "#BBBBBB" for p in plans]
    ax.barh(labels, [p.decode_tps for p in plans], color=colors, label="predicted decode")
    ax.scatter([p.speed.roofline_decode_tps for p in plans], range(len(plans)), marker="|", s=300, color="red",
               label="bandwidth roofline", zorder=3)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel(f"decode tokens/s with {plans[0].depth_tokens:,} tokens in the cache (grey: does not fit)")
    ax.set_title(f"context {plans[0].context.ctx:,}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, plt, path, force)


def _save(fig, plt, path: Path, force: bool) -> Path:
    """Written beside the target and renamed when complete; never over a file heavylift did not write."""
    from heavylift.outputs import replacing

    fig.tight_layout()
    try:
        with replacing(path, force=force, flag="--plot") as tmp:
            try:
                fig.savefig(tmp, dpi=110)
            except ValueError as e:  # matplotlib: an extension it cannot write
                raise UsageError(f"--plot {path}: {e}; use .png, .svg or .pdf") from None
    finally:
        plt.close(fig)
    return path
