"""No command overwrites a file it did not write without --force, and none is left half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from heavylift import outputs
from heavylift.errors import UsageError
from tests.test_settings import run_main


def test_write_text_refuses_foreign_files_and_replaces_its_own(tmp_path: Path) -> None:
    target = tmp_path / "user.csv"
    target.write_text("the user's data\n")
    with pytest.raises(UsageError, match="exists and heavylift did not write it"):
        outputs.write_text(target, "ours", force=False)
    assert target.read_text() == "the user's data\n"
    outputs.write_text(target, "ours", force=True)
    assert target.read_text() == "ours" and outputs.is_ours(target)
    outputs.write_text(target, "ours again", force=False)  # our own, unchanged: a re-run may replace it
    target.write_text("edited by hand")
    with pytest.raises(UsageError):
        outputs.write_text(target, "ours", force=False)
    assert target.read_text() == "edited by hand"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user.csv"]  # no temporary left behind


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with outputs.replacing(target, force=False, flag="--out") as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, words", [("folder", "is a folder"), ("missing/x.csv", "does not exist")])
def test_bad_targets(tmp_path: Path, where: str, words: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(UsageError, match=words):
        outputs.check_writable(tmp_path / where, False, "--out")


def test_results_out_needs_force_over_a_foreign_file(capsys, tmp_path: Path) -> None:
    from heavylift.analyze.jobs import JobConfig, JobStore
    from heavylift.analyze.prompts import TaskSpec

    JobStore().create("outputs-test", JobConfig(tasks=[TaskSpec("question", question="q?")]), [], [])
    csv = tmp_path / "mine.csv"
    csv.write_text("precious\n")
    code, _, err = run_main(capsys, "results", "outputs-test", "--format", "csv", "--out", str(csv))
    assert code == 2 and err.count("\n") == 1 and "--force" in err and csv.read_text() == "precious\n"
    assert run_main(capsys, "results", "outputs-test", "--format", "csv", "--out", str(csv), "--force")[0] == 0
    assert csv.read_text() != "precious\n"
    assert run_main(capsys, "results", "outputs-test", "--format", "csv", "--out", str(csv))[0] == 0  # ours now


def test_upcycle_out_never_overwrites_a_users_file(capsys, tmp_path: Path) -> None:
    from tests.plan.tiny_gguf import TinyShape, write_tiny_llama

    dense = write_tiny_llama(tmp_path / "dense.gguf", TinyShape(n_vocab=512, n_embd=64, n_ff=128, n_head=2,
                                                                n_head_kv=1, n_layer=1))
    csv = tmp_path / "results.csv"
    csv.write_text("a,b\n1,2\n")
    code, _, err = run_main(capsys, "models", "upcycle", str(dense), "--out", str(csv))
    assert code == 2 and "--force" in err and csv.read_text() == "a,b\n1,2\n"
    out = tmp_path / "moe.gguf"
    assert run_main(capsys, "models", "upcycle", str(dense), "--out", str(out))[0] == 0
    assert run_main(capsys, "models", "upcycle", str(dense), "--out", str(out))[0] == 0  # its own file


def test_plan_plot_never_overwrites_a_users_file(capsys, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG not ours")
    argv = ["plan", "qwen3-30b-a3b", "--hw", "1x rtx-4090, 64GB", "--plot", str(png)]
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and not out and "--force" in err and png.read_bytes() == b"\x89PNG not ours"
    assert run_main(capsys, *argv, "--force")[0] == 0 and png.read_bytes().startswith(b"\x89PNG\r\n")
    assert run_main(capsys, *argv)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
