#!/usr/bin/env bash
# Create .venv and install heavylift with its test extras. Re-running only reinstalls when
# pyproject.toml changed. Sourced by demo.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "heavylift needs Python 3.11+ ($PY is older); set PYTHON=python3.11" >&2; exit 1; }
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "bootstrap: creating $ROOT/.venv" >&2
  "$PY" -m venv "$ROOT/.venv"
fi
stamp="$ROOT/.venv/.heavylift-installed"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing heavylift and its dependencies into .venv" >&2
  "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[test,plot]"
  echo "$want" > "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
