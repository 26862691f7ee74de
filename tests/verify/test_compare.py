"""The comparison measures on hand-made answers (no engine): each with a value worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from heavylift.analyze.prompts import TaskSpec
from heavylift.analyze.results import ResultRow
from heavylift.verify.agreement import compare_jobs, overall
from heavylift.verify.compare import (
    canonical,
    cohen_kappa,
    compare_free,
    flatten,
    normalise_words,
    parse_dates,
    rouge_l,
    schema_fields,
    token_f1,
    values_equal,
    verdict,
)


def test_squad_normalisation_and_token_f1() -> None:
    assert normalise_words("The Notice period: 60 days!") == ["notice", "period", "60", "days"]
    # 2 shared words of 3 and 4: P = 2/3, R = 2/4, F1 = 2PR/(P+R) = 4/7
    assert token_f1(["sixty", "days", "notice"], ["notice", "is", "sixty", "weeks"]) == pytest.approx(4 / 7)
    assert token_f1([], []) == 1.0 and token_f1(["a"], []) == 0.0


def test_rouge_l_is_the_lcs_f1() -> None:
    # LCS of "a b c d" and "a c b d" is 3 words ("a b d" or "a c d"): P = R = 3/4
    assert rouge_l(["a", "b", "c", "d"], ["a", "c", "b", "d"]) == pytest.approx(0.75)
    assert rouge_l(["x"], ["y"]) == 0.0


def test_free_answers_need_the_same_numbers() -> None:
    same = compare_free("Termination requires 60 days written notice.", "Termination requires 60 days notice.", 0.5)
    assert same.is_agreed
    other = compare_free("Termination requires 30 days notice.", "Termination requires 60 days notice.", 0.5)
    assert not other.is_agreed and "numbers differ" in other.detail  # F1 is 4/5, but the numbers differ
    assert other.f1 == pytest.approx(0.8)
    short = compare_free("Delaware.", "delaware", 0.5)
    assert short.is_exact and short.is_short and short.is_agreed
    more = compare_free("Acme Ltd and Bolt Inc (company no. 8812345)", "Acme Ltd and Bolt Inc", 0.5)
    assert more.is_agreed  # numbers on one side only: F1 decides
    loose = compare_free("The parties are Acme and Bolt", "Globex signed it", 0.5)
    assert not loose.is_agreed and "<" in loose.detail


def test_values_numbers_dates_strings_lists() -> None:
    assert values_equal("$1,200", 1200.0, 0.01)[0]
    assert values_equal(100, 100.9, 0.01)[0] and not values_equal(100, 102, 0.01)[0]
    assert values_equal("1 March 2024", "2024-03-01", 0.01)[0]
    assert values_equal("March 1st, 2024", "2024/3/1", 0.01)[0]
    assert not values_equal("2024-03-02", "March 1, 2024", 0.01)[0]
    assert parse_dates("03/04/2024") == {dt.date(2024, 3, 4), dt.date(2024, 4, 3)}  # US or day-first
    assert values_equal("  Acme  Corp. ", "acme corp", 0.01)[0]
    assert values_equal(None, "not stated", 0.01)[0] and values_equal("", None, 0.01)[0]
    ok, why = values_equal(None, "Delaware", 0.01)
    assert not ok and why == "missing on one side"
    assert values_equal(["Bolt Ltd", "Acme"], ["acme", "bolt ltd"], 0.01)[0]  # lists as multisets
    assert not values_equal(["Acme"], ["Acme", "Bolt"], 0.01)[0]
    assert canonical(True) == ("bool", True)


def test_flatten_and_schema_fields() -> None:
    value = {"a": 1, "b": {"c": "x", "d": None}, "e": [{"f": 2}, {"f": 3}], "g": ["p", "q"]}
    assert flatten(value) == {"a": 1, "b.c": "x", "b.d": None, "e[0].f": 2, "e[1].f": 3, "g": ["p", "q"]}
    schema = {"type": "object", "properties": {"a": {"type": "integer"},
                                                "b": {"type": "object", "properties": {"c": {}, "d": {}}}}}
    assert schema_fields(schema) == ["a", "b.c", "b.d"]


def test_cohen_kappa_textbook_example() -> None:
    # Wikipedia's worked example: 50 items, 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> p_o 0.7, p_e 0.5, kappa 0.4
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None  # one label on both sides: undefined
    assert cohen_kappa([]) is None


def test_verdict_follows_the_articles_rule() -> None:
    assert verdict(0.90) == "safe" and verdict(0.8999) == "borderline"
    assert verdict(0.85) == "borderline" and verdict(0.8499) == "try-larger"
    assert verdict(None) is None


def _row(doc: str, task: TaskSpec, answer, status: str = "done", error: str | None = None) -> ResultRow:
    return ResultRow(document=doc, question=task.title, task=task.task, answer=answer, status=status, error=error,
                     prompt_tokens=None, cached_tokens=None, completion_tokens=None, prefill_ms=None, decode_ms=None,
                     is_kv_restored=None, attempts=1, model=None, quantization=None, engine_version=None, paths=[],
                     sha256=[], raw_text=None)


def test_compare_jobs_per_task() -> None:
    ask = TaskSpec("question", question="What is the notice period?")
    extract = TaskSpec("extract", schema={"type": "object", "properties": {"law": {}, "days": {}, "date": {}}})
    classify = TaskSpec("classify", labels=("nda", "lease"))
    tasks = [ask, extract, classify]
    cand = [_row("a.md", ask, "60 days"), _row("a.md", extract, {"law": "Delaware", "days": 60, "date": "1 May 2024"}),
            _row("a.md", classify, "nda"),
            _row("b.md", ask, "30 days"), _row("b.md", extract, None, "failed", "invalid answer"),
            _row("b.md", classify, "lease"),
            _row("c.md", ask, None, "failed", "x"), _row("c.md", extract, {"law": "Texas", "days": "90", "date": None}),
            _row("c.md", classify, "lease")]
    ref = [_row("a.md", ask, "60 days."), _row("a.md", extract, {"law": "delaware", "days": 60.0, "date": "2024-05-01"}),
           _row("a.md", classify, "nda"),
           _row("b.md", ask, "45 days"), _row("b.md", extract, {"law": "Ohio", "days": 10, "date": None}),
           _row("b.md", classify, "nda"),
           _row("c.md", ask, None, "failed", "y"), _row("c.md", extract, {"law": "Texas", "days": 90, "date": None}),
           _row("c.md", classify, "lease")]
    reports, comparisons = compare_jobs(tasks, cand, ref, min_f1=0.5, num_tolerance=0.01)
    q, x, c = reports
    assert (q.num_compared, q.num_agreed, q.num_failed_both) == (2, 1, 1)  # c.md failed on both sides: not compared
    assert q.verdict == "try-larger" and q.exact_match == pytest.approx(0.5)
    assert (x.num_compared, x.num_agreed, x.num_failed_one_side) == (9, 6, 1)  # b.md: 3 fields lost on one side
    assert x.field_agreement == {"law": pytest.approx(2 / 3), "days": pytest.approx(2 / 3), "date": pytest.approx(2 / 3)}
    assert (c.num_compared, c.num_agreed) == (3, 2)
    # labels (nda,nda) (lease,nda) (lease,lease): p_o 2/3, p_e (1/3*2/3 + 2/3*1/3) = 4/9, kappa = (2/3-4/9)/(5/9) = 0.4
    assert c.kappa == pytest.approx(0.4)
    assert overall(reports) == pytest.approx((1 / 2 + 6 / 9 + 2 / 3) / 3)
    assert sum(not i.is_agreed for i in comparisons) == 1 + 3 + 1
