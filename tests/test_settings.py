"""The environment-variable table: one meaning each, read in one module, checked, documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from heavylift import settings
from heavylift.cli import build_parser, main
from heavylift.cli.env_defaults import option_names

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "heavylift"


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_docs_table_is_generated_from_the_code() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    found = re.search(r"<!-- generated: settings.table_markdown\(\) -->\n(.*?)<!-- end generated -->", doc, re.S)
    assert found, "docs/configuration.md lost its generated-table markers"
    assert found.group(1) == settings.table_markdown(), (
        "docs/configuration.md is out of date: paste settings.table_markdown() between the markers")


def test_every_listed_option_exists_and_names_its_variable() -> None:
    options = option_names(build_parser([]))  # every subcommand imported
    for var in settings.VARIABLES:
        for key in var.options:
            assert key in options, f"{var.name} lists {key!r}, which no command has"
            assert f"[env: {var.name}]" in (options[key].help or ""), key
    # and no option names a variable the table does not give it
    for key, action in options.items():
        named = re.findall(r"\[env: (\w+)\]", action.help or "")
        assert named in ([], [settings.BY_OPTION[key].name] if key in settings.BY_OPTION else []), key


def test_one_meaning_per_variable() -> None:
    names = [v.name for v in settings.VARIABLES]
    assert len(names) == len(set(names))
    assert not set(settings.RETIRED) & set(names)
    # the variables that once had two meanings
    assert "HEAVYLIFT_OUT" not in settings.BY_NAME and "HEAVYLIFT_NAME" not in settings.BY_NAME
    # the key serve requires and the key clients send are two settings (heavylift/engines/credentials.py)
    from heavylift.engines import credentials

    assert credentials.SERVE_KEY_VAR in settings.BY_NAME and set(credentials.CLIENT_KEY_VARS) <= set(settings.BY_NAME)
    assert credentials.SERVE_KEY_VAR not in credentials.CLIENT_KEY_VARS


def test_only_settings_reads_the_environment() -> None:
    """Passing the environment on to a child (`{**os.environ, ...}`, `os.environ.copy()`) is fine;
    reading a variable anywhere but heavylift/settings.py is not."""
    reading = re.compile(r"os\.environ\s*(\.get\b|\[|\.setdefault\b|\.pop\b)|os\.getenv\b|\benviron\.get\b")
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "settings.py" and path.parent == SRC:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if reading.search(line):
                if re.search(r"os\.environ\[[^\]]+\]\s*=[^=]", line):
                    continue  # setting a variable for a child process or a later read is not reading one
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "read these through heavylift.settings:\n" + "\n".join(offenders)


@pytest.mark.parametrize("var, value, words", [
    ("HEAVYLIFT_DEBUG", "maybe", "is not a yes/no value"),
    ("HEAVYLIFT_CTX", "lots", "is not a whole number"),
    ("HEAVYLIFT_PARALLEL", "0", "must be greater than zero"),
    ("HEAVYLIFT_PORT", "70000", "is not a port"),
    ("HEAVYLIFT_KV_TYPE", "q3", "must be one of"),
    ("HEAVYLIFT_TIMEOUT", "nan", "greater than zero"),
])
def test_invalid_values_are_refused_naming_the_variable(capsys, monkeypatch, var, value, words) -> None:
    monkeypatch.setenv(var, value)
    code, out, err = run_main(capsys, "plan", "--list")
    assert code == 2 and not out
    assert err.count("\n") == 1 and var in err and words in err, err


@pytest.mark.parametrize("var, words", [
    ("HEAVYLIFT_OUT", "no longer read"), ("HEAVYLIFT_ASK", "no longer read"),
    ("HEAVYLIFT_TOGETHER", "not a heavylift variable"), ("HEAVYLIFT_DATADIR", "did you mean HEAVYLIFT_DATA_DIR"),
])
def test_unknown_and_retired_variables_are_refused(capsys, monkeypatch, var, words) -> None:
    monkeypatch.setenv(var, "x")
    code, out, err = run_main(capsys, "jobs")
    assert code == 2 and err.count("\n") == 1 and var in err and words in err, err


def test_a_secret_is_never_echoed(monkeypatch) -> None:
    var = settings.BY_NAME["HEAVYLIFT_API_KEY"]
    assert var.is_secret
    monkeypatch.setitem(settings.BY_NAME, "HEAVYLIFT_API_KEY",
                        settings.Variable(var.name, var.meaning, settings.parse_positive_int, is_secret=True))
    monkeypatch.setenv("HEAVYLIFT_API_KEY", "sk-very-secret")
    with pytest.raises(settings.SettingError) as e:
        settings.get("HEAVYLIFT_API_KEY")
    assert "sk-very-secret" not in str(e.value) and "(hidden)" in str(e.value)


def test_variables_set_defaults_and_the_command_line_wins(capsys, monkeypatch) -> None:
    monkeypatch.setenv("HEAVYLIFT_CTX", "8192")
    monkeypatch.setenv("HEAVYLIFT_KV_TYPE", "q8_0")
    monkeypatch.setenv("HEAVYLIFT_HW", "1x rtx-4090, 64GB")
    code, out, err = run_main(capsys, "plan", "qwen3-30b-a3b", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert code == 0 and plan["ctx"] == 8192 and plan["kv_type"] == "q8_0" and plan["hardware"] == "1x rtx-4090, 64GB"
    code, out, _ = run_main(capsys, "plan", "qwen3-30b-a3b", "--json", "-c", "4096", "-ctk", "f16", "-ctv", "f16")
    plan = json.loads(out)
    assert plan["ctx"] == 4096 and plan["kv_type"] == "f16"


def test_empty_value_is_unset(monkeypatch) -> None:
    monkeypatch.setenv("HEAVYLIFT_CTX", "  ")
    assert settings.get("HEAVYLIFT_CTX", 123) == 123


def test_paths_follow_the_variables(monkeypatch, tmp_path) -> None:
    from heavylift import paths

    monkeypatch.delenv("HEAVYLIFT_DATA_DIR")
    monkeypatch.delenv("HEAVYLIFT_CACHE_DIR", raising=False)
    monkeypatch.setenv("HEAVYLIFT_HOME", str(tmp_path / "home"))
    assert paths.data_dir() == tmp_path / "home" / "data"
    assert paths.cache_dir() == tmp_path / "home" / "cache"
    monkeypatch.setenv("HEAVYLIFT_DATA_DIR", str(tmp_path / "d"))
    assert paths.data_dir() == tmp_path / "d"


@pytest.mark.parametrize("argv, words", [
    (["-ctk", "q8_0"], "alone leaves the other half"),
    (["-ctk", "q8_0", "-ctv", "q4_0"], "differ"),
    (["--kv-type", "f16", "-ctv", "q8_0", "-ctk", "q8_0"], "differ"),
    (["-fa", "maybe"], "invalid choice"),
    (["-ngl", "-3"], "give a number of layers"),
])
def test_llama_cpp_spellings_refuse_what_they_cannot_mean(capsys, argv, words) -> None:
    code, out, err = run_main(capsys, "plan", "qwen3-30b-a3b", "--hw", "1x rtx-4090, 64GB", *argv)
    assert code == 2 and words in err, err


def test_llama_cpp_spellings_mean_the_same(capsys) -> None:
    base = ["plan", "qwen3-30b-a3b", "--hw", "1x rtx-4090, 64GB", "--json"]
    theirs = json.loads(run_main(capsys, *base, "-c", "8192", "-np", "2", "-ctk", "q8_0", "-ctv", "q8_0",
                                 "-fa", "on", "-ngl", "20")[1])
    ours = json.loads(run_main(capsys, *base, "--ctx", "8192", "--parallel", "2", "--kv-type", "q8_0",
                               "--flash-attn", "on", "--n-gpu-layers", "20")[1])
    pasted = json.loads(run_main(capsys, *base, "--", "-c", "8192", "-np", "2", "-ctk", "q8_0", "-ctv", "q8_0",
                                 "-fa", "on", "-ngl", "20")[1])
    for key in ("ctx", "n_parallel", "kv_type", "n_gpu_layers", "total_bytes", "llama_server_args"):
        assert ours[key] == theirs[key] == pasted[key], key


def test_engine_flags_before_and_after_the_separator_conflict() -> None:
    import argparse

    from heavylift.cli.common import engine_flag_args
    from heavylift.errors import UsageError

    args = argparse.Namespace(kv_type=None, kv_type_is_given=False, cache_type_k="q8_0", cache_type_v="q8_0",
                              flash_attn="on", n_gpu_layers="all", extra_args=[])
    assert engine_flag_args(args) == ["-ctk", "q8_0", "-ctv", "q8_0", "-fa", "on", "-ngl", "all"]
    args.extra_args = ["--flash-attn", "off"]
    with pytest.raises(UsageError, match="-fa/--flash-attn given both"):
        engine_flag_args(args)
