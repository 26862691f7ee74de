"""Turn a dense llama-architecture GGUF into a Mixtral-style MoE GGUF ("upcycling").

Each layer's dense FFN (ffn_gate / ffn_up / ffn_down) becomes N identical experts: the quantized
blocks are copied as raw bytes and stacked along a third (expert) dimension into
ffn_gate_exps / ffn_up_exps / ffn_down_exps, the layout llama.cpp's `llama` architecture loads for
Mixtral (src/models/llama.cpp: `build_moe_ffn` when `n_expert > 0`). A router ffn_gate_inp
(F32, n_embd x n_expert) of zeros gives a uniform softmax; with identical experts any top-k
mixture, renormalised, equals the dense FFN, so the MoE writes the same text as the dense model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from heavylift.errors import ModelError, UsageError

_FFN = ("ffn_gate", "ffn_up", "ffn_down")


def upcycle_cache_path(dense: Path, n_expert: int, n_expert_used: int, cache_dir: Path) -> Path:
    """Where the MoE built from `dense` lives in the shared cache: keyed by the input's content hash."""
    h = hashlib.sha256()
    with open(dense, "rb") as f:
        h.update(f.read(1 << 20))  # header + first tensors, plus size and mtime-free identity below
    h.update(str(dense.stat().st_size).encode())
    return cache_dir / "moe-upcycle" / f"{dense.stem}-{n_expert}x-top{n_expert_used}-{h.hexdigest()[:12]}.gguf"


def upcycle(dense: Path, out: Path, n_expert: int = 4, n_expert_used: int = 2,
            progress: Callable[[str], None] | None = None) -> Path:
    """Write the MoE GGUF to `out` (atomically) and return it."""
    try:
        import numpy as np
        from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
    except ImportError:
        raise ModelError("the MoE builder needs the `gguf` and `numpy` packages: pip install gguf numpy") from None
    if n_expert < 2 or not 1 <= n_expert_used <= n_expert:
        raise UsageError(f"need at least 2 experts and 1 <= experts used <= experts (got {n_expert}, top-{n_expert_used})")
    try:
        reader = GGUFReader(str(dense))
    except Exception as e:  # the gguf package raises bare ValueError/struct errors on junk input
        raise ModelError(f"{dense}: not a readable GGUF ({e}); give a dense .gguf model") from None
    arch_field = reader.fields.get("general.architecture")
    arch = arch_field.contents() if arch_field else None
    if arch != "llama":
        raise ModelError(f"{dense}: architecture {arch!r}; the MoE builder takes a dense llama-architecture GGUF")
    if f"{arch}.expert_count" in reader.fields and reader.fields[f"{arch}.expert_count"].contents():
        raise ModelError(f"{dense}: already a mixture-of-experts model")
    n_embd = int(reader.fields[f"{arch}.embedding_length"].contents())

    tmp = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(tmp), arch=arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.alignment"):
            continue
        vtype = GGUFValueType(field.types[0])
        sub = GGUFValueType(field.types[-1]) if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)
    writer.add_expert_count(n_expert)
    writer.add_expert_used_count(n_expert_used)
    writer.add_expert_feed_forward_length(int(reader.fields[f"{arch}.feed_forward_length"].contents()))

    for i, t in enumerate(reader.tensors):
        name, qtype = t.name, GGMLQuantizationType(t.tensor_type)
        parts = name.split(".")
        if len(parts) == 4 and parts[0] == "blk" and parts[2] in _FFN and parts[3] == "weight":
            data = np.ascontiguousarray(np.stack([t.data] * n_expert))  # (expert, rows, row bytes)
            writer.add_tensor(f"blk.{parts[1]}.{parts[2]}_exps.weight", data, raw_dtype=qtype)
            if parts[2] == "ffn_gate":
                writer.add_tensor(f"blk.{parts[1]}.ffn_gate_inp.weight", np.zeros((n_expert, n_embd), dtype=np.float32))
        else:
            writer.add_tensor(name, t.data, raw_dtype=qtype if qtype not in (GGMLQuantizationType.F32,) else None)
        if progress and i % 50 == 0:
            progress(f"upcycle: {i}/{len(reader.tensors)} tensors")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out
