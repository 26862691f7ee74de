"""Fetching pinned packages from PyPI with the user's own pip (so mirrors and certs apply)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from heavylift import paths
from heavylift.errors import SetupError


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_pypi(requirement: str, filename: str, sha256: str, sdist: bool = False,
               say: Callable[[str], None] = print) -> Path:
    """Download `requirement` (no dependencies) into the cache and check its hash.

    Already there with the right hash: nothing is downloaded (setup is safe to re-run).
    """
    folder = paths.cache_dir() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    if target.exists() and sha256_file(target) == sha256:
        return target
    say(f"downloading {requirement} from PyPI ...")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-d", str(folder), requirement]
    cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not target.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SetupError(f"could not download {requirement} from PyPI ({last}); check your network or pip config")
    digest = sha256_file(target)
    if digest != sha256:
        target.unlink()
        raise SetupError(f"{filename} has sha256 {digest[:16]}..., expected {sha256[:16]}...; the download was altered, retry")
    return target
