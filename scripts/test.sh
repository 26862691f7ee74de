#!/usr/bin/env bash
# One command: install everything (Python deps, llama.cpp engine, default model) and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
heavylift setup
ruff check src tests bench
python -m pytest -q "$@"
