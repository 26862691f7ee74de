"""llama.cpp's command-line tools (llama-quantize, llama-imatrix, llama-perplexity) and the HF
converter as child processes: one builder per command line, each run in its own process group with
its output streamed line by line to a parser (for progress), its log kept, the log's tail shown
when it fails, and the whole group stopped when we are interrupted."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from heavylift.errors import HeavyliftError


class ToolError(HeavyliftError):
    """A llama.cpp tool exited with an error."""


def _die_with_parent() -> None:
    """Linux: the tool gets SIGTERM if heavylift itself is SIGKILLed (no orphan keeps writing)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_tool(cmd: list[str], log_path: Path, on_line: Callable[[str], None] | None = None,
             env: dict[str, str] | None = None, what: str | None = None) -> list[str]:
    """Run `cmd` to completion; every output line (stdout and stderr; a carriage return ends a
    line too, for tqdm bars) goes to the log and to `on_line`. Returns the last 200 lines.
    Raises ToolError with the most telling log line when the tool fails."""
    what = what or Path(cmd[0]).name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=_die_with_parent,
                                    env={**os.environ, **(env or {})})
        except OSError as e:
            raise ToolError(f"cannot run {cmd[0]}: {e.strerror}; run `heavylift setup`") from None
        try:
            assert proc.stdout is not None
            buf = b""
            while chunk := proc.stdout.read1(65536):
                buf += chunk
                *lines, buf = re.split(rb"\r\n|\r|\n", buf)
                for raw in lines:
                    _take(raw.decode("utf-8", "replace"), log, tail, on_line)
            if buf:
                _take(buf.decode("utf-8", "replace"), log, tail, on_line)
            code = proc.wait()
        except BaseException:  # Ctrl-C / SIGTERM (as KeyboardInterrupt) / a parser bug: stop the tool first
            stop_group(proc)
            raise
    if code != 0:
        raise ToolError(f"{what} failed (exit {code}): {telling_line(tail)} (log: {log_path})")
    return tail


def _take(line: str, log, tail: list[str], on_line: Callable[[str], None] | None) -> None:
    if not line.strip():
        return
    log.write(line + "\n")
    tail.append(line)
    if len(tail) > 200:
        del tail[:100]
    if on_line:
        on_line(line)


def stop_group(proc: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """SIGTERM the tool's process group, SIGKILL it after timeout_s."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def telling_line(lines: list[str]) -> str:
    """The last error-looking line, else the last line."""
    keys = ("error", "failed", "exception", "not supported", "unable", "invalid")
    picked = [ln for ln in lines if any(k in ln.lower() for k in keys)]
    line = (picked or lines or ["(no output)"])[-1].strip()
    return re.sub(r"^\d+\.\d+\.\d+\.\d+ [IWE] ", "", line)[:300]  # llama.cpp's log timestamp prefix


class Progress:
    """'what 40% (109/272 tensors), 2.1 s, ETA 3.2 s' at most every interval_s, and when done."""

    def __init__(self, say: Callable[[str], None], label: str, unit: str, interval_s: float = 2.0):
        self.say, self.label, self.unit, self.interval_s = say, label, unit, interval_s
        self.started = time.monotonic()
        self._last = self.started

    def update(self, fraction: float, done: int | None = None, total: int | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        elapsed = now - self.started
        eta = f"ETA {elapsed * (1 - fraction) / fraction:.0f} s" if 0 < fraction < 1 else "ETA unknown"
        count = f" ({done}/{total} {self.unit})" if done is not None and total else ""
        self.say(f"{self.label} {100 * fraction:.0f}%{count}, {elapsed:.0f} s, {eta}")

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


# -- command lines: one builder each ------------------------------------------------------------
def quantize_command(binary: Path, src: Path, out: Path, ftype: str, *, imatrix: Path | None,
                     allow_requantize: bool) -> list[str]:
    """tools/quantize/quantize.cpp usage: [--allow-requantize] [--imatrix F] in.gguf out.gguf TYPE."""
    cmd = [str(binary)]
    if allow_requantize:
        cmd.append("--allow-requantize")
    if imatrix:
        cmd += ["--imatrix", str(imatrix)]
    return [*cmd, str(src), str(out), ftype]


def imatrix_command(binary: Path, model: Path, text: Path, out: Path, *, ctx: int, max_chunks: int | None) -> list[str]:
    """tools/imatrix: -m MODEL -f TEXT -o OUT (GGUF format) -c CTX [--chunks N]."""
    cmd = [str(binary), "-m", str(model), "-f", str(text), "-o", str(out), "-c", str(ctx)]
    if max_chunks:
        cmd += ["--chunks", str(max_chunks)]
    return cmd


def perplexity_command(binary: Path, model: Path, *, ctx: int, logits: Path, text: Path | None = None,
                       max_chunks: int | None = None) -> list[str]:
    """tools/perplexity: with `text`, score it and save the reference log-probs to `logits`
    (--kl-divergence-base); without, compare against those saved (--kl-divergence)."""
    cmd = [str(binary), "-m", str(model), "-c", str(ctx), "--kl-divergence-base", str(logits)]
    if text is not None:
        cmd += ["-f", str(text)]
        if max_chunks:
            cmd += ["--chunks", str(max_chunks)]
    else:
        cmd.append("--kl-divergence")
    return cmd


def convert_command(python: str, script: Path, folder: Path, out: Path, outtype: str) -> list[str]:
    """convert_hf_to_gguf.py MODEL_DIR --outfile OUT --outtype f16|bf16|f32."""
    return [python, str(script), str(folder), "--outfile", str(out), "--outtype", outtype]
