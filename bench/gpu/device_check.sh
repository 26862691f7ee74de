#!/usr/bin/env bash
# The GPU check of issues 7 and 12, in one call on a lent GPU machine (bench/gpu/README.md):
# build the CUDA engine through heavylift's own setup, write the clone models (make_kit.py,
# fill_gguf.py), then, while time lasts, in this order: llama-bench at several placements,
# llama-server's own placement and buffer lines at the planner's flags, heavylift bench against
# llama-bench. Everything lands in $OUT: summary.txt, llama_bench.jsonl, logs.tgz.
# Needs .gpukit (make_kit.py's headers + llama-src.tar.xz) and .whl (heavylift's dependencies).
set -u
OUTD=${OUT:-/tmp/gpu-out}; mkdir -p "$OUTD"
DEADLINE=${DEADLINE_S:-560}
W=/tmp/gpuwork; LOG=$W/logs; M=/dev/shm/m; mkdir -p "$LOG" "$M"
t0=$(date +%s)
left() { echo $(( DEADLINE - ($(date +%s) - t0) )); }
say() { echo "[$(( $(date +%s) - t0 ))s] $*"; }
pack() { tar czf "$OUTD/logs.tgz" -C "$W" logs 2>/dev/null; }
exec > >(tee "$OUTD/summary.txt") 2>&1

say "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit,pcie.link.gen.max,pcie.link.width.max --format=csv
nvidia-smi > "$LOG/nvidia-smi.txt" 2>&1; lscpu > "$LOG/lscpu.txt" 2>&1
grep -m1 "model name" /proc/cpuinfo; echo "cpus $(nproc)"; free -g | sed -n 2p; df -h /dev/shm | tail -1
export PATH=$PATH:/usr/local/cuda/bin
nvcc --version | tail -1; cmake --version | head -1

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || say "wheels failed"
export PYTHONPATH=/tmp/site:$PWD/src:$PWD PYTHONUNBUFFERED=1 HEAVYLIFT_HOME=/tmp/hl
mkdir -p /tmp/hl/cache/engine && tar xJf .gpukit/llama-src.tar.xz -C /tmp/hl/cache/engine

( for s in ${KIT_MODELS:-smollm2-clone moe4x-clone llama-3.1-8b-Q4_K_M qwen3-30b-a3b-Q4_K_M}; do
    python3 bench/gpu/fill_gguf.py ".gpukit/$s.head" ".gpukit/$s.json" "$M/$s.gguf" && echo "filled $s at $(( $(date +%s) - t0 ))s"
  done ) > "$LOG/fill.log" 2>&1 &
FILL=$!

say "build (heavylift's own engine build, --backend cuda)"
if [ -n "${TEST_BIN:-}" ]; then rc=0; export HEAVYLIFT_LLAMA_SERVER=$TEST_BIN/llama-server  # a dry run on a CPU build
else
timeout 430 python3 -c "from heavylift.setup.engine_build import build_engine; build_engine(backend='cuda')" \
  > "$LOG/build.txt" 2>&1
rc=$?; fi; grep -E "^engine:" "$LOG/build.txt" | tail -4
cp /tmp/hl/cache/engine/build-0c1e570-cuda.log "$LOG/" 2>/dev/null
BIN=${TEST_BIN:-/tmp/hl/cache/engine/build-0c1e570-cuda/bin}
if [ $rc -ne 0 ] || [ ! -x "$BIN/llama-bench" ]; then say "BUILD FAILED rc=$rc"; tail -30 "$LOG/build.txt"; pack; exit 1; fi
wait $FILL; cat "$LOG/fill.log"
"$BIN/llama-server" --version 2>&1 | tail -2

