#!/usr/bin/env bash
# One command: install everything (Python deps, llama.cpp engine, default model) and run the
# main job on the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
heavylift setup
heavylift ask "In three sentences: what does heavylift do, and which two commands set it up?" --file README.md --max-tokens 160
