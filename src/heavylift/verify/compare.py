"""Comparing a candidate's answers with a reference's, task by task.

- extraction: field by field; strings normalised (Unicode NFKC, case, spacing, surrounding
  punctuation), numbers equal within a relative tolerance (so "$1,200" = 1200.0), dates equal as
  dates ("1 March 2024" = "2024-03-01"), lists as multisets, "not stated"/null/"" all as no value;
- classification: label agreement and Cohen's kappa;
- free answers (questions, summaries): token F1 and ROUGE-L F1 over SQuAD-normalised words
  (lowercase, no punctuation or articles), exact match for short answers; an answer agrees when it
  matches exactly, or when its token F1 reaches `min_f1` and it states no other numbers than the
  reference (when both state numbers, the sets must be equal).
A unit that failed on one side only counts as a disagreement; on both sides it is not compared.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SAFE, BORDERLINE, TRY_LARGER = "safe", "borderline", "try-larger"
SAFE_AT, BORDERLINE_AT = 0.90, 0.85  # the articles' rule: >= 90% safe, 85-90% borderline, < 85% try larger
SHORT_WORDS = 5  # answers of at most this many normalised words also get an exact-match score
NO_VALUE = {"", "none", "null", "n/a", "na", "not stated", "not specified", "not mentioned", "unknown", "-"}


@dataclass
class Comparison:
    document: str
    task_index: int
    task: str  # the task's title: the question, or "extract" / "classify" / "summarize"
    field: str | None  # extraction: the field's path
    candidate: Any
    reference: Any
    is_agreed: bool
    detail: str = ""  # why, e.g. "token F1 0.42 < 0.50"


@dataclass
class TaskAgreement:
    index: int
    task: str  # question | summarize | extract | classify
    title: str
    num_compared: int
    num_agreed: int
    agreement: float | None
    verdict: str | None
    num_failed_one_side: int = 0  # counted as disagreements
    num_failed_both: int = 0  # not compared
    token_f1: float | None = None  # free answers: means over the pairs
    rouge_l: float | None = None
    exact_match: float | None = None  # share of short pairs (<= SHORT_WORDS words) matching exactly
    num_short: int = 0
    kappa: float | None = None  # classification (None: undefined, e.g. one label on both sides)
    field_agreement: dict[str, float] = field(default_factory=dict)  # extraction, per field


def verdict(agreement: float | None) -> str | None:
    if agreement is None:
        return None
    return SAFE if agreement >= SAFE_AT else BORDERLINE if agreement >= BORDERLINE_AT else TRY_LARGER


# -- free text -----------------------------------------------------------------------------------
_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’«»—–…")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?")


def normalise_words(text: str) -> list[str]:
    """SQuAD's normalize_answer: lowercase, drop punctuation and articles, split on spaces."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    return _ARTICLES.sub(" ", text.translate(_PUNCT)).split()


def numbers_in(text: str) -> set[float]:
    out = set()
    for m in _NUMBER.finditer(unicodedata.normalize("NFKC", str(text))):
        raw = m[0].replace(",", "")
        try:
            out.add(round(float(raw), 6))
        except ValueError:
            continue
    return out


def token_f1(candidate: list[str], reference: list[str]) -> float:
    if not candidate or not reference:
        return float(candidate == reference)
    common = sum((Counter(candidate) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(candidate), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def rouge_l(candidate: list[str], reference: list[str]) -> float:
    """ROUGE-L F1: longest common subsequence of words (Lin 2004, beta = 1)."""
    if not candidate or not reference:
        return float(candidate == reference)
    prev = [0] * (len(reference) + 1)
    for c in candidate:
        cur = [0]
        for j, r in enumerate(reference, start=1):
            cur.append(prev[j - 1] + 1 if c == r else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


@dataclass
class FreeScore:
    f1: float
    rouge_l: float
    is_exact: bool
    is_short: bool
    is_agreed: bool
    detail: str


def compare_free(candidate: str, reference: str, min_f1: float) -> FreeScore:
    cw, rw = normalise_words(candidate), normalise_words(reference)
    f1, rl = token_f1(cw, rw), rouge_l(cw, rw)
    exact = cw == rw
    short = len(cw) <= SHORT_WORDS and len(rw) <= SHORT_WORDS
    cn, rn = numbers_in(candidate), numbers_in(reference)
    conflict = bool(cn and rn and cn != rn)  # both state numbers, and not the same ones
    agreed = exact or (f1 >= min_f1 and not conflict)
    if exact:
        detail = "exact match"
    elif conflict:
        detail = f"numbers differ ({_nums(candidate)} vs {_nums(reference)}); token F1 {f1:.2f}"
    else:
        detail = f"token F1 {f1:.2f} {'>=' if f1 >= min_f1 else '<'} {min_f1:.2f}, ROUGE-L {rl:.2f}"
    return FreeScore(f1, rl, exact, short, agreed, detail)


def _nums(text: str) -> str:
    values = sorted(numbers_in(text))
    return "{" + ", ".join(f"{v:.0f}" if v.is_integer() else f"{v:g}" for v in values) + "}" if values else "none"


# -- extracted values -------------------------------------------------------------------------------
_MONTHS = {m.lower(): i for i, m in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"], start=1)}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t ].*)?$")
_NUMERIC = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2,4})$")
_MDY = re.compile(r"^([a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$")
_DMY = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?(?: of)? ([a-z]+)\.?,? (\d{4})$")
_NUMBER_VALUE = re.compile(r"^[-+]?[$€£¥]?\s?[-+]?\d[\d,]*(?:\.\d+)?\s?%?$")


def parse_dates(text: str) -> frozenset[dt.date]:
    """The dates a string can mean: one for ISO or month names; two for 03/04/2024 (US and day-first)."""
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).strip().lower())
    found: list[tuple[int, int, int]] = []
    if m := _ISO.match(s):
        found.append((int(m[1]), int(m[2]), int(m[3])))
    elif m := _NUMERIC.match(s):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        y = y + 2000 if y < 100 else y
        found += [(y, a, b), (y, b, a)]
    elif (m := _MDY.match(s)) and m[1] in _MONTHS:
        found.append((int(m[3]), _MONTHS[m[1]], int(m[2])))
    elif (m := _DMY.match(s)) and m[2] in _MONTHS:
        found.append((int(m[3]), _MONTHS[m[2]], int(m[1])))
    dates = set()
    for y, mo, d in found:
        try:
            dates.add(dt.date(y, mo, d))
        except ValueError:
            continue
    return frozenset(dates)


