#!/usr/bin/env bash
# One command: install everything (Python deps, llama.cpp engine, default model) and run the tests.
#   bash scripts/test.sh            the full suite (what CI runs)
#   bash scripts/test.sh --fast     only the tests that need no engine or model (seconds; no engine build)
#   bash scripts/test.sh -m fuzz    the long fuzz runs; other arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
if [ "${1:-}" = "--fast" ]; then
  shift
  ruff check src tests bench
  exec python -m pytest -q -m "not engine and not slow and not fuzz" -p no:cacheprovider "$@"
fi
heavylift setup
ruff check src tests bench
python -m pytest -q "$@"
