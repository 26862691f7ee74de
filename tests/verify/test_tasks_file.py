"""The --tasks file: both formats, and every error names the file and line (CLI: one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heavylift.errors import UsageError
from heavylift.verify.tasks_file import read_tasks
from tests.cli_errors import one_line_error
from tests.conftest import REPO, run_cli


def test_line_format(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text(json.dumps({"type": "object", "properties": {"law": {"type": "string"}}}))
    path = tmp_path / "tasks.txt"
    path.write_text("# my contracts\n\nask: What is the notice period?\nASK : Who signs?\n"
                    "extract: schema.json\nclassify: nda, lease , nda, services\nsummarize\n")
    tasks = read_tasks(path)
    assert [t.task for t in tasks] == ["question", "question", "extract", "classify", "summarize"]
    assert tasks[0].question == "What is the notice period?" and tasks[1].question == "Who signs?"
    assert tasks[2].schema == {"type": "object", "properties": {"law": {"type": "string"}}}
    assert tasks[3].labels == ("nda", "lease", "services")


def test_json_format(tmp_path: Path) -> None:
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([{"ask": "Who?"}, {"classify": ["a", "b"]}, {"extract": {"type": "object"}},
                                {"summarize": True}], indent=1))
    assert [t.task for t in read_tasks(path)] == ["question", "classify", "extract", "summarize"]


@pytest.mark.parametrize("text, where, what", [
    ("ask: fine\n\nextrct: schema.json\n", "line 3", "not a task"),
    ("classify: onlyone\n", "line 1", "at least two labels"),
    ("ask:\n", "line 1", "needs a question"),
    ("extract: missing.json\n", "line 1", "cannot read the schema"),
    ("ask: ok\nextract: bad.json\n", "line 2", "bad.json line 1 is not valid JSON"),
    ("extract: notaschema.json\n", "line 1", "not a valid JSON Schema"),
    ('[\n {"ask": "a"},\n {"ask": "b",}\n]\n', "line 3", "not valid JSON"),
    ('[\n {"ask": "a"},\n {"asks": "b"}\n]\n', "line 3", "task 2 must be one of"),
    ("# nothing\n", "", "has no tasks"),
])
def test_errors_name_the_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "notaschema.json").write_text(json.dumps({"type": 5}))
    path = tmp_path / "tasks.txt"
    path.write_text(text)
    with pytest.raises(UsageError) as e:
        read_tasks(path)
    assert f"{path} {where}".strip() in str(e.value) and what in str(e.value)


def test_cli_reports_the_bad_line_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "tasks.txt"
    path.write_text("ask: ok\nwhat: is this\n")
    proc = run_cli("verify", "--candidate", "default", "--reference", "default", "--docs",
                   str(REPO / "samples" / "documents"), "--tasks", str(path))
    assert "line 2" in one_line_error(proc)
