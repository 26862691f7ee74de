"""`setup --llama-server PATH`: the user's own engine is checked before it is used."""

from __future__ import annotations

from tests.conftest import run_cli


def _last_line(proc) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_not_executable(installed, tmp_path):
    fake = tmp_path / "llama-server"
    fake.write_text("not a program")
    assert "not executable" in _last_line(run_cli("setup", "--llama-server", str(fake), "--skip-model"))


def test_too_old(installed, tmp_path):
    # A stand-in for an old build: answers --version like llama.cpp but lacks the flags we use.
    old = tmp_path / "llama-server"
    old.write_text("#!/bin/sh\necho 'version: 1000 (abcdef0)' >&2\necho 'usage: -m FILE --port N'\n")
    old.chmod(0o755)
    assert "too old" in _last_line(run_cli("setup", "--llama-server", str(old), "--skip-model"))


def test_users_own_binary_is_adopted(installed, engine_bin_dir, tmp_path):
    env = {"HEAVYLIFT_CACHE_DIR": str(tmp_path)}  # keep the shared manifest untouched
    proc = run_cli("setup", "--llama-server", str(engine_bin_dir / "llama-server"), "--skip-model", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "using your llama-server" in proc.stderr
