"""This machine's facts through psutil, the same on Linux and macOS: memory and physical cores.

Per-core speed rates (plan/speed.py) are per physical core: llama.cpp's default thread count is
the number of physical cores (common/common.cpp common_cpu_get_num_math: "hyperthreading isn't
useful for linear algebra"), so counting logical CPUs would overstate a machine by up to 2x.
"""

from __future__ import annotations

import os

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
