"""`--json` on every command that prints a result, and what it prints parses."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heavylift.cli import build_parser
from tests.test_settings import run_main

# Commands whose stdout is not a result to describe, with the reason.
NO_JSON = {
    "results": "its stdout is the data itself, in the --format asked for",
    "analyze": "prints the results file's path; the results are `heavylift results JOB`",
    "resume": "as analyze",
    "serve": "its ready line is the URL",
    "worker": "runs in the foreground; its ready line is the HOST:PORT a `serve --workers` takes",
}


def _leaf_commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_leaf_commands(sub, f"{prefix} {name}".strip()) or {f"{prefix} {name}".strip(): sub})
    return found


def test_every_command_that_prints_a_result_has_json() -> None:
    missing = []
    for name, sub in _leaf_commands(build_parser([])).items():
        if name.split()[0] in NO_JSON:
            continue
        if not any("--json" in a.option_strings for a in sub._actions):
            missing.append(name)
    assert not missing, f"add --json to: {missing}"


def test_models_add_upcycle_rm_json(capsys, tmp_path: Path) -> None:
    from tests.plan.tiny_gguf import TinyShape, write_tiny_llama

    dense = write_tiny_llama(tmp_path / "dense.gguf", TinyShape(n_vocab=512, n_embd=64, n_ff=128, n_head=2,
                                                                n_head_kv=1, n_layer=1))
    code, out, _ = run_main(capsys, "models", "add", str(dense), "--name", "json-tiny", "--json")
    added = json.loads(out)
    assert code == 0 and added["name"] == "json-tiny" and added["path"] == str(dense.resolve())
    code, out, _ = run_main(capsys, "models", "upcycle", "json-tiny", "--out", str(tmp_path / "moe.gguf"), "--json")
    assert code == 0 and json.loads(out)["file_bytes"] == (tmp_path / "moe.gguf").stat().st_size
    code, out, _ = run_main(capsys, "models", "rm", "json-tiny", "--json")
    assert code == 0 and json.loads(out)["name"] == "json-tiny"


def test_cancel_json(capsys) -> None:
    from heavylift.analyze.jobs import JobConfig, JobStore
    from heavylift.analyze.prompts import TaskSpec

    JobStore().create("json-cancel", JobConfig(tasks=[TaskSpec("question", question="q?")]), [], [])
    code, out, _ = run_main(capsys, "cancel", "json-cancel", "--json")
    assert code == 0 and json.loads(out) == {"job": "json-cancel", "status": "cancelled", "units_cancelled": 0,
                                             "units_done": 0}


def test_setup_and_ask_json(installed) -> None:
    from tests.conftest import run_cli

    setup = run_cli("setup", "--json")
    data = json.loads(setup.stdout)
    assert data["engine"]["bin_dir"] and data["model"]["name"] == "smollm2-135m-instruct"
    ask = run_cli("ask", "Name a colour.", "--max-tokens", "6", "--json", timeout=300)
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert answer["answer"] and answer["completion_tokens"] > 0 and answer["prompt_tokens"] > 0
