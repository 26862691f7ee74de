"""Hugging Face folder -> 16-bit GGUF with the pinned llama.cpp source's own convert_hf_to_gguf.py
(the one that matches our engine), run by this environment's Python. The converter imports torch
and transformers (AutoConfig, AutoTokenizer) and, for SentencePiece vocabularies, sentencepiece and
protobuf: large packages we install into this environment on first use only (the `convert` extra)."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from heavylift.errors import ModelError, SetupError
from heavylift.models.llama_tools import Progress, convert_command, run_tool

# As llama.cpp's requirements/requirements-convert_hf_to_gguf.txt (+ _legacy_llama.txt) at the pinned
# commit, except torch: its 2.11.0 pin becomes 2.13.0, the CPU wheel this project's machines carry.
# Keep in step with the `convert` extra in pyproject.toml (a test checks).
CONVERT_REQUIREMENTS = ["torch==2.13.0", "transformers==4.57.6", "sentencepiece>=0.1.98,<0.3.0",
                        "protobuf>=4.21.0,<5.0.0"]
_IMPORT_NAMES = {"torch": "torch", "transformers": "transformers", "sentencepiece": "sentencepiece",
                 "protobuf": "google.protobuf"}
# get_model_architecture (conversion/base.py): these top-level architectures win over text_config's.
_TOP_LEVEL_WINS = ("StepVLForConditionalGeneration", "Sarashina2VisionForCausalLM",
                   "Exaone4_5_ForConditionalGeneration", "Step3p7ForConditionalGeneration",
                   "KimiK3ForConditionalGeneration")


@dataclass
class HFFolder:
    path: Path
    config: dict
    architecture: str
    dtype: str | None  # torch_dtype / dtype from config.json

    @property
    def outtype(self) -> str:
        """The intermediate GGUF's type: bf16 weights stay bf16 (no rounding), anything else f16."""
        return "bf16" if self.dtype == "bfloat16" else "f16"


def source_dir() -> Path:
    from heavylift.paths import engine_dir
    from heavylift.setup.engine_build import LLAMA_CPP_COMMIT

    path = engine_dir() / f"llama.cpp-{LLAMA_CPP_COMMIT}"
    if not (path / "convert_hf_to_gguf.py").is_file():
        raise SetupError(f"the llama.cpp source ({path}) has no convert_hf_to_gguf.py; run `heavylift setup`")
    return path


def supported_architectures(src: Path | None = None) -> set[str]:
    """The converter's TEXT_MODEL_MAP keys, read from conversion/__init__.py without running it
    (so an unsupported folder is refused before torch is installed)."""
    init = (src or source_dir()) / "conversion" / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "TEXT_MODEL_MAP" and node.value is not None:
            return set(ast.literal_eval(node.value))
    raise SetupError(f"{init} has no TEXT_MODEL_MAP; the converter's layout changed")


def architecture_of(config: dict) -> str | None:
    """conversion/base.py get_model_architecture, for text models."""
    arches = config.get("architectures") or []
    arch = arches[0] if arches else None
    if arch is None and "ssm_cfg" in config:
        arch = config["ssm_cfg"].get("layer", "Mamba") + "ForCausalLM"
    if arch in _TOP_LEVEL_WINS:
        return arch
    text_arches = (config.get("text_config") or {}).get("architectures")
    return text_arches[0] if text_arches else arch


def check_folder(path: Path) -> HFFolder:
    """A Hugging Face model folder the converter can take, or a ModelError saying why not."""
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{path} has no config.json, so it is not a Hugging Face model folder; give the folder "
                         "with config.json, the *.safetensors weights and the tokenizer files, or a .gguf")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{config_path} is not valid JSON ({e}); fix or re-download it") from None
    arch = architecture_of(config)
    if arch is None:
        raise ModelError(f"{config_path} names no architecture (\"architectures\": [...]); the converter needs one")
    supported = supported_architectures()
    if arch not in supported:
        close = sorted(a for a in supported if a.lower()[:6] == arch.lower()[:6])[:5]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise ModelError(f"architecture {arch!r} ({config_path}) is not supported by llama.cpp's converter at the "
                         f"pinned version{hint}; it converts {len(supported)} architectures")
    has_weights = any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin")) or any(path.glob("consolidated*.safetensors"))
    if not has_weights:
        raise ModelError(f"{path} has no weights (model*.safetensors or pytorch_model*.bin); download them first")
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")):
        raise ModelError(f"{path} has no tokenizer files (tokenizer.json or tokenizer.model); the converter needs them")
    return HFFolder(path, config, arch, config.get("torch_dtype") or config.get("dtype"))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def missing_requirements() -> list[str]:
    return [req for req in CONVERT_REQUIREMENTS if not _installed(_IMPORT_NAMES[re.split(r"[=<>~!]", req)[0]])]


def ensure_requirements(say: Callable[[str], None]) -> None:
    """Install the converter's packages into this environment the first time they are needed."""
    missing = missing_requirements()
    if not missing:
        return
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *CONVERT_REQUIREMENTS]
    names = ", ".join(re.split(r"[=<>~!]", r)[0] for r in missing)
    say(f"quantize: converting a Hugging Face folder needs {names} "
        f"(torch alone is hundreds of MB); installing them into {sys.prefix} once: {' '.join(cmd[2:])}")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupError(f"installing the converter's packages failed ({e}); run `{' '.join(cmd)}` by hand") from None
    if proc.returncode != 0 or missing_requirements():
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
        raise SetupError(f"installing the converter's packages failed: {last}; run `{' '.join(cmd)}` by hand "
                         "(or `pip install 'heavylift[convert]'`)")
    importlib.invalidate_caches()


_WRITING = re.compile(r"Writing:\s+(\d+)%")


def convert(folder: HFFolder, out: Path, log_path: Path, say: Callable[[str], None]) -> None:
    """Write the 16-bit GGUF of `folder` to `out` (the caller renames it into place)."""
    ensure_requirements(say)
    script = source_dir() / "convert_hf_to_gguf.py"
    cmd = convert_command(sys.executable, script, folder.path, out, folder.outtype)
    say(f"quantize: converting {folder.path} ({folder.architecture}) to {folder.outtype.upper()}: {' '.join(cmd)}")
    progress = Progress(say, "quantize: convert", "")

    def on_line(line: str) -> None:
        m = _WRITING.search(line)
        if m:
            progress.update(int(m[1]) / 100)

    run_tool(cmd, log_path, on_line, what="convert_hf_to_gguf.py")
    say(f"quantize: converted in {progress.elapsed_s:.1f} s")
