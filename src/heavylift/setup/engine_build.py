"""Build llama.cpp (vendored in the llama-cpp-python sdist) with CMake, or adopt a user's build.

The result is recorded in a manifest (version, backend, flags, binaries) that everything else
reads through `current_engine()`.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from heavylift import paths
from heavylift.errors import SetupError
from heavylift.setup.cpu_probe import extra_cpu_flags
from heavylift.setup.downloads import fetch_pypi
from heavylift.setup.file_lock import file_lock

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
LLAMA_CPP_COMMIT = "0c1e570"  # ggml-org/llama.cpp@0c1e57098, per the sdist's CHANGELOG.md
TARGETS = ["llama-server", "llama-quantize", "llama-bench", "llama-perplexity", "llama-imatrix",
           "llama-fit-params", "ggml-rpc-server"]
# Flags our engine command lines rely on; a user binary lacking them is too old.
REQUIRED_FLAGS = ["--slot-save-path", "--n-cpu-moe", "--jinja", "--metrics"]


@dataclass
class EngineBuild:
    """The build manifest: which llama.cpp, which backend, where the binaries are."""

    kind: str  # "built" (by heavylift) or "external" (the user's)
    version: str
    backend: str  # cpu | cuda | metal | unknown
    bin_dir: str
    flags: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)  # optional flags the binary accepts
    server_path: str = ""  # set when the user's binary is not named llama-server
    build_seconds: float | None = None
    built_at: str = ""

    def binary(self, name: str) -> Path:
        if name == "llama-server" and self.server_path:
            return Path(self.server_path)
        path = Path(self.bin_dir) / name
        if not path.exists():
            raise SetupError(f"{name} is not in {self.bin_dir}; run `heavylift setup` to (re)build the engine")
        return path

    @classmethod
    def from_dict(cls, data: dict) -> EngineBuild:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def manifest_path() -> Path:
    return paths.engine_dir() / "current.json"


def current_engine() -> EngineBuild:
    """The engine to run: HEAVYLIFT_LLAMA_SERVER if set, else what `heavylift setup` recorded."""
    from heavylift import settings

    override = settings.get("HEAVYLIFT_LLAMA_SERVER")
    if override:
        return inspect_binary(override)
    if not manifest_path().exists():
        raise SetupError("no llama.cpp engine yet; run `heavylift setup` (or pass --llama-server PATH)")
    return EngineBuild.from_dict(json.loads(manifest_path().read_text()))


def _write_manifest(build: EngineBuild) -> None:
    tmp = manifest_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(build), indent=2))
    tmp.replace(manifest_path())


def _has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def detect_backend(requested: str = "auto", say: Callable[[str], None] = print) -> tuple[str, list[str]]:
    """CUDA when a toolkit and a GPU are found, Metal on macOS, CPU otherwise; with CMake flags."""
    if requested == "metal" or (requested == "auto" and platform.system() == "Darwin"):
        return "metal", ["-DGGML_METAL=ON"]
    nvcc = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)
    if requested == "cuda" or (requested == "auto" and nvcc):
        if not nvcc:
            raise SetupError("--backend cuda needs the CUDA toolkit (nvcc); install it or use --backend cpu")
        gpu = _has_nvidia_gpu()
        if requested == "auto" and not gpu:
            say("engine: CUDA toolkit found but no NVIDIA GPU (nvidia-smi -L); building for CPU "
                "(force a CUDA build with --backend cuda)")
            return "cpu", []
        # "native" needs a visible GPU; without one, build for Ampere, Ada and Hopper.
        archs = "native" if gpu else "80;86;89;90"
        return "cuda", ["-DGGML_CUDA=ON", f"-DCMAKE_CUDA_COMPILER={nvcc}", f"-DCMAKE_CUDA_ARCHITECTURES={archs}"]
    return "cpu", []


def build_engine(say: Callable[[str], None] = print, force: bool = False, backend: str = "auto") -> EngineBuild:
    """Download, verify, extract and build; each step is skipped when already done."""
    with file_lock(paths.engine_dir() / "setup.lock", say):
        backend, backend_flags = detect_backend(backend, say)
        build_dir = paths.engine_dir() / f"build-{LLAMA_CPP_COMMIT}-{backend}"
        done_marker = build_dir / "heavylift-build.json"
        if done_marker.exists() and not force:
            build = EngineBuild.from_dict(json.loads(done_marker.read_text()))
            if all((Path(build.bin_dir) / t).exists() for t in TARGETS):
                say(f"engine: llama.cpp {build.version} ({build.backend}) already built in {build.bin_dir}")
                _write_manifest(build)
                return build
        say(f"engine: building llama.cpp {LLAMA_CPP_COMMIT} for backend {backend.upper()}")
        source = _extract_source(say)
        flags = ["-G", "Ninja"] if shutil.which("ninja") else []
        flags += ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_RPC=ON", "-DLLAMA_CURL=OFF",
                  "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON",
                  "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_NUMBER=0",
                  f"-DLLAMA_BUILD_COMMIT={LLAMA_CPP_COMMIT}", *backend_flags]
        cpu_fixes = extra_cpu_flags()
        if cpu_fixes:
            say("engine: this CPU lists AMX but faults on it (VM/sandbox); building without AMX")
            flags += cpu_fixes
        log_path = build_dir.parent / f"build-{LLAMA_CPP_COMMIT}-{backend}.log"
        build_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(log_path, "w") as log:
            _run_logged(["cmake", "-S", str(source), "-B", str(build_dir), *flags], log, log_path, say, "configure")
            jobs = str(os.cpu_count() or 2)
            _run_logged(["cmake", "--build", str(build_dir), "-j", jobs, "--target", *TARGETS],
                        log, log_path, say, "compile")
        build = EngineBuild(kind="built", version=f"{LLAMA_CPP_COMMIT} (llama-cpp-python {LLAMA_CPP_PYTHON_VERSION})",
                            backend=backend, bin_dir=str(build_dir / "bin"), flags=flags,
                            features=["--fit"], build_seconds=round(time.monotonic() - started, 1),
                            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        done_marker.write_text(json.dumps(asdict(build), indent=2))
        _write_manifest(build)
        say(f"engine: built in {build.build_seconds:.0f}s -> {build.bin_dir}")
        return build


def _extract_source(say: Callable[[str], None]) -> Path:
    source = paths.engine_dir() / f"llama.cpp-{LLAMA_CPP_COMMIT}"
    if (source / "CMakeLists.txt").exists():
        return source
    sdist = fetch_pypi(f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}",
                       f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz", SDIST_SHA256, sdist=True, say=say)
    say("engine: extracting vendor/llama.cpp ...")
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
    tmp = source.with_name(source.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        members = []
        for m in tar.getmembers():
            if m.name.startswith(prefix) and m.name != prefix.rstrip("/"):
                m.name = m.name[len(prefix):]
                # The vendored tree's .git points at the sdist's missing submodule dir, which
                # would make CMake's git probe pick up whatever repository encloses the cache.
                if m.name != ".git":
                    members.append(m)
        tar.extractall(tmp, members=members, filter="data")
    tmp.replace(source)  # atomic: an interrupted extract is redone, never half-used
    return source


_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]")


def _run_logged(cmd: list[str], log, log_path: Path, say: Callable[[str], None], step: str) -> None:
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last_pct = -10
    assert proc.stdout
    for line in proc.stdout:
        log.write(line)
        m = _PROGRESS.match(line)
        if m:
            pct = 100 * int(m[1]) // int(m[2])
            if pct >= last_pct + 10:
                say(f"engine: {step} {pct}% ({m[1]}/{m[2]} steps)")
                last_pct = pct
    if proc.wait() != 0:
        log.flush()
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        say("\n".join(["--- last lines of the build log ---", *tail, "---"]))
        raise SetupError(f"engine {step} failed (exit {proc.returncode}); full log: {log_path}")


def inspect_binary(path: Path) -> EngineBuild:
    """Check a user's llama-server runs, read its version, and that it is new enough."""
    path = path.expanduser()
    if not path.exists():
        raise SetupError(f"llama-server not found at {path}; give the path of a built llama-server")
    if not os.access(path, os.X_OK) or path.is_dir():
        raise SetupError(f"{path} is not executable; chmod +x it or give the right file")
    try:
        version = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
        usage = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupError(f"{path} does not run ({e}); rebuild it or run `heavylift setup` without --llama-server") from None
    text = version.stdout + version.stderr
    # "version: 4567 (abc1234)" in older builds, "version: 0.5.0-dev (build 0, commit abc)" in newer.
    m = re.search(r"version:\s*(\S+)\s*\(([^)]*)\)", text)
    if not m:
        raise SetupError(f"{path} did not report a llama.cpp version; is it really llama-server?")
    help_text = usage.stdout + usage.stderr
    missing = [f for f in REQUIRED_FLAGS if f not in help_text]
    if missing:
        raise SetupError(f"{path} ({m[1]}) is too old: it lacks {', '.join(missing)}; update llama.cpp or run `heavylift setup`")
    backend = "cuda" if "CUDA" in text else "metal" if "Metal" in text else "cpu" if text else "unknown"
    return EngineBuild(kind="external", version=f"{m[1]} ({m[2]})", backend=backend,
                       bin_dir=str(path.parent), server_path=str(path.resolve()), features=[f for f in ("--fit",) if f in help_text])


def adopt_binary(path: Path, say: Callable[[str], None] = print) -> EngineBuild:
    build = inspect_binary(path)
    with file_lock(paths.engine_dir() / "setup.lock", say):
        _write_manifest(build)
    say(f"engine: using your llama-server {build.version} from {build.bin_dir}")
    return build
