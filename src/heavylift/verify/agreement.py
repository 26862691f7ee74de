"""Per-task agreement between two jobs that ran the same tasks on the same documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from heavylift.analyze.prompts import TaskSpec
from heavylift.analyze.results import ResultRow
from heavylift.verify.compare import (
    Comparison,
    TaskAgreement,
    cohen_kappa,
    compare_free,
    flatten,
    schema_fields,
    values_equal,
    verdict,
)


@dataclass
class Answer:
    status: str  # done | failed | pending | cancelled
    value: Any
    error: str | None

    @property
    def is_done(self) -> bool:
        return self.status == "done"

    def shown(self) -> Any:
        return self.value if self.is_done else f"({self.status}: {self.error or 'no answer'})"


def answers_by_unit(rows: list[ResultRow]) -> dict[tuple[str, int], Answer]:
    """(document, task index) -> answer. A job's rows come ordered by document, then task."""
    out: dict[tuple[str, int], Answer] = {}
    seen: dict[str, int] = {}
    for row in rows:
        if row.task is None:  # an input that could not be read: no units
            continue
        index = seen.get(row.document, 0)
        seen[row.document] = index + 1
        out[(row.document, index)] = Answer(row.status, row.answer, row.error)
    return out


def compare_jobs(tasks: list[TaskSpec], candidate: list[ResultRow], reference: list[ResultRow], *,
                 min_f1: float, num_tolerance: float) -> tuple[list[TaskAgreement], list[Comparison]]:
    cand, ref = answers_by_unit(candidate), answers_by_unit(reference)
    documents = list(dict.fromkeys(doc for doc, _ in ref))
    reports, comparisons = [], []
    for index, spec in enumerate(tasks):
        pairs = [(doc, cand.get((doc, index)), ref.get((doc, index))) for doc in documents]
        report, items = _compare_task(index, spec, pairs, min_f1, num_tolerance)
        reports.append(report)
        comparisons += items
    return reports, comparisons


def _compare_task(index: int, spec: TaskSpec, pairs: list, min_f1: float,
                  num_tolerance: float) -> tuple[TaskAgreement, list[Comparison]]:
    report = TaskAgreement(index=index, task=spec.task, title=spec.title, num_compared=0, num_agreed=0,
                           agreement=None, verdict=None)
    items: list[Comparison] = []
    f1s, rouges, exacts, labels = [], [], [], []
    per_field: dict[str, list[bool]] = {}
    for doc, c, r in pairs:
        if c is None or r is None or not (c.is_done or r.is_done):
            report.num_failed_both += 1
            continue
        one_failed = not (c.is_done and r.is_done)
        report.num_failed_one_side += one_failed

        def add(field: str | None, cv: Any, rv: Any, ok: bool, detail: str, doc: str = doc) -> None:
            items.append(Comparison(doc, index, spec.title, field, cv, rv, ok, detail))
            if field is not None:
                per_field.setdefault(field, []).append(ok)

        if spec.task == "extract":
            fields = schema_fields(spec.schema)
            cf = flatten(c.value) if c.is_done else {}
            rf = flatten(r.value) if r.is_done else {}
            for name in list(dict.fromkeys([*fields, *rf, *cf])):
                if one_failed:
                    add(name, cf.get(name) if c.is_done else c.shown(), rf.get(name) if r.is_done else r.shown(),
                        False, "no answer on one side")
                    continue
                ok, why = values_equal(cf.get(name), rf.get(name), num_tolerance)
                add(name, cf.get(name), rf.get(name), ok, why)
        elif spec.task == "classify":
            if one_failed:
                add(None, c.shown(), r.shown(), False, "no answer on one side")
                continue
            labels.append((str(c.value).casefold(), str(r.value).casefold()))
            ok = labels[-1][0] == labels[-1][1]
            add(None, c.value, r.value, ok, "" if ok else "different labels")
        else:
            if one_failed:
                add(None, c.shown(), r.shown(), False, "no answer on one side")
                continue
            score = compare_free(str(c.value), str(r.value), min_f1)
            f1s.append(score.f1)
            rouges.append(score.rouge_l)
            if score.is_short:
                exacts.append(score.is_exact)
            add(None, c.value, r.value, score.is_agreed, score.detail)
    report.num_compared = len(items)
    report.num_agreed = sum(i.is_agreed for i in items)
    report.agreement = report.num_agreed / report.num_compared if items else None
    report.verdict = verdict(report.agreement)
    report.token_f1 = _mean(f1s)
    report.rouge_l = _mean(rouges)
    report.exact_match = _mean(exacts)
    report.num_short = len(exacts)
    if spec.task == "classify":
        report.kappa = cohen_kappa(labels)
    report.field_agreement = {k: sum(v) / len(v) for k, v in per_field.items()}
    return report, items


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def overall(reports: list[TaskAgreement]) -> float | None:
    """Each task counts once, however many fields or documents it has."""
    values = [r.agreement for r in reports if r.agreement is not None]
    return sum(values) / len(values) if values else None
