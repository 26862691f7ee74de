"""The verify report: one dataclass, printed as Markdown or (`--json`) as its asdict."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from heavylift.verify.compare import BORDERLINE, BORDERLINE_AT, SAFE_AT, Comparison, TaskAgreement
from heavylift.verify.kld import KLDResult

RULE = (f"agreement >= {SAFE_AT:.0%}: safe; {BORDERLINE_AT:.0%}-{SAFE_AT:.0%}: borderline (read the "
        f"disagreements); < {BORDERLINE_AT:.0%}: try-larger (a bigger quant)")


@dataclass
class VerifyReport:
    name: str
    candidate: str
    reference: str  # a model name, or the endpoint URL
    candidate_job: str | None
    reference_job: str | None
    num_documents: int
    agreement: float | None  # the mean of the tasks' agreements
    verdict: str | None  # safe | borderline | try-larger
    tasks: list[TaskAgreement]
    disagreements: list[Comparison]
    kld: KLDResult | None = None
    kld_mean: float | None = None  # copied from kld for --json users
    kld_p99: float | None = None
    ppl_ratio: float | None = None
    top1_agreement: float | None = None
    min_f1: float = 0.5
    num_tolerance: float = 0.01
    rule: str = RULE
    notes: list[str] = field(default_factory=list)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _cell(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_markdown(report: VerifyReport, max_disagreements: int = 50) -> str:
    out = [f"# verify {report.name}: {report.candidate} vs {report.reference}", ""]
    if report.agreement is not None:
        out.append(f"**Verdict: {report.verdict}** — agreement {_pct(report.agreement)} over {len(report.tasks)} "
                   f"task(s) and {report.num_documents} document(s). Rule: {report.rule}.")
    elif not report.tasks:
        out.append("No tasks were given: the token-level comparison only (no verdict; add --tasks or --ask for one).")
    else:
        out.append("**Verdict: none** — no answer could be compared (see the tasks' failures below).")
    out.append("")
    if report.tasks:
        out += ["| task | kind | compared | agreed | agreement | verdict | measures |", "|---|---|---:|---:|---:|---|---|"]
        for t in report.tasks:
            measures = []
            if t.token_f1 is not None:
                measures.append(f"token F1 {_num(t.token_f1)}, ROUGE-L {_num(t.rouge_l)}")
            if t.exact_match is not None:
                measures.append(f"exact {_pct(t.exact_match)} of {t.num_short} short")
            if t.task == "classify":
                measures.append(f"Cohen's kappa {_num(t.kappa)}" if t.kappa is not None else "kappa undefined (one label)")
            if t.field_agreement:
                worst = sorted(t.field_agreement.items(), key=lambda kv: kv[1])[:3]
                measures.append("lowest fields: " + ", ".join(f"{k} {_pct(v)}" for k, v in worst))
            if t.num_failed_one_side:
                measures.append(f"{t.num_failed_one_side} answer(s) missing on one side")
            if t.num_failed_both:
                measures.append(f"{t.num_failed_both} failed on both sides (not compared)")
            out.append(f"| {_cell(t.title, 70)} | {t.task} | {t.num_compared} | {t.num_agreed} | {_pct(t.agreement)} "
                       f"| {t.verdict or 'n/a'} | {'; '.join(measures)} |")
        out.append("")
    if report.kld:
        k = report.kld
        who = f"{k.reference_model}" + (" (a higher-bit quant standing in for the reference, too big to run here)"
                                         if k.is_stand_in else "")
        out += [f"## Token level: KL divergence against {who}", "",
                f"llama-perplexity over {k.num_chunks} chunk(s) of {k.ctx} tokens of {k.text} "
                f"({k.num_tokens_scored} tokens scored):", "",
                "| PPL candidate | PPL reference | PPL ratio | KLD mean | KLD p99 | KLD max | same top token |",
                "|---:|---:|---:|---:|---:|---:|---:|",
                f"| {k.ppl_candidate:.4f} | {k.ppl_reference:.4f} | {k.ppl_ratio:.4f} | {k.kld_mean:.6f} | "
                f"{k.kld_p99:.6f} | {k.kld_max:.6f} | {_pct(k.top1_agreement)} |", ""]
    shown = report.disagreements[:max_disagreements]
    if shown:
        title = "Disagreements" + (" — read these before deciding" if report.verdict == BORDERLINE else "")
        out += [f"## {title} ({len(report.disagreements)})", "",
                "| document | task | field | candidate | reference | why |", "|---|---|---|---|---|---|"]
        for d in shown:
            out.append(f"| {_cell(d.document, 40)} | {_cell(d.task, 50)} | {d.field or ''} | {_cell(d.candidate)} "
                       f"| {_cell(d.reference)} | {d.detail} |")
        if len(report.disagreements) > len(shown):
            out.append(f"\n… and {len(report.disagreements) - len(shown)} more (all of them in `--json`).")
        out.append("")
    for note in report.notes:
        out.append(f"- {note}")
    return "\n".join(out).rstrip() + "\n"
