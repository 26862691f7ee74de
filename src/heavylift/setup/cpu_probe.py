"""Does this CPU really execute what it advertises? Some VMs and sandboxes list AMX in
/proc/cpuinfo (so `-march=native` compiles ggml's AMX kernels) but fault on the first tile
instruction: llama-server then dies with SIGILL in `tinygemm_kernel_amx` (seen on our dev
machines). We compile and run a tiny AMX program; if it does not run, AMX is turned off.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

_AMX_TEST = r"""
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
    if (syscall(SYS_arch_prctl, 0x1023, 18)) return 2;   /* ARCH_REQ_XCOMP_PERM, XTILEDATA */
    unsigned char cfg[64]; memset(cfg, 0, sizeof cfg);
    cfg[0] = 1; cfg[16] = 64; cfg[48] = 16;                /* palette 1, tile 0: 16 rows x 64 B */
    _tile_loadconfig(cfg);
    _tile_zero(0);
    _tile_release();
    return 0;
}
"""


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def is_amx_broken() -> bool:
    """True when the CPU advertises AMX but a tile instruction does not run here."""
    if "amx_tile" not in cpu_flags():
        return False
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "amx.c", Path(tmp) / "amx"
        src.write_text(_AMX_TEST)
        built = subprocess.run([cc, "-O1", "-mamx-tile", str(src), "-o", str(exe)], capture_output=True)
        if built.returncode != 0:
            return True  # compiler cannot emit AMX: keep it off too
        try:
            return subprocess.run([str(exe)], capture_output=True, timeout=10).returncode != 0
        except subprocess.TimeoutExpired:
            return True


def extra_cpu_flags() -> list[str]:
    """CMake flags that keep -march=native from using instructions that fault here."""
    if is_amx_broken():
        # Explicit -mno-* win over what -march=native implies, whatever their order.
        no_amx = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        return [f"-DCMAKE_C_FLAGS={no_amx}", f"-DCMAKE_CXX_FLAGS={no_amx}"]
    return []
