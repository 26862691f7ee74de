"""This machine, measured once: memory bandwidth (STREAM triad over all cores), physical cores,
SIMD flags, the peak compute they imply, and a fingerprint that names the hardware.

The triad is a small C kernel compiled at run time with OpenMP (STREAM's `a[i] = b[i] + s*c[i]`,
best of several passes, arrays 4x the last-level cache and at least 128 MiB each, counted as
STREAM counts: 24 bytes per element, no write-allocate traffic). Without a C compiler with
OpenMP, numpy does the same pass in one thread per core and counts the bytes it really moves.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from heavylift.setup.cpu_probe import cpu_flags

# SIMD features worth naming (those ggml's CPU backend has kernels for).
SIMD_FLAGS = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
              "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "sve", "sve2"]

_TRIAD_C = r"""
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    int reps = atoi(argv[2]);
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
    if (!a || !b || !c) return 1;
    #pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) { a[i] = 0.0; b[i] = 1.0; c[i] = 2.0; }  /* first touch by the thread that uses it */
    double best = 1e30;
    for (int k = 0; k < reps; k++) {
        double t = omp_get_wtime();
        #pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
        t = omp_get_wtime() - t;
        if (t < best) best = t;
    }
    printf("%.9f %d %.1f\n", best, omp_get_max_threads(), a[n / 2]);
    return 0;
}
"""


@dataclass
class MachineInfo:
    fingerprint: str
    cpu_model: str
    physical_cores: int
    logical_cores: int
    simd: list[str]
    ram_bytes: int
    triad_bandwidth_bps: float  # best STREAM triad pass, all cores
    triad_method: str
    max_ghz: float | None
    ghz_source: str
    flops_per_cycle: int | None  # FP32 FMA lanes x 2 x FMA units per core (assumed from SIMD flags)
    peak_flops: float | None  # physical cores x max GHz x flops_per_cycle
    sgemm_flops: float | None  # measured: numpy float32 matmul, all cores
    gpus: list[str] = field(default_factory=list)
    measured_at: str = ""
    load_1m: float | None = None  # load average when measured: a busy machine measures low
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MachineInfo:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def describe(self) -> list[str]:
        peak = (f"{self.peak_flops / 1e9:.0f} GFLOP/s FP32 peak ({self.physical_cores} cores x {self.max_ghz:.2f} GHz x "
                f"{self.flops_per_cycle} FLOP/cycle, {self.ghz_source})" if self.peak_flops else "peak compute unknown")
        return [f"CPU {self.cpu_model}: {self.physical_cores} physical / {self.logical_cores} logical cores; "
                f"SIMD {' '.join(self.simd) or 'none found'}",
                f"memory {self.ram_bytes / 2**30:.1f} GiB; STREAM triad {self.triad_bandwidth_bps / 1e9:.1f} GB/s "
                f"({self.triad_method})",
                peak + (f"; numpy sgemm measured {self.sgemm_flops / 1e9:.0f} GFLOP/s" if self.sgemm_flops else ""),
                *([f"GPUs: {', '.join(self.gpus)}"] if self.gpus else []),
                f"fingerprint {self.fingerprint}, measured {self.measured_at}" + busy_note(self.load_1m, self.logical_cores)]


def identity() -> dict:
    """What names this hardware (the fingerprint's inputs): no measurement, so it is cheap."""
    cpuinfo = _read("/proc/cpuinfo")
    model = _first(r"^model name\s*:\s*(.+)$", cpuinfo) or _sysctl("machdep.cpu.brand_string") or platform.processor() or "unknown"
    flags = cpu_flags()
    if not flags and platform.machine() in ("arm64", "aarch64") and platform.system() == "Darwin":
        flags = {"asimd", "asimddp"}  # every Apple silicon core has NEON and the dot-product extension
    return {"cpu_model": model.strip(), "physical_cores": physical_cores(cpuinfo), "logical_cores": os.cpu_count() or 1,
            "simd": [f for f in SIMD_FLAGS if f in flags], "ram_bytes": _ram_bytes(), "gpus": _gpus()}


def fingerprint(ident: dict) -> str:
    key = {**ident, "ram_bytes": round(ident["ram_bytes"] / 2**30)}  # GiB: the kernel's reserve varies by a few MiB
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def measure(say=lambda msg: None) -> MachineInfo:
    """Measure this machine now (a few seconds)."""
    ident = identity()
    notes: list[str] = []
    cores = ident["physical_cores"]
    say(f"bench: measuring this machine once ({cores} physical cores): STREAM triad, numpy sgemm")
    load = load_average()
    bw, method = triad(cores, notes)
    ghz, ghz_source = max_ghz()
    fpc, fpc_note = flops_per_cycle(ident["simd"], platform.machine())
    notes.append(fpc_note)
    peak = cores * ghz * 1e9 * fpc if ghz and fpc else None
    return MachineInfo(fingerprint=fingerprint(ident), triad_bandwidth_bps=bw, triad_method=method, max_ghz=ghz,
                       ghz_source=ghz_source, flops_per_cycle=fpc, peak_flops=peak, sgemm_flops=sgemm(),
                       measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), notes=notes,
                       load_1m=load, **ident)


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def busy_note(load: float | None, cores: int) -> str:
    """Said beside anything timed while other work ran (more than a quarter of the cores busy)."""
    if load is None or load <= 0.25 * cores:
        return ""
    return f" (the machine was busy: load average {load:.1f} on {cores} cores, so figures read low)"


