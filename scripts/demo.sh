#!/usr/bin/env bash
# One command: install everything (Python deps, llama.cpp engine, default model) and run the
# main job on the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
heavylift setup
# The main job: analyse the sample contracts and paper with several questions and an extraction
# schema (a durable job; `heavylift resume` finishes it if interrupted), then say where results are.
heavylift analyze samples/documents --questions samples/questions.txt --task extract \
  --schema samples/contract_schema.json --max-tokens 160 --kv-save-min-tokens 512 --name "samples-$(date +%Y%m%d-%H%M%S)"
heavylift jobs
