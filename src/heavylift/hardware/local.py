"""This machine's facts through psutil, the same on Linux and macOS: memory and physical cores.

Per-core speed rates (plan/speed.py) are per physical core: llama.cpp's default thread count is
the number of physical cores (common/common.cpp common_cpu_get_num_math: "hyperthreading isn't
useful for linear algebra"), so counting logical CPUs would overstate a machine by up to 2x.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil


def total_memory_bytes() -> int:
    """Installed RAM as the OS reports it (psutil: /proc/meminfo MemTotal, sysctl hw.memsize)."""
    return int(psutil.virtual_memory().total)


def physical_cores() -> tuple[int, str]:
    """(physical cores, how they were counted). psutil can fail to see them in some containers:
    then the logical count, said so."""
    physical = psutil.cpu_count(logical=False)
    if physical:
        return physical, "physical cores (psutil)"
    return os.cpu_count() or 1, "logical CPUs (os.cpu_count; physical cores not visible here)"


def _count_cpu_list(text: str) -> int:
    """'0-3,8,10-11' -> 7 (the kernel's cpu list format)."""
    n = 0
    for part in text.strip().split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            n += int(hi) - int(lo) + 1
        elif part:
            n += 1
    return n


def efficiency_cores(sys_root: Path = Path("/sys")) -> tuple[int, str]:
    """(efficiency cores, how they were found): an Intel hybrid CPU's E-cores (the kernel's
    devices/cpu_atom PMU lists them; one thread each), or an Arm big.LITTLE SoC's LITTLE cores (the
    scheduler's cpu_capacity below half the largest). (0, "") where neither applies or /sys is absent."""
    try:
        atom = sys_root / "devices" / "cpu_atom" / "cpus"
        if atom.is_file():
            return _count_cpu_list(atom.read_text()), "Intel E-cores (/sys/devices/cpu_atom/cpus)"
        caps = [int(f.read_text()) for f in sorted((sys_root / "devices" / "system" / "cpu").glob("cpu[0-9]*/cpu_capacity"))]
    except (OSError, ValueError):
        return 0, ""
    if caps and min(caps) < max(caps) / 2:
        return sum(1 for c in caps if c < max(caps) / 2), "Arm LITTLE cores (cpu_capacity below half the largest)"
    return 0, ""
