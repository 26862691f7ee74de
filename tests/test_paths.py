"""Names that become paths cannot leave their folder: one validator, used by every store."""

from __future__ import annotations

from pathlib import Path

import pytest

from heavylift import paths
from heavylift.errors import UsageError
from tests.test_settings import run_main

BAD_NAMES = ["../../../../tmp/x", "..", "a/b", "a\\b", "/etc/passwd", ".hidden", "-rf", "", "a\0b", "x" * 129,
             "a..b", "tab\there", "new\nline", "~user", "C:evil", "名/字"]
GOOD_NAMES = ["q3-contracts", "job-20250101-120000", "Qwen3-235B-A22B.Q3_K_M", "v1.2+moe@home", "verträge", "x" * 128]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError) as e:
        paths.check_name(name, "--name")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_pass_and_stay_inside(name: str, tmp_path: Path) -> None:
    assert paths.check_name(name, "--name") == name
    assert paths.inside(tmp_path, name, "--name", ".jsonl").parent == tmp_path


def test_job_store_refuses_a_name_that_leaves_the_data_folder(tmp_path: Path) -> None:
    from heavylift.analyze.jobs import JobConfig, JobStore
    from heavylift.analyze.prompts import TaskSpec

    with pytest.raises(UsageError, match="cannot be used"):
        JobStore().create("../../../../tmp/x", JobConfig(tasks=[TaskSpec("question", question="q?")]), [], [])
    with pytest.raises(UsageError):
        paths.results_file("../escape")


def test_analyze_refuses_the_name_before_any_work(capsys, tmp_path: Path, data_dir: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    target = tmp_path / "escaped"
    code, out, err = run_main(capsys, "analyze", str(doc), "--ask", "q?", "--name", f"../../../../{target}")
    assert code == 2 and err.count("\n") == 1 and "cannot be used" in err, err
    assert not target.exists() and not list(tmp_path.glob("escaped*"))
    from heavylift.analyze.jobs import JobStore

    assert all(".." not in j.name for j in JobStore().list())


def test_models_add_refuses_a_path_name(capsys, tmp_path: Path) -> None:
    from tests.plan.tiny_gguf import TinyShape, write_tiny_llama

    gguf = write_tiny_llama(tmp_path / "tiny.gguf", TinyShape(n_vocab=512, n_embd=64, n_ff=128, n_head=2,
                                                               n_head_kv=1, n_layer=1))
    code, _, err = run_main(capsys, "models", "add", str(gguf), "--name", "../../evil", "--copy")
    assert code == 2 and "model name '../../evil' cannot be used" in err
    assert not (paths.cache_dir() / "evil").exists()
