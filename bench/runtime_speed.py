"""Default model speed as the engine reports it, and the supervisor's restart time after SIGKILL.

Run: .venv/bin/python bench/runtime_speed.py   (after `heavylift setup`)
Prints llama-server's own timings (prompt_ms / predicted_ms) for a ~1,500-token prompt, median of
3 runs with the prompt cache off, and the time from SIGKILL of the engine to /health ready again.
"""

from __future__ import annotations

import os
import signal
import statistics
import time

from heavylift.engines.launch import local_engine
from heavylift.engines.supervisor import Supervisor

PROMPT = " ".join(f"Clause {i}: the supplier shall deliver the goods within {i % 30 + 1} days." for i in range(100))


def main() -> None:
    engine = local_engine("default", ctx_size=4096)
    supervisor = Supervisor(engine)
    supervisor.start()
    try:
        client = engine.client
        for label, prompt in (("short", "Write a limerick about a cat."), ("long", PROMPT + "\nSummarise.")):
            n_prompt = len(client.tokenize(prompt))
            prefill, decode = [], []
            for _ in range(3):
                r = client.chat([{"role": "user", "content": prompt}], max_tokens=128, temperature=0,
                                cache_prompt=False, ignore_eos=True)
                prefill.append(r.prompt_tps)
                decode.append(r.decode_tps)
            print(f"{label} prompt ({n_prompt} tokens), 128 generated, {os.cpu_count()} cores, cache_prompt=false, "
                  f"median of 3: prefill_tps {statistics.median(prefill):6.1f}  decode_tps {statistics.median(decode):6.1f}"
                  "   (engine timings; llama-server's default flash attention)")
        restarts = []
        for _ in range(3):
            before = supervisor.num_restarts
            os.kill(engine.pid, signal.SIGKILL)
            killed = time.monotonic()
            while supervisor.num_restarts == before:
                time.sleep(0.02)
            while not client.is_healthy():
                time.sleep(0.02)
            restarts.append(time.monotonic() - killed)
        print(f"restart_s    {statistics.median(restarts):8.2f}   (SIGKILL -> /health ready, median of 3; "
              f"includes the supervisor's 0.5 s first backoff)")
    finally:
        supervisor.stop()


if __name__ == "__main__":
    main()