def canonical(value: Any) -> tuple:
    """A comparable form: ("none",), ("bool", b), ("num", x), ("date", {dates}), ("str", s), ("list", (...))."""
    if value is None:
        return ("none",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("num", float(value))
    if isinstance(value, list):
        items = [canonical(v) for v in value if canonical(v) != ("none",)]
        return ("list", tuple(sorted(items, key=repr))) if items else ("none",)
    if isinstance(value, dict):
        return ("str", repr(sorted(value.items())))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    folded = re.sub(r"\s+", " ", text.casefold()).strip(" \t\"'.,;:()[]")
    if folded in NO_VALUE:
        return ("none",)
    if _NUMBER_VALUE.match(folded):
        return ("num", float(re.sub(r"[^\d.+-]", "", folded)))
    dates = parse_dates(text)
    if dates:
        return ("date", dates)
    return ("str", folded)


def values_equal(a: Any, b: Any, num_tolerance: float) -> tuple[bool, str]:
    ca, cb = canonical(a), canonical(b)
    if ca[0] == "num" and cb[0] == "num":
        x, y = ca[1], cb[1]
        ok = abs(x - y) <= num_tolerance * max(abs(x), abs(y)) or x == y
        return ok, "" if ok else f"numbers {x:g} vs {y:g} (tolerance {num_tolerance:.1%})"
    if ca[0] == "date" and cb[0] == "date":
        ok = bool(ca[1] & cb[1])
        return ok, "" if ok else "different dates"
    if ca[0] == "list" and cb[0] == "list" and len(ca[1]) == len(cb[1]):
        ok = all(values_equal_canon(x, y, num_tolerance) for x, y in zip(ca[1], cb[1], strict=True))
        return ok, "" if ok else "lists differ"
    ok = ca == cb
    if ok:
        return True, ""
    if "none" in (ca[0], cb[0]):
        return False, "missing on one side"
    return False, "values differ"


def values_equal_canon(x: tuple, y: tuple, tol: float) -> bool:
    if x[0] == y[0] == "num":
        return abs(x[1] - y[1]) <= tol * max(abs(x[1]), abs(y[1])) or x[1] == y[1]
    if x[0] == y[0] == "date":
        return bool(x[1] & y[1])
    return x == y


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted paths; lists of objects are indexed; lists of plain values stay whole."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or ({prefix: None} if prefix else {})
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix or "(value)": value}


def schema_fields(schema: dict | None, prefix: str = "") -> list[str]:
    """The leaf paths a JSON Schema's object properties name (so a field missing on both sides counts)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    out = []
    for k, sub in schema["properties"].items():
        path = f"{prefix}.{k}" if prefix else k
        out += schema_fields(sub, path) or [path]
    return out


# -- kappa -------------------------------------------------------------------------------------------
def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' labels: (p_o - p_e) / (1 - p_e); None when p_e = 1 (undefined)."""
    n = len(pairs)
    if n == 0:
        return None
    p_o = sum(a == b for a, b in pairs) / n
    ca, cb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    p_e = sum(ca[label] * cb[label] for label in set(ca) | set(cb)) / (n * n)
    if p_e >= 1:
        return None
    return (p_o - p_e) / (1 - p_e)