# llama-bench: name, model, flags; most important first (they run while time is left)
lb() {
  local name=$1 model=$2; shift 2
  if [ "$(left)" -lt 40 ]; then say "skip $name (time)"; return; fi
  say "llama-bench $name: $*"
  timeout $(( $(left) - 10 )) "$BIN/llama-bench" -m "$M/$model.gguf" -fa 1 -r 3 -o jsonl "$@" \
    > "$LOG/lb-$name.jsonl" 2> "$LOG/lb-$name.err"
  sed "s/^{/{\"check\": \"$name\", /" "$LOG/lb-$name.jsonl" >> "$OUTD/llama_bench.jsonl"
  python3 -c "import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l); print(f\"  n_prompt={r['n_prompt']:5} n_gen={r['n_gen']:4} depth={r.get('n_depth',0):5} ngl={r['n_gpu_layers']} ncmoe={r.get('n_cpu_moe')} threads={r['n_threads']}  {r['avg_ts']:10.1f} +- {r['stddev_ts']:.1f} tok/s\")" "$LOG/lb-$name.jsonl"
  pack
}
lb smollm2-full smollm2-clone -ngl 99 -p 512 -n 128 -d 0,4096
lb qwen30b-full qwen3-30b-a3b-Q4_K_M -ngl 99 -p 512 -n 128 -d 0,4096
lb moe4x-full moe4x-clone -ngl 99 -p 512 -n 128 -d 0,4096
lb llama8b-full llama-3.1-8b-Q4_K_M -ngl 99 -p 512 -n 128 -d 0,4096
lb qwen30b-ncmoe48 qwen3-30b-a3b-Q4_K_M -ngl 99 -ncmoe 48 -p 512 -n 128
lb qwen30b-ncmoe24 qwen3-30b-a3b-Q4_K_M -ngl 99 -ncmoe 24 -p 512 -n 128
lb smollm2-ngl16 smollm2-clone -ngl 16 -p 512 -n 128
lb moe4x-ncmoe30 moe4x-clone -ngl 99 -ncmoe 30 -p 512 -n 128
lb llama8b-ngl20 llama-3.1-8b-Q4_K_M -ngl 20 -p 512 -n 128
lb smollm2-ngl0 smollm2-clone -ngl 0 -p 512 -n 128

# llama-server's own placement and buffer lines (-v prints load_tensors' per-layer assignment)
srv() {
  local name=$1 model=$2; shift 2
  if [ "$(left)" -lt 30 ]; then say "skip server $name (time)"; return; fi
  say "llama-server $name: $*"
  timeout 60 "$BIN/llama-server" -m "$M/$model.gguf" --host 127.0.0.1 --port 18123 -v "$@" > "$LOG/srv-$name.log" 2>&1 &
  local p=$!
  for _ in $(seq 500); do grep -q "listening on http\|exiting due to\|failed to" "$LOG/srv-$name.log" && break; sleep 0.1; done
  kill $p 2>/dev/null; wait $p 2>/dev/null
  grep -E "layer +(0|1|29|30|47|48) assigned|buffer size|offloaded" "$LOG/srv-$name.log" | head -20
  pack
}
srv smollm2-ngl30 smollm2-clone -c 8192 -np 1 -b 2048 -ub 512 -fa on -ngl 30 --fit off
srv smollm2-ngl31 smollm2-clone -c 8192 -np 1 -b 2048 -ub 512 -fa on -ngl 31 --fit off
srv qwen30b-plan qwen3-30b-a3b-Q4_K_M -c 32768 -np 1 -b 2048 -ub 512 -fa on -ngl 49 --fit off
srv qwen30b-ncmoe24 qwen3-30b-a3b-Q4_K_M -c 32768 -np 1 -b 2048 -ub 512 -fa on -ngl 99 -ncmoe 24 --fit off

if [ "$(left)" -gt 100 ]; then
  say "heavylift plan --hw local"
  python3 -m heavylift plan "$M/smollm2-clone.gguf" --hw local 2>&1 | grep -E "^GPU|^CPU|decode|prefill|llama-server" | head -8
  say "heavylift bench vs llama-bench (bench/bench_vs_llama_bench.py)"
  HEAVYLIFT_DATA_DIR=/tmp/hl/data timeout $(( $(left) - 5 )) python3 bench/bench_vs_llama_bench.py \
    --model "$M/smollm2-clone.gguf" --rounds 2 --repeats 3 > "$LOG/bench_vs_lb.txt" 2>&1
  tail -25 "$LOG/bench_vs_lb.txt"
fi
say "done"; pack
