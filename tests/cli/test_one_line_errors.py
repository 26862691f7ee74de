"""Bad input is one line, exit 2, no usage block and no traceback, for every command's options."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize("argv", [
    ["nope"], ["models"], ["models", "info"], ["plan", "qwen3-30b-a3b", "-c", "lots"], ["serve", "--port", "0"],
    ["serve", "--port", "70000"], ["ask", "q", "--timeout", "nan"], ["ask", "q", "-fa", "sometimes"],
    ["plan", "qwen3-30b-a3b", "-ngl", "-1"], ["analyze"], ["stop"], ["ps", "--bogus"], ["results"],
    ["analyze", "x.txt", "--ask", "q", "--name", "../../etc/x"], ["plan", "/no/such/dir/"],
])
def test_bad_input_is_one_line(argv: list[str]) -> None:
    proc = run_cli(*argv, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("heavylift") and "error:" in lines[0] and "Traceback" not in proc.stderr