def physical_cores(cpuinfo: str | None = None) -> int:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; sysctl on macOS; else logical cores."""
    text = cpuinfo if cpuinfo is not None else _read("/proc/cpuinfo")
    pairs, phys = set(), "0"
    for line in text.splitlines():
        if line.startswith("physical id"):
            phys = line.split(":", 1)[1].strip()
        elif line.startswith("core id"):
            pairs.add((phys, line.split(":", 1)[1].strip()))
    if pairs:
        return len(pairs)
    value = _sysctl("hw.physicalcpu")
    return int(value) if value and value.isdigit() else (os.cpu_count() or 1)


def max_ghz() -> tuple[float | None, str]:
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        return int(path.read_text()) / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", _read("/proc/cpuinfo"), re.M)]
    if mhz:
        return max(mhz) / 1000, "/proc/cpuinfo cpu MHz (current clock; no cpufreq here, e.g. a VM)"
    hz = _sysctl("hw.cpufrequency_max")
    if hz and hz.isdigit():
        return int(hz) / 1e9, "sysctl hw.cpufrequency_max"
    return None, "clock unknown"


def flops_per_cycle(simd: list[str], machine: str) -> tuple[int | None, str]:
    """FP32 FLOP per cycle per core: 2 (FMA) x lanes x FMA units, assuming two FMA units per core
    (true of the Intel and AMD desktop/server cores since Haswell / Zen 2; some parts have one
    512-bit unit, which halves the AVX-512 figure)."""
    if "avx512f" in simd:
        return 64, "peak assumes 2 x 512-bit FMA units per core (some Intel parts have one: then half)"
    if "avx2" in simd and "fma" in simd:
        return 32, "peak assumes 2 x 256-bit FMA units per core (AVX2 + FMA)"
    if "avx" in simd:
        return 16, "peak assumes AVX without FMA: 8-lane add + 8-lane multiply per cycle"
    if machine in ("arm64", "aarch64") or "asimd" in simd:
        return 16, "peak assumes 2 x 128-bit NEON FMA units per core (Apple P-cores have 4: then double)"
    return None, "peak compute unknown for this CPU's SIMD flags"


def triad(threads: int, notes: list[str]) -> tuple[float, str]:
    n = _triad_elements()
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc:
        with tempfile.TemporaryDirectory(prefix="heavylift-triad-") as tmp:
            src, exe = Path(tmp) / "triad.c", Path(tmp) / "triad"
            src.write_text(_TRIAD_C)
            built = subprocess.run([cc, "-O3", "-fopenmp", str(src), "-o", str(exe)], capture_output=True, text=True)
            if built.returncode == 0:
                env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_PROC_BIND": "spread"}
                out = subprocess.run([str(exe), str(n), "10"], capture_output=True, text=True, env=env, timeout=300)
                if out.returncode == 0:
                    best_s, used, _ = out.stdout.split()
                    return 24 * n / float(best_s), (f"C + OpenMP, {used} threads, 3 x {n * 8 / 2**20:.0f} MiB arrays, "
                                                    "best of 10, 24 B/element")
            notes.append(f"triad: {cc} -fopenmp unavailable ({(built.stderr or '').strip()[:80]}); numpy used instead")
    return _numpy_triad(n, threads), f"numpy, {threads} threads, 3 x {n * 8 / 2**20:.0f} MiB arrays, best of 5, 40 B/element moved"


def _numpy_triad(n: int, threads: int) -> float:
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)

    def part(i: int) -> None:  # numpy releases the GIL inside ufuncs, so the threads run in parallel
        s = slice(bounds[i], bounds[i + 1])
        np.multiply(c[s], 3.0, out=a[s])
        np.add(a[s], b[s], out=a[s])

    best = float("inf")
    for _ in range(5):
        workers = [threading.Thread(target=part, args=(i,)) for i in range(threads)]
        t = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - t)
    return 40 * n / best  # read c, write a, read a, read b, write a


def sgemm() -> float | None:
    """FP32 matmul rate numpy's BLAS reaches on all cores (a measured ceiling beside the theoretical one)."""
    try:
        x = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
        x @ x
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            x @ x
            best = min(best, time.perf_counter() - t)
        return 2 * 2048**3 / best
    except (MemoryError, ValueError):
        return None


def _triad_elements() -> int:
    llc = 0
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            size = (index / "size").read_text().strip()
            llc = max(llc, int(size[:-1]) * {"K": 1024, "M": 2**20}[size[-1]])
        except (OSError, ValueError, KeyError):
            continue
    return max(4 * llc, 128 * 2**20) // 8


def _ram_bytes() -> int:
    total = _first(r"^MemTotal:\s*(\d+)", _read("/proc/meminfo"))
    if total:
        return int(total) * 1024
    value = _sysctl("hw.memsize")
    return int(value) if value and value.isdigit() else 0


def _gpus() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _first(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text, re.M)
    return m.group(1) if m else None


def _sysctl(name: str) -> str | None:
    if not shutil.which("sysctl"):
        return None
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def local_rig(info: MachineInfo):
    """The planner's local rig with what was measured here put in place of its assumptions:
    RAM bandwidth = the triad, cores = physical cores, CPU FLOP/s = the SIMD peak."""
    import dataclasses

    from heavylift.hardware.spec import detect_local

    rig = detect_local()
    notes = [a for a in rig.assumptions if "bandwidth" not in a and "logical cores" not in a]
    return dataclasses.replace(
        rig, description=f"this machine ({info.cpu_model}, measured)", ram_bandwidth_bps=info.triad_bandwidth_bps,
        cpu_cores=info.physical_cores, cpu_flops=info.peak_flops or rig.cpu_flops,
        ram_source=f"measured STREAM triad {info.triad_bandwidth_bps / 1e9:.1f} GB/s ({info.triad_method})",
        assumptions=[*notes, f"CPU: {info.physical_cores} physical cores (measured)"])
