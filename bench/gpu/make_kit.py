"""Prepare the GPU check's models here, small enough to travel: each GGUF's header bytes and a
manifest of its tensors' data (offset, bytes, ggml type). bench/gpu/fill_gguf.py writes the data
on the GPU machine as random but valid blocks (every fp16 scale finite and small), so each file
there has exactly the tensor names, shapes and types of the model it stands for.

- `smollm2-clone`: the default model's own header (tokenizer included), byte for byte.
- `moe4x-clone`: the 4-expert fixture's (`heavylift models upcycle`) own header.
- `llama-3.1-8b-Q4_K_M`, `qwen3-30b-a3b-Q4_K_M`: the catalog's config and heavylift's own
  llama-quantize rules (plan/quant_rules.py), a made-up SentencePiece vocabulary.

Speed does not depend on the weights' values (the kernels do the same work on any bytes); MoE
routing with random router weights spreads tokens over the experts about evenly, which real
routers do not quite do. Besides each header, a sparse full-size copy is left in FULL_DIR so that
`heavylift plan` can read the very file that was timed.

It also writes OUT_DIR/llama-src.tar.xz (the vendored llama.cpp source heavylift builds, without
its models, docs and tests: 8 MB) and downloads heavylift's dependencies for the GPU machine's
Python 3.12 into .whl/ (the versions installed here). Carry both folders (bench/gpu/README.md).

    python bench/gpu/make_kit.py [OUT_DIR (default .gpukit)] [FULL_DIR (default /tmp/gpukit-full)]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

FULL = Path("/tmp/gpukit-full")  # the sparse full-size copies (not carried)
CATALOG_MODELS = [("llama-3.1-8b", "Q4_K_M", 15), ("qwen3-30b-a3b", "Q4_K_M", 15)]  # 15 = LLAMA_FTYPE_MOSTLY_Q4_K_M


def manifest(path: Path) -> dict:
    from gguf import GGUFReader

    r = GGUFReader(str(path))
    tensors = [{"name": t.name, "offset": int(t.data_offset), "n_bytes": int(t.n_bytes),
                "type": t.tensor_type.name} for t in r.tensors]
    return {"data_offset": int(r.data_offset), "size": path.stat().st_size, "tensors": tensors}


def copy_header(src: Path, out: Path, stem: str) -> dict:
    m = manifest(src)
    with open(src, "rb") as f:
        (out / f"{stem}.head").write_bytes(f.read(m["data_offset"]))
    full = FULL / f"{stem}.gguf"
    with open(full, "wb") as f:  # the header, then a hole of the data's size
        f.write((out / f"{stem}.head").read_bytes())
        f.truncate(m["size"])
    return m


def write_catalog_skeleton(key: str, ftype: str, ftype_id: int, out: Path, stem: str) -> dict:
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quant_shape_to_byte_shape

    from heavylift.models.catalog import lookup
    from heavylift.models.tiny_gguf import add_arch_metadata, add_spm_vocab
    from heavylift.plan.quant_rules import data_bytes, quantized_tensors
    from heavylift.plan.tensor_table import tensor_table

    a = lookup(key)
    full = FULL / f"{stem}.gguf"
    w = GGUFWriter(str(full), arch=a.arch)
    w.add_name(f"{key} {ftype} (random weights, heavylift GPU check)")
    w.add_file_type(ftype_id)
    add_arch_metadata(w, a)
    add_spm_vocab(w, a.n_vocab)
    tensors = quantized_tensors(a, tensor_table(a), ftype)
    for t in tensors:
        qtype = GGMLQuantizationType[t.ggml_type.name]
        shape = tuple(reversed(t.shape))
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.BF16):
            w.add_tensor_info(t.name, shape, np.dtype(np.float32 if qtype.name == "F32" else np.float16),
                              t.n_bytes, raw_dtype=qtype)
        else:  # the writer takes a quantized tensor's shape in bytes
            w.add_tensor_info(t.name, quant_shape_to_byte_shape(shape, qtype), np.dtype(np.uint8), t.n_bytes,
                              raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    m = manifest_from_writer(full, data_bytes(tensors))
    with open(full, "rb") as f:
        (out / f"{stem}.head").write_bytes(f.read(m["data_offset"]))
    return m


def manifest_from_writer(full: Path, data_bytes: int) -> dict:
    """The writer wrote header, metadata and tensor infos: pad to the data section (GGUF's 32-byte
    alignment), leave a hole of the data's size, and read the offsets back with the reader."""
    data_offset = -(-full.stat().st_size // 32) * 32
    with open(full, "r+b") as f:
        f.truncate(data_offset + data_bytes)
    return manifest(full)


# heavylift's dependencies the GPU machine's image lacks (its package list: /work/.library/device/KINDS.md)
WHEELS = ["pypdf", "python-docx", "beautifulsoup4", "soupsieve", "jsonschema", "jsonschema-specifications",
          "referencing", "rpds-py", "gguf", "starlette", "uvicorn", "httptools", "python-multipart"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64"]
SOURCE_SKIP = {"models", "docs", "tests", "benches", "media", "gguf-py", "examples", ".git", "node_modules"}


def engine_tarball(out: Path) -> Path:
    """The vendored llama.cpp source `heavylift setup` builds, without what the build does not read."""
    from heavylift.setup.engine_build import LLAMA_CPP_COMMIT, _extract_source

    source = _extract_source(print)
    target = out / "llama-src.tar.xz"

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        return None if (len(parts) > 1 and parts[1] in SOURCE_SKIP) or "node_modules" in parts else info

    with tarfile.open(target, "w:xz") as tar:
        tar.add(source, arcname=f"llama.cpp-{LLAMA_CPP_COMMIT}", filter=keep)
    return target


def download_wheels(dest: Path) -> None:
    """pip download of the versions installed here, for CPython 3.12 on manylinux x86-64."""
    pins = [f"{name}=={metadata.version(name)}" for name in WHEELS]
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(dest), *pins],
                   check=True)


def main() -> int:
    global FULL
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / ".gpukit")
    FULL = Path(sys.argv[2]) if len(sys.argv) > 2 else FULL
    out.mkdir(parents=True, exist_ok=True)
    FULL.mkdir(parents=True, exist_ok=True)
    from heavylift import paths
    from heavylift.models.default_model import install_default_model
    from heavylift.models.moe_upcycle import upcycle, upcycle_cache_path

    manifests = {}
    dense = install_default_model()[0]
    fixture = upcycle_cache_path(dense, 4, 2, paths.cache_dir())  # the tests' 4-expert fixture
    if not fixture.exists():
        upcycle(dense, fixture, 4, 2)
    manifests["smollm2-clone"] = copy_header(dense, out, "smollm2-clone")
    manifests["moe4x-clone"] = copy_header(fixture, out, "moe4x-clone")
    for key, ftype, fid in CATALOG_MODELS:
        stem = f"{key}-{ftype}"
        manifests[stem] = write_catalog_skeleton(key, ftype, fid, out, stem)
    for stem, m in manifests.items():
        (out / f"{stem}.json").write_text(json.dumps(m))
        types = sorted({t["type"] for t in m["tensors"]})
        print(f"{stem}: {len(m['tensors'])} tensors, {m['size'] / 2**30:.2f} GiB, header "
              f"{m['data_offset'] / 2**20:.1f} MiB, types {' '.join(types)}")
    print(f"engine source: {engine_tarball(out)}")
    download_wheels(ROOT / ".whl")
    print(f"wheels: {ROOT / '.whl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
