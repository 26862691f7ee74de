"""Tasks and result formats on the real engine: an extraction the grammar cannot fully enforce
(retried once, then failed with the raw text kept), --together, --split, summarize and classify,
and `results --format csv|md --out`."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields
from pathlib import Path

from heavylift.analyze.results import ResultRow

from .jobutils import attempts_by_unit, cli, results, store, write_docs

# llama.cpp's json-schema-to-grammar enforces `minimum`/`maximum` only for "type": "integer", not
# "number" (grammars/README.md, "known limitations"), so the engine's grammar lets any number through
# and only our jsonschema validation sees that 30 (the document's payment term) is above 14.
SHORT_TERMS_SCHEMA = {
    "type": "object",
    "properties": {"supplier": {"type": "string"}, "payment_days": {"type": "number", "minimum": 0, "maximum": 14}},
    "required": ["supplier", "payment_days"],
}


def test_invalid_extraction_retried_once_then_failed_with_raw_text(installed, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", 2)  # payment due in 30 and 31 days
    schema = tmp_path / "short_terms.json"
    schema.write_text(json.dumps(SHORT_TERMS_SCHEMA))
    proc = cli("analyze", *map(str, docs), "--ask", "Who is the supplier?", "--task", "extract", "--schema", str(schema),
               "--max-tokens", "40", "--name", "badextract")
    assert proc.returncode == 0, proc.stderr[-2000:]  # the job is done; the failures are in its results
    rows = results("badextract")
    questions = [r for r in rows if r["task"] == "question"]
    extractions = [r for r in rows if r["task"] == "extract"]
    assert len(questions) == 2 and all(r["status"] == "done" and r["answer"] for r in questions)
    assert len(extractions) == 2
    for row in extractions:
        assert row["status"] == "failed" and row["attempts"] == 2 and row["answer"] is None
        assert row["error"].startswith("invalid answer: does not match the schema at payment_days: ")
        raw = json.loads(row["raw_text"])  # the grammar made well-formed JSON of the right shape...
        assert set(raw) == {"supplier", "payment_days"} and raw["payment_days"] > 14  # ...that breaks maximum
    s = store()
    job = s.get("badextract")
    attempts = attempts_by_unit(s, job.id)
    extract_ids = [r[0] for r in s.db.execute("SELECT id FROM units WHERE job_id=? AND task='extract'", (job.id,))]
    assert all(attempts[i] == ["invalid", "invalid"] for i in extract_ids)  # the first try and one retry
    assert sorted(len(o) for o in attempts.values()) == [1, 1, 2, 2]


def test_together_one_prompt_with_named_documents(installed, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", 2)
    proc = cli("analyze", *map(str, docs), "--together", "--ask", "Which contract has the shortest payment term?",
               "--max-tokens", "8", "--name", "together")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 document(s), 1 task(s), 1 unit(s)" in proc.stderr
    [row] = results("together")
    assert row["document"] == "contract0.md + contract1.md" and row["status"] == "done" and row["answer"]
    assert row["paths"] == [str(p) for p in docs] and len(row["sha256"]) == 2
    s = store()
    [subject] = s.subjects(s.get("together").id)
    body = subject["body"]  # what the prompt holds: each document delimited and named, in order
    first, second = body.index('<document name="contract0.md"'), body.index('<document name="contract1.md"')
    assert first < body.index("</document>") < second and body.count("</document>") == 2
    assert "Company 0" in body[first:second] and "Company 1" in body[second:]
    assert row["prompt_tokens"] > 2 * 40  # both documents went into the one prompt


def test_split_map_reduces_a_document_that_does_not_fit(installed, tmp_path: Path) -> None:
    lease = tmp_path / "lease.txt"
    clauses = [f"Clause {i}. The tenant shall pay {100 + i} euros for item {i} on the {i}th of each month." for i in range(1, 31)]
    lease.write_text("Residential lease between Ann Landlord and Bob Tenant.\n" + "\n".join(clauses) + "\n")
    small = write_docs(tmp_path / "docs", 1)[0]
    proc = cli("analyze", str(lease), str(small), "--split", "--ask", "Who is the tenant?", "--ctx", "512",
               "--max-tokens", "8", "--name", "split")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lease.txt: " in proc.stderr and " parts" in proc.stderr
    rows = {r["document"]: r for r in results("split")}
    assert set(rows) == {"lease.txt", "contract0.md"}  # map units are not results; the reduce answer is
    assert all(r["status"] == "done" and r["answer"] for r in rows.values())
    s = store()
    job = s.get("split")
    subjects = s.subjects(job.id)
    parent = next(x for x in subjects if x["name"] == "lease.txt")
    parts = [x for x in subjects if x["parent_id"] == parent["id"]]
    assert len(parts) >= 2 and parent["num_prompt_tokens"] + 8 > 512  # it did not fit
    assert all(p["num_prompt_tokens"] + 8 <= 512 for p in parts)  # every part does (engine-measured)
    assert [p["chunk_index"] for p in parts] == list(range(1, len(parts) + 1))
    text = "".join(p["body"] for p in parts)
    assert all(clause in text for clause in clauses)  # nothing dropped: the chunks cover the document
    roles = dict(s.db.execute("SELECT role, count(*) FROM units WHERE job_id=? AND status='done' GROUP BY role",
                              (job.id,)).fetchall())
    assert roles == {"map": len(parts), "reduce": 1, "answer": 1}
    assert not any(x["parent_id"] for x in subjects if x["name"].startswith("contract0.md"))


def test_summarize_classify_and_result_formats(installed, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", 2)
    proc = cli("analyze", *map(str, docs), "--task", "summarize", "--task", "classify",
               "--labels", "contract,lease,paper", "--max-tokens", "12", "--name", "tasks")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = results("tasks")
    assert [(r["document"], r["task"], r["question"]) for r in rows] == [
        ("contract0.md", "summarize", "summarize"), ("contract0.md", "classify", "classify"),
        ("contract1.md", "summarize", "summarize"), ("contract1.md", "classify", "classify")]
    assert all(r["status"] == "done" for r in rows)
    assert all(isinstance(r["answer"], str) and len(r["answer"]) > 10 for r in rows if r["task"] == "summarize")
    assert all(r["answer"] in ("contract", "lease", "paper") for r in rows if r["task"] == "classify")

    out = tmp_path / "out.csv"
    proc = cli("results", "tasks", "--format", "csv", "--out", str(out))
    assert proc.returncode == 0 and proc.stdout == "" and f"wrote {out}" in proc.stderr
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(table[0]) == [f.name for f in fields(ResultRow)] and len(table) == 4
    for got, want in zip(table, rows, strict=True):
        assert (got["document"], got["answer"], int(got["prompt_tokens"])) == (
            want["document"], want["answer"], want["prompt_tokens"])
        assert json.loads(got["paths"]) == want["paths"]

    md = cli("results", "tasks", "--format", "md")
    lines = md.stdout.splitlines()
    assert md.returncode == 0 and lines[0].startswith("| document | question | answer | status |") and len(lines) == 6
    assert all(ln.startswith("| contract") and ln.count(" | ") >= 6 for ln in lines[2:])
    assert rows[1]["answer"] in lines[3]
    out_md = tmp_path / "out.md"
    assert cli("results", "tasks", "--format", "md", "--out", str(out_md)).returncode == 0
    assert out_md.read_text() == md.stdout

    bad = cli("results", "tasks", "--format", "csv", "--out", str(tmp_path / "no" / "such" / "dir.csv"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
